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
