//! KES bodies: requests read as leniently as Go's `encoding/json` reads them (unknown members
//! ignored, member names in any case, `null` as absent, an empty body as `{}`), binary values
//! in standard base64; answers as KES writes them, errors as `{"message"}` always.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;
use zeroize::Zeroizing;

use crate::api::error::ApiError;

/// The members of a request's JSON object, by lower-cased name.
pub(crate) struct Fields(HashMap<String, serde_json::Value>);

impl Fields {
    /// Parses a body: the first JSON value, which must be an object (or `null`, or nothing).
    pub(crate) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let invalid = || ApiError::bad_request("invalid request body");
        let mut values =
            serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>();
        let fields = match values.next() {
            None => HashMap::new(),
            Some(Ok(serde_json::Value::Null)) => HashMap::new(),
            Some(Ok(serde_json::Value::Object(map))) => map
                .into_iter()
                .map(|(k, v)| (k.to_lowercase(), v))
                .collect(),
            Some(_) => return Err(invalid()),
        };
        Ok(Self(fields))
    }

    /// A string member; absent or `null` is empty.
    pub(crate) fn string(&self, name: &str) -> Result<String, ApiError> {
        match self.0.get(name) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(ApiError::bad_request("invalid request body")),
        }
    }

    /// A base64 member (padded or not); absent, `null` and `""` are empty.
    pub(crate) fn bytes(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let text = Zeroizing::new(self.string(name)?);
        STANDARD
            .decode(text.as_bytes())
            .or_else(|_| STANDARD_NO_PAD.decode(text.as_bytes()))
            .map(Zeroizing::new)
            .map_err(|_| ApiError::bad_request("invalid request body"))
    }
}

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
    fn requests_are_read_as_go_reads_them() {
        let f =
            Fields::parse(br#"{"Context":"e30=","version":"v1","unknown":[1]} trailing"#).unwrap();
        assert_eq!(f.bytes("context").unwrap().as_slice(), b"{}");
        for empty in [
            &b""[..],
            b"null",
            b"{}",
            br#"{"context":null}"#,
            br#"{"context":""}"#,
        ] {
            assert!(Fields::parse(empty)
                .unwrap()
                .bytes("context")
                .unwrap()
                .is_empty());
        }
        assert_eq!(
            Fields::parse(br#"{"message":"YWJj"}"#)
                .unwrap()
                .bytes("message")
                .unwrap()
                .as_slice(),
            b"abc"
        );
        for bad in [
            &b"[1]"[..],
            b"\"x\"",
            b"{",
            br#"{"context":5}"#,
            br#"{"context":"!!"}"#,
        ] {
            let e = Fields::parse(bad).and_then(|f| f.bytes("context").map(|_| ()));
            assert_eq!(e.unwrap_err().message, "invalid request body", "{bad:?}");
        }
    }

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
