//! Errors of the sealing layer. Messages name the backend and the cause, never key material.

/// Why an HSM operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The blob did not authenticate under this backend's key (wrong key, tampering, wrong
    /// context). The text is the one operators search for.
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// The blob is not a sealed blob at all, or not one of a format this version knows.
    #[error("malformed sealed blob: {0}")]
    MalformedBlob(String),
    /// The backend's configuration is wrong (bad key encoding, missing module, ...).
    #[error("invalid HSM configuration: {0}")]
    Config(String),
    /// The HSM could not be reached; worth retrying.
    #[error("HSM unavailable: {0}")]
    Unavailable(String),
    /// The HSM refused our credentials; never retried, since real HSMs lock users out.
    #[error("HSM authentication failed: {0}")]
    Authentication(String),
}

impl HsmError {
    /// The same error, its message told after `context` (which variable or section): the
    /// kind's own prefix is said once, not once per layer.
    pub fn within(self, context: impl std::fmt::Display) -> Self {
        match self {
            HsmError::MalformedBlob(m) => HsmError::MalformedBlob(format!("{context}: {m}")),
            HsmError::Config(m) => HsmError::Config(format!("{context}: {m}")),
            HsmError::Unavailable(m) => HsmError::Unavailable(format!("{context}: {m}")),
            HsmError::Authentication(m) => HsmError::Authentication(format!("{context}: {m}")),
            HsmError::InvalidCiphertext => HsmError::InvalidCiphertext,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HsmError;

    #[test]
    fn context_comes_after_the_kind_once() {
        let e = HsmError::Config("not an hsm:aes256 key".into()).within("MINIO_KMS_HSM_KEY");
        assert_eq!(
            e.to_string(),
            "invalid HSM configuration: MINIO_KMS_HSM_KEY: not an hsm:aes256 key"
        );
        let e = HsmError::Unavailable("timed out".into()).within("pkcs11");
        assert_eq!(e.to_string(), "HSM unavailable: pkcs11: timed out");
    }
}
