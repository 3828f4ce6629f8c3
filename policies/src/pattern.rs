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

    /// Hand-written answers: (pattern, name, matches).
    const TABLE: &[(&str, &str, bool)] = &[
        ("my-key", "my-key", true),
        ("my-key", "my-key2", false),
        ("my-key", "my-ke", false),
        ("my-key", "MY-KEY", false),
        ("my-key", "", false),
        ("my-*", "my-key", true),
        ("my-*", "my-", true),
        ("my-*", "my", false),
        ("my-*", "your-key", false),
        ("my-*", "xmy-key", false),
        ("my-*", "My-key", false),
        ("*", "anything", true),
        ("*", "", true),
        ("a*", "a", true),
        ("a*", "", false),
        ("a*", "ba", false),
        ("*a", "*a", true), // only a trailing star is special
        ("*a", "ba", false),
        ("a*b", "a*b", true),
        ("a*b", "axb", false),
        ("a**", "a*", true),
        ("a**", "ab", false),
        ("é*", "été", true),
        ("é*", "e", false),
    ];

    #[test]
    fn the_table() {
        for &(pattern, name, want) in TABLE {
            let p = Pattern::new(pattern).unwrap();
            assert_eq!(p.matches(name), want, "{pattern:?} against {name:?}");
        }
        assert!(Pattern::new("").is_none());
    }

    #[test]
    fn shown_as_written() {
        let p = Pattern::new("my-*").unwrap();
        assert_eq!(
            (p.to_string(), format!("{p:?}")),
            ("my-*".into(), "\"my-*\"".into())
        );
        assert_eq!(p.as_str(), "my-*");
    }

    proptest! {
        #[test]
        fn a_star_matches_every_name_built_on_its_prefix(prefix in "[a-z-]{0,8}", rest in "[a-z-]{0,8}") {
            let p = Pattern::new(format!("{prefix}*")).unwrap();
            let name = format!("{prefix}{rest}");
            prop_assert!(p.matches(&name));
        }

        #[test]
        fn a_star_refuses_a_name_that_differs_within_its_prefix(
            prefix in "[a-z]{1,8}", at in any::<prop::sample::Index>(), rest in "[a-z]{0,4}",
        ) {
            // Change one character of the prefix (to a character outside the prefix alphabet)
            // or cut the name short of the prefix: neither may match.
            let at = at.index(prefix.len());
            let changed = format!("{}-{}{rest}", &prefix[..at], &prefix[at + 1..]);
            let p = Pattern::new(format!("{prefix}*")).unwrap();
            prop_assert!(!p.matches(&changed));
            prop_assert!(!p.matches(&prefix[..at]));
        }

        #[test]
        fn a_name_without_star_matches_only_itself(a in "[a-z-]{1,8}", b in "[a-z-]{1,8}") {
            let p = Pattern::new(a.clone()).unwrap();
            prop_assert!(p.matches(&a));
            prop_assert_eq!(p.matches(&b), a == b);
        }
    }
}
