//! Name rules for enclaves, keys and policies (KES's rule; API.md "Names").

/// What a name names, for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// An enclave.
    Enclave,
    /// A master key.
    Key,
    /// A policy.
    Policy,
}

impl NameKind {
    fn as_str(self) -> &'static str {
        match self {
            NameKind::Enclave => "enclave",
            NameKind::Key => "key",
            NameKind::Policy => "policy",
        }
    }
}

/// Longest name accepted.
pub const MAX_NAME_LEN: usize = 80;

/// Checks `[A-Za-z0-9_-]{1,80}`, not starting or ending with `-`, and not `_` alone. The error
/// states the rule, so a user can fix the name without reading docs.
pub fn validate_name(kind: NameKind, name: &str) -> Result<(), crate::Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name != "_";
    if ok {
        Ok(())
    } else {
        Err(crate::Error::Invalid(format!(
            "invalid {} name: must be 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9_-], not starting or ending with '-', and not '_' alone",
            kind.as_str()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kes_names_and_refuses_the_rest() {
        for good in ["a", "my-key", "Key_1", "_x", &"k".repeat(80)] {
            assert!(validate_name(NameKind::Key, good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "_",
            "a/b",
            "a b",
            "ä",
            "a.b",
            "a*",
            &"k".repeat(81),
        ] {
            let err = validate_name(NameKind::Key, bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid key name"), "{bad}: {err}");
        }
    }
}

/// Checks the `h1:` identity form: `h1:` and 43 base64url characters (a SHA-256).
pub fn validate_identity(identity: &str) -> Result<(), crate::Error> {
    let ok = identity.len() == 46
        && identity.starts_with("h1:")
        && identity[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(crate::Error::Invalid(
            "invalid identity: must be 'h1:' followed by 43 base64url characters".into(),
        ))
    }
}

#[cfg(test)]
mod identity_tests {
    use super::validate_identity;

    #[test]
    fn only_h1_identities_pass() {
        assert!(validate_identity("h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0").is_ok());
        for bad in [
            "",
            "h1:",
            "h2:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0",
            "h1:l4AoVm6xKAVGsfo8J/ttCOC6Odgq3GJLHg5NtAdOAr0",
            "h1:short",
        ] {
            assert!(validate_identity(bad).is_err(), "{bad}");
        }
    }
}
