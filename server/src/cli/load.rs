//! The load of `minkms bench`, as lean as `wrk` and `h2load`: what a server spends per request
//! under it should be the server's own cost, not the price of a heavy client. A load generator
//! that needs more CPU per request than the server leaves the server half idle, and an idle
//! server pays a wake-up for every few requests instead of finding many ready at once; the
//! figures then overstate what a lean client costs it.
//!
//! So each load thread runs a current-thread runtime, and every request is the same bytes,
//! encoded once. HTTP/1.1 writes each request as one TLS record on a connection of its own
//! and reads the answer with `httparse`. HTTP/2 speaks through the `h2` crate directly, with
//! no connection pool and no task per request body: the frames of every stream of a connection
//! that are ready together go out in one flush, as h2load sends them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::{Buf, Bytes, BytesMut};
use hdrhistogram::Histogram;
use http::{HeaderMap, Method, Uri};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How long a load task waits before connecting again after its connection failed, so that a
/// server that refuses is not flooded with handshakes.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);
/// Headers an HTTP/1.1 answer may carry (hyper sends four).
const MAX_HEADERS: usize = 32;

/// One server to load.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    addr: SocketAddr,
    name: ServerName<'static>,
    /// `host:port`, for the Host header and `:authority`.
    authority: String,
}

impl Target {
    /// Resolves `endpoint` (`host:port`, `https://` already stripped).
    pub(crate) async fn resolve(endpoint: &str) -> anyhow::Result<Self> {
        let addr = tokio::net::lookup_host(endpoint)
            .await
            .with_context(|| format!("resolving {endpoint}"))?
            .next()
            .with_context(|| format!("{endpoint} resolves to no address"))?;
        let host = endpoint
            .rsplit_once(':')
            .map_or(endpoint, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .with_context(|| format!("{host} is not a valid server name"))?;
        Ok(Self {
            addr,
            name,
            authority: endpoint.to_string(),
        })
    }
}

/// What every request of a load is: the same method, path and headers each time, and the same
/// body unless each must differ.
#[derive(Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) path: String,
    /// Besides Host and Content-Length, which the load sets.
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    /// How many frames a `200` answer must carry for the request to count as a success; `None`
    /// takes any `200` (another server's answer).
    pub(crate) frames: Option<usize>,
}

/// A request body.
#[derive(Clone)]
pub(crate) enum Body {
    /// Encoded once, sent every time.
    Same(Bytes),
    /// Made for each request from a number no other request of this process gets (a write
    /// that must not repeat, such as a key's creation).
    Numbered(Arc<dyn Fn(u64) -> Bytes + Send + Sync>),
}

impl Body {
    fn next(&self) -> Bytes {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        match self {
            Self::Same(bytes) => bytes.clone(),
            Self::Numbered(make) => make(NEXT.fetch_add(1, Ordering::Relaxed)),
        }
    }
}

impl Request {
    /// The whole HTTP/1.1 request with `body`, to be written as one TLS record.
    fn http1(&self, target: &Target, body: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(256 + body.len());
        out.extend_from_slice(
            format!(
                "{} {} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
                self.method,
                self.path,
                target.authority,
                body.len()
            )
            .as_bytes(),
        );
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.freeze()
    }

    /// The HTTP/2 request head (the body goes in a DATA frame of its own).
    fn http2(&self, target: &Target) -> anyhow::Result<http::Request<()>> {
        let uri: Uri = format!("https://{}{}", target.authority, self.path).parse()?;
        let mut req = http::Request::builder()
            .method(self.method.clone())
            .uri(uri)
            .body(())?;
        *req.headers_mut() = self.headers.clone();
        Ok(req)
    }

    /// Whether an answer counts as a success.
    fn succeeded(&self, status: u16, body: &Bytes) -> bool {
        status == 200
            && self.frames.is_none_or(|n| {
                minkms_client::decode_frames(body, n).is_ok_and(|frames| frames.len() == n)
            })
    }
}

/// The shape of a load.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) http: u8,
    pub(crate) connections: usize,
    pub(crate) concurrency: usize,
    pub(crate) threads: usize,
}

/// Switches every load task shares: whether a finished request counts, and when to stop.
#[derive(Debug, Default)]
pub(crate) struct Window {
    pub(crate) measuring: AtomicBool,
    pub(crate) stop: AtomicBool,
}

/// What a task (or all of them) measured.
pub(crate) struct Tally {
    pub(crate) latency: Histogram<u64>,
    pub(crate) errors: u64,
}

impl Tally {
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: super::bench::histogram()?,
            errors: 0,
        })
    }

    fn add(&mut self, other: &Tally) -> anyhow::Result<()> {
        self.latency
            .add(&other.latency)
            .context("merging latency histograms")?;
        self.errors += other.errors;
        Ok(())
    }

    /// Records one request that started at `started`, if the window is open.
    fn record(&mut self, window: &Window, started: Instant, ok: bool) {
        if !window.measuring.load(Ordering::Relaxed) {
            return;
        }
        if ok {
            let _ = self
                .latency
                .record(started.elapsed().as_micros().max(1) as u64);
        } else {
            self.errors += 1;
        }
    }
}

/// Starts the load on `shape.threads` threads (connection `i` to `targets[i % n]`); the
/// returned handle gives the tally once `window.stop` is set.
pub(crate) fn start(
    targets: Vec<Target>,
    tls: ClientConfig,
    request: Request,
    shape: &Shape,
    window: Arc<Window>,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<Tally>>> {
    anyhow::ensure!(!targets.is_empty(), "no server to load");
    let mut tls = tls;
    tls.alpn_protocols = if shape.http == 2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let connector = TlsConnector::from(Arc::new(tls));
    let request = Arc::new(request);
    // HTTP/1.1 has one request in flight per connection: concurrency means connections.
    let (connections, streams) = if shape.http == 2 {
        (shape.connections, shape.concurrency)
    } else {
        (shape.connections * shape.concurrency, 1)
    };
    let threads = shape.threads.clamp(1, connections);
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let mine: Vec<Target> = (t..connections)
            .step_by(threads)
            .map(|i| targets[i % targets.len()].clone())
            .collect();
        let (connector, request, window, http) = (
            connector.clone(),
            request.clone(),
            window.clone(),
            shape.http,
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("load runtime")?;
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let tasks: Vec<_> = mine
                            .into_iter()
                            .map(|target| {
                                let (connector, request, window) =
                                    (connector.clone(), request.clone(), window.clone());
                                tokio::spawn(async move {
                                    if http == 2 {
                                        http2_connection(
                                            connector, target, request, streams, window,
                                        )
                                        .await
                                    } else {
                                        http1_connection(connector, target, request, window).await
                                    }
                                })
                            })
                            .collect();
                        let mut tally = Tally::new()?;
                        for task in tasks {
                            tally.add(&task.await??)?;
                        }
                        Ok::<_, anyhow::Error>(tally)
                    })
                })
                .context("starting a load thread")?,
        );
    }
    Ok(tokio::task::spawn_blocking(move || {
        let mut tally = Tally::new()?;
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
            tally.add(&part)?;
        }
        Ok(tally)
    }))
}

async fn connect(
    connector: &TlsConnector,
    target: &Target,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    connector.connect(target.name.clone(), tcp).await
}

/// One HTTP/1.1 connection sending requests one after the other until the stop, connecting
/// again whenever the connection fails or the server closes it.
async fn http1_connection(
    connector: TlsConnector,
    target: Target,
    request: Arc<Request>,
    window: Arc<Window>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let same = match &request.body {
        Body::Same(body) => Some(request.http1(&target, body)),
        Body::Numbered(_) => None,
    };
    let mut buf = BytesMut::with_capacity(8192);
    while !window.stop.load(Ordering::Relaxed) {
        let mut tls = match connect(&connector, &target).await {
            Ok(tls) => tls,
            Err(_) => {
                tally.record(&window, Instant::now(), false);
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        buf.clear();
        while !window.stop.load(Ordering::Relaxed) {
            let bytes = match &same {
                Some(bytes) => bytes.clone(),
                None => request.http1(&target, &request.body.next()),
            };
            let started = Instant::now();
            let answer = async {
                tls.write_all(&bytes).await?;
                tls.flush().await?;
                read_http1(&mut tls, &mut buf).await
            }
            .await;
            match answer {
                Ok(answer) => {
                    tally.record(
                        &window,
                        started,
                        request.succeeded(answer.status, &answer.body),
                    );
                    if answer.close {
                        break;
                    }
                }
                Err(_) => {
                    tally.record(&window, started, false);
                    break;
                }
            }
        }
    }
    Ok(tally)
}

/// An HTTP/1.1 answer.
struct Answer {
    status: u16,
    body: Bytes,
    /// The server closes the connection after it.
    close: bool,
}

/// Reads one answer (which must have a Content-Length: a minkms node and hyper send one for
/// every complete body); what follows it stays in `buf`.
async fn read_http1(tls: &mut TlsStream<TcpStream>, buf: &mut BytesMut) -> std::io::Result<Answer> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let head = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let mut length = None;
                let mut close = false;
                for h in parsed.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok());
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close = h.value.eq_ignore_ascii_case(b"close");
                    }
                }
                let length = length.ok_or_else(|| invalid("an answer without Content-Length"))?;
                Some((n, length, parsed.code.unwrap_or(0), close))
            }
            Ok(httparse::Status::Partial) => None,
            Err(e) => return Err(invalid(&e.to_string())),
        };
        if let Some((n, length, status, close)) = head {
            while buf.len() < n + length {
                if tls.read_buf(buf).await? == 0 {
                    return Err(invalid("the connection closed inside an answer"));
                }
            }
            buf.advance(n);
            let body = buf.split_to(length).freeze();
            return Ok(Answer {
                status,
                body,
                close,
            });
        }
        if tls.read_buf(buf).await? == 0 {
            return Err(invalid("the connection closed before an answer"));
        }
    }
}

/// One HTTP/2 connection with `streams` requests in flight until the stop, connecting again
/// whenever the connection fails.
async fn http2_connection(
    connector: TlsConnector,
    target: Target,
    request: Arc<Request>,
    streams: usize,
    window: Arc<Window>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let head = request.http2(&target)?;
    while !window.stop.load(Ordering::Relaxed) {
        let client = match connect(&connector, &target).await {
            Ok(tls) if tls.get_ref().1.alpn_protocol() == Some(b"h2") => h2::client::Builder::new()
                .handshake::<_, Bytes>(tls)
                .await
                .ok(),
            Ok(_) => anyhow::bail!("{} does not speak HTTP/2", target.authority),
            Err(_) => None,
        };
        let (send, connection) = match client {
            Some(pair) => pair,
            None => {
                tally.record(&window, Instant::now(), false);
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let tasks: Vec<_> = (0..streams)
            .map(|_| {
                let (send, request, window, head) = (
                    send.clone(),
                    request.clone(),
                    window.clone(),
                    clone_head(&head),
                );
                tokio::spawn(http2_stream(send, head, request, window))
            })
            .collect();
        drop(send);
        for task in tasks {
            tally.add(&task.await??)?;
        }
        driver.abort();
        if !window.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
    Ok(tally)
}

fn clone_head(head: &http::Request<()>) -> http::Request<()> {
    let mut req = http::Request::new(());
    *req.method_mut() = head.method().clone();
    *req.uri_mut() = head.uri().clone();
    *req.headers_mut() = head.headers().clone();
    req
}

/// One stream slot of an HTTP/2 connection: a request, its answer, the next, until the stop or
/// until the connection fails.
async fn http2_stream(
    mut send: h2::client::SendRequest<Bytes>,
    head: http::Request<()>,
    request: Arc<Request>,
    window: Arc<Window>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    while !window.stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let answer = async {
            send = send.clone().ready().await?;
            let (response, mut body) = send.send_request(clone_head(&head), false)?;
            body.send_data(request.body.next(), true)?;
            let response = response.await?;
            let status = response.status().as_u16();
            let mut incoming = response.into_body();
            let mut data = BytesMut::new();
            while let Some(chunk) = incoming.data().await {
                let chunk = chunk?;
                let _ = incoming.flow_control().release_capacity(chunk.len());
                data.extend_from_slice(&chunk);
            }
            Ok::<_, h2::Error>((status, data))
        }
        .await;
        match answer {
            Ok((status, data)) => {
                tally.record(&window, started, request.succeeded(status, &data.freeze()));
            }
            Err(_) => {
                tally.record(&window, started, false);
                break;
            }
        }
    }
    Ok(tally)
}
