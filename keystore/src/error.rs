//! Errors of the keystore. The `Display` texts of the not-found / exists / ciphertext variants
//! are the exact strings of API.md §5: clients match on them.

/// A request the keystore refused, or a failure to persist it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// 409.
    #[error("enclave already exists")]
    EnclaveExists,
    /// 404.
    #[error("enclave does not exist")]
    EnclaveNotFound,
    /// 409.
    #[error("key already exists")]
    KeyExists,
    /// 404.
    #[error("key does not exist")]
    KeyNotFound,
    /// 404.
    #[error("policy does not exist")]
    PolicyNotFound,
    /// 404.
    #[error("identity does not exist")]
    IdentityNotFound,
    /// 400: wrong key, wrong associated data, tampering or garbage.
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// 400: a request argument breaks a rule; the text says which.
    #[error("{0}")]
    Invalid(String),
    /// 409: the request contradicts the state (a sealed copy that exists, the last one).
    #[error("{0}")]
    Conflict(String),
    /// 404: the HSM of this id holds no sealed copy of the root key.
    #[error("HSM {0} has no sealed root encryption key")]
    NoSealedKey(String),
    /// 503: an HSM could not do what was asked. Nothing was changed.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the database could not be written or read. Nothing was changed.
    #[error("storage error: {0}")]
    Storage(String),
}

/// Why a keystore could not be opened or created.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No configured HSM could unseal the root key (text as in the seeds).
    #[error(transparent)]
    Unseal(#[from] minkms_hsm::UnsealError),
    /// An HSM failed while sealing a new root key or rewrapping it.
    #[error("failed to seal root encryption key with HSM {backend}: {source}")]
    Seal {
        /// The backend that failed.
        backend: String,
        /// Why.
        source: minkms_hsm::HsmError,
    },
    /// The database is damaged, of an unknown format, or could not be read or written.
    #[error("{0}")]
    Storage(String),
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self { Error::Storage(e.to_string()) }
        }
        impl From<$t> for OpenError {
            fn from(e: $t) -> Self { OpenError::Storage(e.to_string()) }
        }
    )*};
}
storage_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error
);
