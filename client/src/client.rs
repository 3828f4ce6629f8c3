//! The async client: endpoint choice and failover as MinIO's client does it (API.md §6.3),
//! framing, and one typed method per command.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use parking_lot::Mutex;
use prost::Message;

use crate::command::Command;
use crate::frame::{decode_frames, encode_frames};
use crate::tls::{client_config, ServerTrust};
use crate::transport::{error_chain, https_client, HttpsClient, Transport};
use crate::wire::*;
use crate::{normalize_endpoint, ApiKey, Error};

/// A host that failed sits out this long before it is tried first again.
const SIT_OUT: Duration = Duration::from_secs(30);

/// Which HTTP versions the client offers by ALPN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// h2 and http/1.1; the server picks (MinIO's client does this).
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only.
    Http2,
}

/// Builds a [`Client`].
#[derive(Debug, Default)]
pub struct ClientBuilder {
    pub(crate) endpoints: Vec<String>,
    api_key: Option<ApiKey>,
    trust: ServerTrust,
    http: HttpVersion,
}

impl ClientBuilder {
    /// Adds endpoints (`host:port`, with or without `https://`; comma lists are split).
    pub fn endpoints<S: AsRef<str>>(mut self, endpoints: impl IntoIterator<Item = S>) -> Self {
        for e in endpoints {
            self.endpoints.extend(
                e.as_ref()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(normalize_endpoint),
            );
        }
        self
    }

    /// Authenticates with this API key.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// How to trust servers.
    pub fn trust(mut self, trust: ServerTrust) -> Self {
        self.trust = trust;
        self
    }

    /// Which HTTP versions to offer.
    pub fn http_version(mut self, http: HttpVersion) -> Self {
        self.http = http;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        if self.endpoints.is_empty() {
            return Err(Error::Config(
                "no server given: set --server or MINIO_KMS_SERVER".into(),
            ));
        }
        let mut tls = client_config(self.api_key.as_ref(), &self.trust)?;
        // What hyper-rustls would offer for each choice: HTTP/1.1 alone offers no ALPN.
        tls.alpn_protocols = match self.http {
            HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            HttpVersion::Http1 => Vec::new(),
            HttpVersion::Http2 => vec![b"h2".to_vec()],
        };
        let transport = Transport {
            http2_only: self.http == HttpVersion::Http2,
            ..Transport::default()
        };
        let http = https_client(tls, &transport);
        Ok(Client {
            endpoints: self.endpoints,
            http,
            failed: Mutex::new(HashMap::new()),
        })
    }
}

/// A response as the server sent it, for tests and tools that look at raw bytes.
#[derive(Debug)]
pub struct RawResponse {
    /// The HTTP version the exchange used.
    pub version: http::Version,
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// A client of one minkms cluster.
pub struct Client {
    pub(crate) endpoints: Vec<String>,
    http: HttpsClient,
    failed: Mutex<HashMap<usize, Instant>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// A transport error with its whole chain of causes; a certificate that failed verification
/// is told apart from the network failing.
fn transport(e: hyper_util::client::legacy::Error) -> Error {
    if crate::transport::is_certificate_failure(&e) {
        Error::Certificate(error_chain(&e))
    } else {
        Error::Transport(error_chain(&e))
    }
}

/// A response with its whole body read.
async fn collect(resp: http::Response<hyper::body::Incoming>) -> Result<RawResponse, Error> {
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| Error::Transport(e.to_string()))?
        .to_bytes();
    Ok(RawResponse {
        version: parts.version,
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

fn escape_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The endpoints, normalized.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Order in which to try hosts: a random start, hosts that failed recently last.
    fn host_order(&self) -> Vec<usize> {
        let n = self.endpoints.len();
        let start = if n > 1 {
            rand::random::<usize>() % n
        } else {
            0
        };
        let failed = self.failed.lock();
        let recent = |i: &usize| failed.get(i).is_some_and(|t| t.elapsed() < SIT_OUT);
        let (mut fresh, stale): (Vec<usize>, Vec<usize>) =
            (0..n).map(|k| (start + k) % n).partition(|i| !recent(i));
        fresh.extend(stale);
        fresh
    }

    /// Sends a request to the cluster: retried on the next host after a transport error,
    /// never after an HTTP error status.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<RawResponse, Error> {
        let mut last = Error::Transport("no server reachable".into());
        for i in self.host_order() {
            match self
                .send_to(&self.endpoints[i], method.clone(), path, body.clone())
                .await
            {
                Err(Error::Transport(e)) => {
                    self.failed.lock().insert(i, Instant::now());
                    last = Error::Transport(format!("{}: {e}", self.endpoints[i]));
                }
                // Another host may present a certificate this client can verify.
                Err(Error::Certificate(e)) => {
                    self.failed.lock().insert(i, Instant::now());
                    last = Error::Certificate(format!("{}: {e}", self.endpoints[i]));
                }
                other => return other,
            }
        }
        Err(last)
    }

    /// Sends a request to one host, with no failover.
    pub async fn send_to(
        &self,
        host: &str,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<RawResponse, Error> {
        let uri = format!("https://{host}{path}");
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::ACCEPT, "application/*")
            .body(Full::new(body))
            .map_err(|e| Error::Config(e.to_string()))?;
        self.request(req).await
    }

    /// Sends a request as given (any URI, any headers) over this client's connections: for
    /// tools, such as `minkms bench` loading another server for comparison.
    pub async fn request(&self, req: Request<Full<Bytes>>) -> Result<RawResponse, Error> {
        let resp = self.http.request(req).await.map_err(transport)?;
        collect(resp).await
    }

    /// Sends `req` and hands back the response with its body still to be read as it arrives
    /// (backups, the log); any status but 200 becomes the error the server sent.
    pub(crate) async fn streaming(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, Error> {
        let resp = self.http.request(req).await.map_err(transport)?;
        if resp.status() == StatusCode::OK {
            return Ok(resp);
        }
        let raw = collect(resp).await?;
        let status = raw.status;
        Err(match check(raw) {
            Err(e) => e,
            Ok(_) => Error::Decode(format!("unexpected status {status}")),
        })
    }

    /// The path of an enclave's KMS API (`/v1/kms/<enclave>`, escaped), for tools that send
    /// their own requests.
    pub fn kms_path(enclave: &str) -> String {
        if enclave.is_empty() {
            "/v1/kms".to_string()
        } else {
            format!("/v1/kms/{}", escape_path_segment(enclave))
        }
    }

    /// Sends frames of one command and returns the response body after checking the status.
    async fn exchange(&self, enclave: &str, body: Bytes) -> Result<Bytes, Error> {
        let resp = self
            .send(Method::POST, &Self::kms_path(enclave), body)
            .await?;
        check(resp)
    }

    /// Sends a batch of requests of one command; returns one response per request, in order.
    pub async fn batch<Req: Message, Resp: Message + Default>(
        &self,
        enclave: &str,
        cmd: Command,
        reqs: &[Req],
    ) -> Result<Vec<Resp>, Error> {
        let body = self
            .exchange(enclave, encode_frames(cmd.id(), reqs))
            .await?;
        let frames = decode_frames(&body, usize::MAX).map_err(|e| Error::Decode(e.to_string()))?;
        if frames.len() != reqs.len() {
            return Err(Error::Decode(format!(
                "{} responses to {} requests",
                frames.len(),
                reqs.len()
            )));
        }
        frames
            .into_iter()
            .map(|f| {
                if f.id != cmd.id() {
                    return Err(Error::Decode(format!("received command {}", f.id)));
                }
                Resp::decode(f.payload).map_err(|e| Error::Decode(e.to_string()))
            })
            .collect()
    }

    /// One request, one response.
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        enclave: &str,
        cmd: Command,
        req: &Req,
    ) -> Result<Resp, Error> {
        let mut v = self.batch(enclave, cmd, std::slice::from_ref(req)).await?;
        v.pop()
            .ok_or_else(|| Error::Decode("empty response".into()))
    }

    /// A write: the response body is ignored.
    pub async fn write<Req: Message>(
        &self,
        enclave: &str,
        cmd: Command,
        req: &Req,
    ) -> Result<(), Error> {
        self.exchange(enclave, encode_frames(cmd.id(), [req]))
            .await
            .map(|_| ())
    }
}

/// Turns a non-200 response into [`Error::Api`], decoding the body as API.md §5 says.
pub(crate) fn check(resp: RawResponse) -> Result<Bytes, Error> {
    if resp.status == StatusCode::OK {
        return Ok(resp.body);
    }
    let content_type = resp
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Err(Error::Api {
        status: resp.status.as_u16(),
        message: error_message(resp.status, content_type, &resp.body),
    })
}

/// The message of an error answer, however the server encoded it (protobuf `ErrResponse`,
/// JSON `{"message"}`, or plain text); the status's reason when it says nothing.
pub fn error_message(status: StatusCode, content_type: &str, body: &[u8]) -> String {
    let body = &body[..body.len().min(5 * 1024)];
    let message = match content_type {
        "application/octet-stream" => ErrResponse::decode(body)
            .map(|e| e.message)
            .unwrap_or_default(),
        "application/json" => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_default(),
        _ => String::from_utf8_lossy(body).trim().to_string(),
    };
    if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        message
    }
}
