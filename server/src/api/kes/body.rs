//! KES answers: JSON as KES writes it, binary values in standard base64, errors as
//! `{"message"}` always, with KES's texts where its client matches on them. (Requests are
//! read by `minkms_client::kes::Fields`.)

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;

use crate::api::error::ApiError;

/// Standard base64 with padding, as Go's `encoding/json` writes `[]byte`.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A JSON answer: one value and a newline, as KES's `json.Encoder` writes it.
pub(crate) fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut body = value.to_string().into_bytes();
    body.push(b'\n');
    crate::api::response::respond(StatusCode::OK, "application/json", Bytes::from(body))
}

/// Prometheus text, as KES's client reads it when it sends no `Accept`.
pub(crate) fn text(text: String) -> Response<Full<Bytes>> {
    crate::api::response::respond(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(text),
    )
}

/// A 200 without a body (create, import, delete, ready): no Content-Type, as KES answers.
pub(crate) fn empty() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    resp.headers_mut().insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from_static("0"),
    );
    resp
}

/// An error as every KES route answers it: JSON `{"message"}`, whatever the request accepts.
pub(crate) fn error(e: ApiError) -> Response<Full<Bytes>> {
    e.into_response(false)
}

/// KES's texts for minkms's answers, where KES's client matches on them (docs/kes.md).
/// `name` is the call's argument, named in KES's name errors.
pub(crate) fn translate(e: ApiError, name: &str) -> ApiError {
    let kes = |status, message: String| ApiError::new(status, message);
    match (e.status, e.message.as_str()) {
        (StatusCode::FORBIDDEN, _) => kes(
            StatusCode::FORBIDDEN,
            "not authorized: insufficient permissions".into(),
        ),
        (StatusCode::CONFLICT, "key already exists") => {
            kes(StatusCode::BAD_REQUEST, "key already exists".into())
        }
        (StatusCode::BAD_REQUEST, "invalid ciphertext") => kes(
            StatusCode::BAD_REQUEST,
            "decryption failed: ciphertext is not authentic".into(),
        ),
        (StatusCode::BAD_REQUEST, m) if m.starts_with("invalid key name") => kes(
            StatusCode::BAD_REQUEST,
            format!("key name '{name}' is empty, too long or contains invalid characters"),
        ),
        (StatusCode::BAD_REQUEST, m) if m.starts_with("invalid policy name") => kes(
            StatusCode::BAD_REQUEST,
            format!("policy name '{name}' is empty, too long or contains invalid characters"),
        ),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minkms_errors_become_kes_errors_where_the_client_matches() {
        let cases = [
            (
                403,
                "access denied: insufficient permissions",
                403,
                "not authorized: insufficient permissions",
            ),
            (409, "key already exists", 400, "key already exists"),
            (
                400,
                "invalid ciphertext",
                400,
                "decryption failed: ciphertext is not authentic",
            ),
            (
                400,
                "invalid key name: must be ...",
                400,
                "key name 'n' is empty, too long or contains invalid characters",
            ),
            (
                400,
                "invalid policy name: must be ...",
                400,
                "policy name 'n' is empty, too long or contains invalid characters",
            ),
            (404, "key does not exist", 404, "key does not exist"),
            (503, "cluster has no leader", 503, "cluster has no leader"),
        ];
        for (status, message, kes_status, kes_message) in cases {
            let e = ApiError::new(StatusCode::from_u16(status).unwrap(), message);
            let t = translate(e, "n");
            assert_eq!(
                (t.status.as_u16(), t.message.as_str()),
                (kes_status, kes_message)
            );
        }
    }
}
