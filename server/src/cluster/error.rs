//! Why the cluster runtime refused or failed a request: its own error, free of HTTP. The API
//! layer maps it to a status in its one mapping (`api/error.rs`).

use minkms_keystore as ks;

/// A refusal or failure of the cluster runtime. The text is what the client is told.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClusterError {
    /// The cluster cannot take it now (no leader, a member down, replication stopped...).
    #[error("{0}")]
    Unavailable(String),
    /// It contradicts the cluster's state (a node already a member, a live node force-removed).
    #[error("{0}")]
    Conflict(String),
    /// It names a node that is not a member.
    #[error("{0}")]
    NotFound(String),
    /// It is malformed (an address that is not `host:port`).
    #[error("{0}")]
    Invalid(String),
    /// The data volume has no room for writes, or is read-only.
    #[error("{0}")]
    InsufficientStorage(String),
    /// The leader's answer to a forwarded request, relayed as it came.
    #[error("{message}")]
    Relayed {
        /// The leader's status code.
        status: u16,
        /// The leader's message.
        message: String,
    },
    /// The keystore refused or failed.
    #[error(transparent)]
    Store(#[from] ks::Error),
}

pub(crate) fn unavailable(msg: &str) -> ClusterError {
    ClusterError::Unavailable(msg.to_string())
}

pub(crate) fn conflict(msg: impl Into<String>) -> ClusterError {
    ClusterError::Conflict(msg.into())
}

pub(crate) fn not_found(msg: impl Into<String>) -> ClusterError {
    ClusterError::NotFound(msg.into())
}
