//! The one HTTP client stack: hyper's pooled client over rustls. The API client and the
//! node-to-node channel both use it, so connection reuse, idle limits and the way transport
//! errors read are the same on every path a request can take.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;

/// A pooled HTTPS client (see [`https_client`]).
pub type HttpsClient =
    hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How the pooled client connects and keeps connections.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Speak HTTP/2 only (with prior knowledge of the ALPN outcome).
    pub http2_only: bool,
    /// How long an idle connection is kept for reuse.
    pub idle_timeout: Duration,
    /// How many idle connections are kept per host.
    pub max_idle_per_host: usize,
    /// A limit on the TCP connect (the TLS handshake is bounded by the caller's deadline).
    pub connect_timeout: Option<Duration>,
    /// The address outgoing connections leave from (for destinations of its family).
    pub local_address: Option<IpAddr>,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            http2_only: false,
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: usize::MAX,
            connect_timeout: None,
            local_address: None,
        }
    }
}

/// Builds the pooled client over `tls`, whose ALPN list is offered as it stands (the caller
/// decides what to offer: HTTP versions, or the peer protocol).
pub fn https_client(tls: ClientConfig, transport: &Transport) -> HttpsClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(transport.connect_timeout);
    http.set_local_address(transport.local_address);
    let mut https = HttpsConnector::from((http, tls));
    https.enforce_https();
    let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
    builder
        .pool_idle_timeout(transport.idle_timeout)
        .pool_max_idle_per_host(transport.max_idle_per_host)
        .pool_timer(TokioTimer::new())
        .http2_only(transport.http2_only);
    builder.build(https)
}

/// Whether `e` comes from a server certificate that failed verification (rustls'
/// `InvalidCertificate`, however deep hyper and the I/O layer wrapped it).
pub(crate) fn is_certificate_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    if matches!(
        e.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidCertificate(_))
    ) {
        return true;
    }
    // An I/O error hides the error it carries from `source()` (hyper-rustls wraps the TLS
    // layer's I/O error in another): look inside.
    let carried = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| is_certificate_failure(inner));
    carried || e.source().is_some_and(is_certificate_failure)
}

/// An error with its whole chain of causes, `: `-separated (hyper's own message says little:
/// the reason a connection failed is several sources down).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_cause() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&e), "outer: inner");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let tls = crate::tls_client_config(&crate::ServerTrust::Insecure, None).unwrap();
        let client = https_client(tls, &Transport::default());
        let uri = format!("https://127.0.0.1:{port}/");
        let e = client
            .request(
                http::Request::get(uri)
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap_err();
        assert!(e.is_connect(), "{e:?}");
        assert!(error_chain(&e).contains("refused"), "{}", error_chain(&e));
    }
}
