//! Errors of the client.

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status; `message` is its text (API.md §5).
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// No server could be reached (connection, TLS or I/O failure).
    #[error("{0}")]
    Transport(String),
    /// A server was reached, but its certificate could not be verified: a configuration
    /// matter (which CA to trust), not a failure that retrying fixes.
    #[error("{0}")]
    Certificate(String),
    /// The server's answer did not decode.
    #[error("invalid response: {0}")]
    Decode(String),
    /// The client's own configuration is wrong.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
