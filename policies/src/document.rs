//! The policy document: its JSON forms, validation and evaluation.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Pattern;

/// What a policy decides for one command on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An allow rule matched and no deny rule did.
    Allow,
    /// A deny rule matched, or no allow rule did (deny by default).
    Deny,
}

/// Why a policy document was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// The JSON did not parse as a policy document.
    #[error("invalid policy: {0}")]
    Malformed(String),
    /// A command in `allow` or `deny` is not one the caller knows.
    #[error("invalid policy: unknown command '{0}'")]
    UnknownCommand(String),
}

/// The set of name patterns a policy lists for one command.
///
/// Accepts the three spellings MinIO's tools write: `"pat"`, `["pat", ...]` and
/// `{"pat": {}, ...}` (the object form leaves room for per-rule conditions that do not exist
/// yet). Empty patterns are dropped. Always serialized as an array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet(BTreeSet<Pattern>);

impl RuleSet {
    /// Builds a rule set from patterns, dropping empty ones.
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(patterns.into_iter().filter_map(Pattern::new).collect())
    }

    /// The patterns, in sorted order.
    pub fn patterns(&self) -> impl Iterator<Item = &Pattern> {
        self.0.iter()
    }

    fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|p| p.matches(name))
    }
}

impl Serialize for RuleSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Pattern::as_str))
    }
}

impl<'de> Deserialize<'de> for RuleSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Spelling {
            One(String),
            Many(Vec<String>),
            Object(BTreeMap<String, serde_json::Value>),
        }
        Ok(match Spelling::deserialize(d)? {
            Spelling::One(p) => RuleSet::new([p]),
            Spelling::Many(ps) => RuleSet::new(ps),
            Spelling::Object(map) => RuleSet::new(map.into_keys()),
        })
    }
}

/// A policy: per command (or command pattern such as `KEY:*`), the names it allows and denies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Command text → allowed name patterns. After [`Policy::normalized`], keys are exact
    /// command texts.
    #[serde(default)]
    pub allow: BTreeMap<String, RuleSet>,
    /// Command text → denied name patterns. A match here overrides any allow.
    #[serde(default)]
    pub deny: BTreeMap<String, RuleSet>,
}

impl Policy {
    /// Parses the JSON form of a policy document and checks every command against
    /// `is_command` (command keys are upper-cased first: command texts are case-insensitive).
    /// A key ending in `*` (`KEY:*`) is a command pattern: it is expanded into every command of
    /// `commands` it matches and refused if it matches none, so a stored policy only holds
    /// command texts (MinIO's client rejects anything else in a policy it reads back).
    pub fn from_json(json: &[u8], commands: &[&str]) -> Result<Self, PolicyError> {
        let policy: Policy =
            serde_json::from_slice(json).map_err(|e| PolicyError::Malformed(e.to_string()))?;
        policy.normalized(commands)
    }

    /// Reads back a document this crate normalized before (as the keystore stores them).
    pub fn from_normalized_json(json: &[u8]) -> Result<Self, PolicyError> {
        serde_json::from_slice(json).map_err(|e| PolicyError::Malformed(e.to_string()))
    }

    /// Upper-cases command keys, expands command patterns against `commands`, merges
    /// duplicates, and refuses commands that are not in `commands`.
    pub fn normalized(self, commands: &[&str]) -> Result<Self, PolicyError> {
        let norm = |map: BTreeMap<String, RuleSet>| {
            let mut out: BTreeMap<String, RuleSet> = BTreeMap::new();
            for (cmd, rules) in map {
                let cmd = cmd.trim().to_ascii_uppercase();
                let pattern = Pattern::new(cmd.clone())
                    .ok_or_else(|| PolicyError::UnknownCommand(cmd.clone()))?;
                let matched: Vec<&str> = commands
                    .iter()
                    .copied()
                    .filter(|c| pattern.matches(c))
                    .collect();
                if matched.is_empty() {
                    return Err(PolicyError::UnknownCommand(cmd));
                }
                for c in matched {
                    out.entry(c.to_string())
                        .or_default()
                        .0
                        .extend(rules.0.iter().cloned());
                }
            }
            Ok(out)
        };
        Ok(Policy {
            allow: norm(self.allow)?,
            deny: norm(self.deny)?,
        })
    }

    /// Decides `command` (its upper-case text) on the resource `name`.
    pub fn evaluate(&self, command: &str, name: &str) -> Decision {
        if Self::any_match(&self.deny, command, name) {
            return Decision::Deny;
        }
        if Self::any_match(&self.allow, command, name) {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    /// Whether the policy allows `command` on at least one name. List commands use this to
    /// decide whether to answer at all, then filter each listed name with [`Policy::evaluate`].
    pub fn allows_some(&self, command: &str) -> bool {
        self.allow
            .iter()
            .any(|(cmd, rules)| Self::command_matches(cmd, command) && !rules.0.is_empty())
    }

    fn command_matches(key: &str, command: &str) -> bool {
        key == command
    }

    fn any_match(map: &BTreeMap<String, RuleSet>, command: &str, name: &str) -> bool {
        map.iter()
            .any(|(cmd, rules)| Self::command_matches(cmd, command) && rules.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &[
        "KEY:GENERATE",
        "KEY:DECRYPT",
        "KEY:CREATE",
        "KEY:LIST",
        "POLICY:GET",
    ];

    #[test]
    fn all_three_rule_spellings_parse_to_the_same_set() {
        let a = br#"{"allow": {"KEY:GENERATE": "my-*"}}"#;
        let b = br#"{"allow": {"KEY:GENERATE": ["my-*", ""]}}"#;
        let c = br#"{"allow": {"key:generate": {"my-*": {}}}}"#;
        let pa = Policy::from_json(a, KNOWN).unwrap();
        assert_eq!(pa, Policy::from_json(b, KNOWN).unwrap());
        assert_eq!(pa, Policy::from_json(c, KNOWN).unwrap());
        assert_eq!(
            pa.allow["KEY:GENERATE"]
                .patterns()
                .map(Pattern::as_str)
                .collect::<Vec<_>>(),
            ["my-*"]
        );
    }

    #[test]
    fn deny_wins_and_default_is_deny() {
        let p = Policy::from_json(
            br#"{"allow": {"KEY:GENERATE": ["my-*"], "KEY:DECRYPT": "*"},
                 "deny": {"KEY:DECRYPT": ["my-secret"]}}"#,
            KNOWN,
        )
        .unwrap();
        assert_eq!(p.evaluate("KEY:GENERATE", "my-key"), Decision::Allow);
        assert_eq!(p.evaluate("KEY:GENERATE", "other"), Decision::Deny);
        assert_eq!(p.evaluate("KEY:DECRYPT", "anything"), Decision::Allow);
        assert_eq!(p.evaluate("KEY:DECRYPT", "my-secret"), Decision::Deny);
        assert_eq!(p.evaluate("KEY:CREATE", "my-key"), Decision::Deny);
        assert!(p.allows_some("KEY:DECRYPT"));
        assert!(!p.allows_some("KEY:LIST"));
    }

    #[test]
    fn command_patterns_are_expanded_into_command_texts() {
        let p = Policy::from_json(br#"{"allow": {"KEY:*": "k"}}"#, KNOWN).unwrap();
        assert_eq!(
            p.allow.keys().collect::<Vec<_>>(),
            ["KEY:CREATE", "KEY:DECRYPT", "KEY:GENERATE", "KEY:LIST"]
        );
        assert_eq!(
            Policy::from_json(br#"{"allow": {"NOPE:*": "k"}}"#, KNOWN),
            Err(PolicyError::UnknownCommand("NOPE:*".into()))
        );
    }

    #[test]
    fn command_patterns_apply_to_every_matching_command() {
        let p = Policy::from_json(
            br#"{"allow": {"KEY:*": ["k*"]}, "deny": {"KEY:CREATE": "*"}}"#,
            KNOWN,
        )
        .unwrap();
        assert_eq!(p.evaluate("KEY:DECRYPT", "k1"), Decision::Allow);
        assert_eq!(p.evaluate("KEY:CREATE", "k1"), Decision::Deny);
        assert_eq!(p.evaluate("POLICY:GET", "k1"), Decision::Deny);
    }

    #[test]
    fn unknown_commands_and_garbage_are_refused() {
        assert_eq!(
            Policy::from_json(br#"{"allow": {"KEY:EXPLODE": "*"}}"#, KNOWN),
            Err(PolicyError::UnknownCommand("KEY:EXPLODE".into()))
        );
        assert!(matches!(
            Policy::from_json(b"{not json", KNOWN),
            Err(PolicyError::Malformed(_))
        ));
        assert!(matches!(
            Policy::from_json(br#"{"allow": {"KEY:GENERATE": 5}}"#, KNOWN),
            Err(PolicyError::Malformed(_))
        ));
        assert!(matches!(
            Policy::from_json(br#"{"permit": {}}"#, KNOWN),
            Err(PolicyError::Malformed(_))
        ));
    }

    #[test]
    fn round_trips_through_json() {
        let p = Policy::from_json(br#"{"allow": {"KEY:GENERATE": ["b", "a*"]}}"#, KNOWN).unwrap();
        let json = serde_json::to_vec(&p).unwrap();
        assert_eq!(Policy::from_json(&json, KNOWN).unwrap(), p);
        // The keystore reads stored documents back without the command list.
        assert_eq!(Policy::from_normalized_json(&json).unwrap(), p);
        assert!(matches!(
            Policy::from_normalized_json(b"{\"allow\": 1}"),
            Err(PolicyError::Malformed(_))
        ));
    }
}
