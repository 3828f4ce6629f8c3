//! Name patterns: an exact name, a prefix ending in `*`, or `*` alone for everything.

use std::fmt;

/// A pattern as written in a policy. Only a trailing `*` is special: MinIO KMS and KES both
/// match by exact name or by prefix, never by glob in the middle of a name, which keeps policy
/// evaluation a string comparison and keeps surprises out of access control.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pattern(String);

impl Pattern {
    /// Wraps a pattern. Empty patterns are not patterns; callers drop them (see [`crate::RuleSet`]).
    pub fn new(pattern: impl Into<String>) -> Option<Self> {
        let pattern = pattern.into();
        (!pattern.is_empty()).then_some(Self(pattern))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` is matched: `*` matches everything, `abc*` every name starting with `abc`,
    /// anything else only itself.
    pub fn matches(&self, name: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => self.0 == name,
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;
    use proptest::prelude::*;

    #[test]
    fn exact_prefix_and_star() {
        let p = |s: &str| Pattern::new(s).unwrap();
        assert!(p("my-key").matches("my-key"));
        assert!(!p("my-key").matches("my-key2"));
        assert!(p("my-*").matches("my-key"));
        assert!(p("my-*").matches("my-"));
        assert!(!p("my-*").matches("your-key"));
        assert!(p("*").matches("anything"));
        assert!(p("*").matches(""));
        assert!(Pattern::new("").is_none());
    }

    proptest! {
        #[test]
        fn a_star_matches_exactly_the_names_with_its_prefix(prefix in "[a-z-]{0,8}", name in "[a-z-]{0,12}") {
            let p = Pattern::new(format!("{prefix}*")).unwrap();
            prop_assert_eq!(p.matches(&name), name.starts_with(&prefix));
        }

        #[test]
        fn a_name_without_star_matches_only_itself(a in "[a-z-]{1,8}", b in "[a-z-]{1,8}") {
            let p = Pattern::new(a.clone()).unwrap();
            prop_assert_eq!(p.matches(&b), a == b);
        }
    }
}
