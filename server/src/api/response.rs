//! Building an HTTP response: the one place that sets the headers every answer carries.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;

/// A response with `Content-Length` (MinIO's client rejects bodies of unknown length).
pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let length = body.len();
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(length));
    response
}
