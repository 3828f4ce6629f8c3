//! KES's two log streams, for the root only: `GET /v1/log/error` (the node's log, one
//! `{"message"}` per line) and `GET /v1/log/audit` (one event per answered request, KMS and
//! KES routes alike). Status and headers go out at once, each line as it happens, until the
//! subscriber goes away.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use tokio_util::sync::CancellationToken;

use super::calls::rfc3339;
use super::metrics;
use crate::api::http::Body;

/// `GET /v1/log/error`.
pub(crate) fn errors(stopping: &CancellationToken) -> Response<Body> {
    stream(
        crate::logging::follow(),
        stopping,
        false,
        |record| serde_json::json!({ "message": record.message }),
    )
}

/// `GET /v1/log/audit`: KES's shape, with the response time in milliseconds as KES sends it
/// and the address without its port (KES's client reads it as an IP).
pub(crate) fn audit(stopping: &CancellationToken) -> Response<Body> {
    stream(crate::api::audit::subscribe(), stopping, true, |e| {
        let now = time::OffsetDateTime::now_utc();
        serde_json::json!({
            "time": rfc3339(now.unix_timestamp(), now.nanosecond()),
            "request": {
                "ip": e.ip,
                "path": e.path,
                "identity": e.identity.as_ref().map(|i| i.to_hex()).unwrap_or_default(),
            },
            "response": { "code": e.code, "time": e.elapsed.as_millis() as u64 },
        })
    })
}

/// One ndjson line per item, counted for `kes_log_*_events`.
fn stream<T: Send + Sync + 'static>(
    source: tokio::sync::broadcast::Receiver<Arc<T>>,
    stopping: &CancellationToken,
    is_audit: bool,
    line: impl Fn(&T) -> serde_json::Value + Send + 'static,
) -> Response<Body> {
    crate::api::http::stream(source, stopping, "application/x-ndjson", move |item| {
        let mut text = line(item).to_string().into_bytes();
        text.push(b'\n');
        metrics::log_event(is_audit);
        Some(Bytes::from(text))
    })
}
