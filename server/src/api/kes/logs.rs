//! KES's two log streams, for the root only: `GET /v1/log/error` (the node's log, one
//! `{"message"}` per line) and `GET /v1/log/audit` (one event per answered request, KMS and
//! KES routes alike). Status and headers go out at once, each line as it happens, until the
//! subscriber goes away.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Response};
use http_body_util::{Either, StreamBody};
use hyper::body::Frame;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::calls::rfc3339;
use super::metrics;
use crate::api::http::Body;

/// `GET /v1/log/error`.
pub(crate) fn errors() -> Response<Body> {
    stream(
        crate::logging::follow(),
        false,
        |record| serde_json::json!({ "message": record.message }),
    )
}

/// `GET /v1/log/audit`: KES's shape, with the response time in milliseconds as KES sends it
/// and the address without its port (KES's client reads it as an IP).
pub(crate) fn audit() -> Response<Body> {
    stream(crate::api::audit::subscribe(), true, |e| {
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

fn stream<T: Send + Sync + 'static>(
    mut source: broadcast::Receiver<Arc<T>>,
    is_audit: bool,
    line: impl Fn(&T) -> serde_json::Value + Send + 'static,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                r = source.recv() => r,
                () = tx.closed() => return,
            };
            let item = match received {
                Ok(item) => item,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut text = line(&item).to_string().into_bytes();
            text.push(b'\n');
            metrics::log_event(is_audit);
            if tx.send(Ok(Frame::data(Bytes::from(text)))).await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(Either::Right(StreamBody::new(ReceiverStream::new(rx))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-ndjson"),
    );
    response
}
