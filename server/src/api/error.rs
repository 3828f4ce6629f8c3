//! The one mapping from failures to HTTP statuses and messages (API.md §5).

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use minkms_client::wire::ErrResponse;
use minkms_keystore::Error as StoreError;

use crate::cluster::ClusterError;
use prost::Message;

/// An error answer: a status and the exact message clients match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "access denied: insufficient permissions",
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The error as a response: protobuf `ErrResponse` for clients that speak octet-stream,
    /// JSON `{"message"}` for everyone else.
    pub(crate) fn into_response(self, protobuf: bool) -> Response<Full<Bytes>> {
        let (content_type, body) = if protobuf {
            (
                "application/octet-stream",
                ErrResponse {
                    message: self.message,
                }
                .encode_to_vec(),
            )
        } else {
            (
                "application/json",
                serde_json::json!({ "message": self.message })
                    .to_string()
                    .into_bytes(),
            )
        };
        crate::api::response::respond(self.status, content_type, Bytes::from(body))
    }
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> Self {
        let status = match e {
            ClusterError::Store(store) => return store.into(),
            ClusterError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ClusterError::Conflict(_) => StatusCode::CONFLICT,
            ClusterError::NotFound(_) => StatusCode::NOT_FOUND,
            ClusterError::Invalid(_) => StatusCode::BAD_REQUEST,
            ClusterError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ClusterError::Relayed { status, .. } => {
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
        };
        Self::new(status, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::EnclaveExists | StoreError::KeyExists | StoreError::Conflict(_) => {
                StatusCode::CONFLICT
            }
            StoreError::EnclaveNotFound
            | StoreError::KeyNotFound
            | StoreError::PolicyNotFound
            | StoreError::IdentityNotFound
            | StoreError::NoSealedKey(_) => StatusCode::NOT_FOUND,
            StoreError::InvalidCiphertext | StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "request failed in storage");
        }
        Self::new(status, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every keystore error has one status, and its text is the message clients see.
    #[test]
    fn keystore_errors_map_to_their_status() {
        let cases = [
            (StoreError::EnclaveExists, 409),
            (StoreError::KeyExists, 409),
            (
                StoreError::Conflict("HSM x holds the last sealed root key".into()),
                409,
            ),
            (StoreError::EnclaveNotFound, 404),
            (StoreError::KeyNotFound, 404),
            (StoreError::PolicyNotFound, 404),
            (StoreError::IdentityNotFound, 404),
            (StoreError::NoSealedKey("pkcs11:t/k".into()), 404),
            (StoreError::InvalidCiphertext, 400),
            (StoreError::Invalid("key name too long".into()), 400),
            (StoreError::Unavailable("HSM down".into()), 503),
            (
                StoreError::Storage(minkms_keystore::StorageFailure::new("disk")),
                500,
            ),
        ];
        for (e, status) in cases {
            let text = e.to_string();
            let api = ApiError::from(e);
            assert_eq!((api.status.as_u16(), api.message), (status, text));
        }
    }

    /// The cluster runtime's errors: its own kinds, the leader's relayed answer as it came,
    /// and keystore errors through the keystore mapping.
    #[test]
    fn cluster_errors_map_to_their_status() {
        let cases = [
            (
                ClusterError::Unavailable("cluster has no leader".into()),
                503,
            ),
            (
                ClusterError::Conflict("node x is already part of this cluster".into()),
                409,
            ),
            (
                ClusterError::NotFound("node x is not part of the cluster".into()),
                404,
            ),
            (ClusterError::Invalid("invalid node address".into()), 400),
            (
                ClusterError::InsufficientStorage("insufficient storage: 1 MiB free".into()),
                507,
            ),
            (
                ClusterError::Relayed {
                    status: 409,
                    message: "key already exists".into(),
                },
                409,
            ),
            (
                ClusterError::Relayed {
                    status: 1000,
                    message: "nonsense status".into(),
                },
                503,
            ),
            (ClusterError::Store(StoreError::KeyNotFound), 404),
        ];
        for (e, status) in cases {
            let text = e.to_string();
            let api = ApiError::from(e);
            assert_eq!((api.status.as_u16(), api.message), (status, text));
        }
    }
}
