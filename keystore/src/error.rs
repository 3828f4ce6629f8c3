//! Errors of the keystore. The `Display` texts of the not-found / exists / ciphertext variants
//! are the exact strings of the API's error answers: clients match on them.

use std::sync::Arc;

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
    Storage(StorageFailure),
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
    Storage(StorageFailure),
}

/// Why the database could not be read or written: the text the caller is told, and the error
/// of the layer below (redb, the file system, the encoding) when there is one, kept as itself
/// for logs and for callers that need its kind.
///
/// The text already contains the cause's, so `source()` is empty and a chain printer (the
/// binary prints `{:#}`) does not say it twice; [`StorageFailure::cause`] reaches it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StorageFailure {
    message: String,
    cause: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StorageFailure {
    /// A failure found by the keystore itself (a damaged record, a missing field).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            cause: None,
        }
    }

    /// A failure of the layer below, told in its own words.
    pub fn caused_by(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message: cause.to_string(),
            cause: Some(Arc::new(cause)),
        }
    }

    /// A failure of the layer below, told after what was being done.
    pub fn context(
        context: impl std::fmt::Display,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: format!("{context}: {cause}"),
            cause: Some(Arc::new(cause)),
        }
    }

    /// The same failure, told after `context` (where it happened).
    pub fn within(self, context: impl std::fmt::Display) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
            cause: self.cause,
        }
    }

    /// The error of the layer below, when there is one.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }
}

/// Two failures are the same when they say the same: the causes below carry no equality.
impl PartialEq for StorageFailure {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for StorageFailure {}

impl From<StorageFailure> for Error {
    fn from(f: StorageFailure) -> Self {
        Error::Storage(f)
    }
}

impl From<StorageFailure> for OpenError {
    fn from(f: StorageFailure) -> Self {
        OpenError::Storage(f)
    }
}

impl From<OpenError> for StorageFailure {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Storage(f) => f,
            other => StorageFailure::caused_by(other),
        }
    }
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        StorageFailure::caused_by(e).into()
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self { StorageFailure::caused_by(e).into() }
        }
        impl From<$t> for OpenError {
            fn from(e: $t) -> Self { StorageFailure::caused_by(e).into() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_failure_keeps_the_error_below_it_and_says_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let e: Error = redb::Database::create(dir.path()).unwrap_err().into();
        let Error::Storage(failure) = &e else {
            panic!("{e:?}")
        };
        let cause = failure.cause().unwrap();
        assert!(
            cause.downcast_ref::<redb::DatabaseError>().is_some(),
            "{cause:?}"
        );
        assert_eq!(e.to_string(), format!("storage error: {cause}"));
        assert!(std::error::Error::source(failure).is_none());
        let within = failure.clone().within("cannot open the database in /x");
        assert_eq!(
            within.to_string(),
            format!("cannot open the database in /x: {cause}")
        );
        assert!(within.cause().is_some());
        assert_eq!(StorageFailure::new("a"), StorageFailure::new("a"));
        assert_ne!(StorageFailure::new("a"), StorageFailure::new("b"));
    }
}
