//! The HTTP layer: TLS accept, one identity per connection, routing.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use minkms_client::wire::LogRequest;
use minkms_client::wire::VersionResponse;
use prost::Message;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use minkms_client::{Identity, NodeName};

use crate::api::auth::Caller;
use crate::api::connections::{Refused, Slot, Slots, Tracked};
use crate::api::error::ApiError;
use crate::api::gate::Gate;
use crate::api::kms::{self, Batch};
use crate::api::response::respond;
use crate::node::state::{Node, API_VERSION, VERSION};
use crate::node::tls::names_of;
use minkms_config::Limits;

/// Largest request body accepted.
pub(crate) const MAX_BODY: usize = 4 << 20;
/// How long a client has to finish its TLS handshake (and less if `request_timeout` is less).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection closed for idling has to finish its side of the close.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How long a stopping node waits for the requests in flight to be answered.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Largest request head (line and headers) accepted over HTTP/1.1, and header list over h2.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// Accepts connections until `shutdown` resolves, within `limits` (see [`Slots`]); then lets
/// the requests in flight finish (up to [`DRAIN_LIMIT`]) and returns once their connections
/// are closed, so that everything answered is audited before the audit log closes.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    gate: Arc<Gate>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let slots = Arc::new(Slots::new(
        limits.max_connections,
        limits.max_connections_per_address,
    ));
    let limits = Arc::new(limits);
    let connections = TaskTracker::new();
    'accepting: loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Every slot busy with a request: hold this client (and the rest in the kernel's
        // backlog) until one is free, instead of costing a task and a handshake each.
        let slot = loop {
            match slots.admit(peer.ip()) {
                Ok(slot) => break Some(slot),
                Err(Refused::AddressFull) => break None,
                Err(Refused::Full) => tokio::select! {
                    () = slots.freed(Duration::from_millis(100)) => {}
                    () = &mut shutdown => break 'accepting,
                },
            }
        };
        let Some(slot) = slot else {
            metrics::counter!("minkms_connections_refused_total").increment(1);
            tracing::debug!(%peer, "connection refused: its address holds all of its slots");
            continue;
        };
        let (acceptor, gate, limits) = (acceptor.clone(), gate.clone(), limits.clone());
        connections.spawn(async move {
            connection(tcp, peer, acceptor, gate, limits, &slot).await;
            drop(slot);
        });
    }
    gate.stopping.cancel();
    connections.close();
    if tokio::time::timeout(DRAIN_LIMIT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after {DRAIN_LIMIT:?}: stopping without their answers"
        );
    }
}

/// Serves one connection until it ends, idles too long or is evicted (see [`Slots`]).
async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    gate: Arc<Gate>,
    limits: Arc<Limits>,
    slot: &Slot,
) {
    let _ = tcp.set_nodelay(true);
    let request_timeout = Duration::from_secs(limits.request_timeout.max(1));
    let idle_timeout = Duration::from_secs(limits.idle_timeout.max(1));
    let activity = slot.activity.clone();
    let stopping = gate.stopping.clone();
    let handshake =
        tokio::time::timeout(HANDSHAKE_TIMEOUT.min(request_timeout), acceptor.accept(tcp));
    let tls = tokio::select! {
        accepted = handshake => match accepted {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        () = activity.expired(request_timeout, idle_timeout) => return,
        () = stopping.cancelled() => return,
    };
    let (identity, node_name) = match tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(names_of)
    {
        Some((identity, node_name)) => (Some(identity), node_name),
        None => (None, None),
    };
    let conn = Arc::new(Connection {
        remote: peer,
        identity,
        node_name,
        proven: OnceLock::new(),
        caller: OnceLock::new(),
    });
    let service = {
        let activity = activity.clone();
        service_fn(move |req| {
            let busy = activity.begin();
            // On the heap: hyper moves the request's future into the task of an HTTP/2
            // stream (and into the dispatcher over HTTP/1.1), and the router's future is a
            // few kilobytes; moving a pointer instead saved about 1 µs per request.
            let routed = Box::pin(route(gate.clone(), conn.clone(), request_timeout, req));
            async move {
                let response = routed.await?;
                Ok::<_, Infallible>(response.map(|body| Tracked::new(body, busy)))
            }
        })
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // No header read timeout: hyper would start it as soon as a kept-alive connection waits
    // for its next request, closing it after `request_timeout` instead of `idle_timeout`.
    // The watchdog below bounds headers instead: `request_timeout` for the first request's,
    // `idle_timeout` (counted from the last answer) for a later one's. Without a timer hyper
    // keeps no per-request sleep either.
    builder
        .http1()
        .header_read_timeout(None)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .keep_alive_interval(Some(request_timeout))
        .keep_alive_timeout(request_timeout);
    let served = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(served);
    // The watchdog is a task of its own that says when to close. Polled beside the
    // connection, its timer, eviction notice and the node's shutdown token (two of them
    // behind a lock) were polled again at every wake of the connection: every request.
    let (mut close, closing) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let grace = tokio::select! {
            () = activity.expired(request_timeout, idle_timeout) => CLOSE_GRACE,
            // The node stops: the requests in progress are answered (within the time any
            // request has), then the connection closes.
            () = stopping.cancelled() => request_timeout.min(DRAIN_LIMIT),
            // The connection ended by itself.
            () = close.closed() => return,
        };
        let _ = close.send(grace);
    });
    let grace = tokio::select! {
        biased;
        ended = served.as_mut() => Ok(ended),
        // A watchdog that is gone (the runtime is shutting down) closes as a stop does.
        grace = closing => Err(grace.unwrap_or(request_timeout.min(DRAIN_LIMIT))),
    };
    let ended = match grace {
        Ok(ended) => ended,
        Err(grace) => {
            // Idle, evicted or stopping: HTTP/2 gets a GOAWAY, HTTP/1.1 a close after the
            // request in progress; a client that does not finish its side in time is cut off.
            served.as_mut().graceful_shutdown();
            match tokio::time::timeout(grace, served.as_mut()).await {
                Ok(ended) => ended,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

fn wants_protobuf(req: &Request<Incoming>) -> bool {
    let is = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/octet-stream") || v.contains("application/*"))
    };
    is(header::CONTENT_TYPE) || is(header::ACCEPT)
}

/// What one connection knows: who the client is (from its certificate, once), and what that
/// identity is to the node (resolved at its first request after unsealing).
#[derive(Debug)]
struct Connection {
    remote: SocketAddr,
    identity: Option<Identity>,
    /// The node its certificate claims to be, not checked yet (`peer_only` does).
    node_name: Option<NodeName>,
    /// That claim checked, once per connection: a peer link sends many messages on one.
    proven: OnceLock<Option<NodeName>>,
    caller: OnceLock<Arc<Caller>>,
}

/// What the metrics and the audit log learn about a request while it is handled.
struct RequestInfo {
    command: &'static str,
    /// The names it touched; collected only when an audit log is configured.
    names: Option<Vec<String>>,
}

/// The HTTP status a handler's result is answered with.
fn status_of<B>(result: &Result<Response<B>, ApiError>) -> u16 {
    result
        .as_ref()
        .map_or_else(|e| e.status.as_u16(), |r| r.status().as_u16())
}

/// One audit event for a request (when an audit log is configured). Backups, restores and
/// log follows are audited like API commands, as `BACKUP`, `RESTORE` and `LOG`.
fn audit(
    gate: &Gate,
    conn: &Connection,
    path: &str,
    enclave: &str,
    info: RequestInfo,
    status: u16,
    elapsed: Duration,
) {
    crate::api::audit::publish(|| crate::api::audit::StreamEvent {
        ip: conn.remote.ip().to_string(),
        path: path.to_string(),
        identity: conn.identity.clone(),
        code: status,
        elapsed,
    });
    let Some(audit) = &gate.audit else { return };
    audit.log(&crate::api::audit::Event {
        time: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        node: &gate.host,
        remote: conn.remote.to_string(),
        identity: conn.identity.as_ref().map_or("", |i| i.as_str()),
        enclave: crate::api::audit::shown(enclave),
        command: info.command,
        names: info.names.unwrap_or_default(),
        status,
        latency_us: elapsed.as_micros(),
    });
}

/// The node, or 503 while it is sealed.
fn open(gate: &Gate) -> Result<&Arc<Node>, ApiError> {
    gate.node().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("node is sealed: {}", gate.sealed_reason()),
        )
    })
}

/// A response body: whole (almost everything) or streamed (the log).
pub(crate) type Body =
    Either<Full<Bytes>, StreamBody<ReceiverStream<Result<Frame<Bytes>, Infallible>>>>;

async fn route(
    gate: Arc<Gate>,
    conn: Arc<Connection>,
    request_timeout: Duration,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let protobuf = wants_protobuf(&req);
    // The audit log names the path after the request (and its URI) moved into a handler: a
    // clone of the URI shares its bytes, where a `String` of the path would be copied.
    let uri = req.uri().clone();
    let path = uri.path();
    if path == "/v1/debug/log" {
        let started = std::time::Instant::now();
        let streamed = Box::pin(follow_log(&gate, &conn, req)).await;
        let status = status_of(&streamed);
        let info = RequestInfo {
            command: "LOG",
            names: None,
        };
        audit(&gate, &conn, path, "", info, status, started.elapsed());
        return Ok(streamed.unwrap_or_else(|e| e.into_response(protobuf).map(Either::Left)));
    }
    if let Some(settings) = gate
        .kes
        .as_ref()
        .filter(|_| crate::api::kes::routes::claims(path))
    {
        let started = std::time::Instant::now();
        let caller = |node: &Arc<Node>| {
            conn.caller
                .get_or_init(|| Arc::new(Caller::new(conn.identity.clone(), &node.root)))
                .clone()
        };
        let handled = Box::pin(crate::api::kes::handle(
            &gate,
            settings,
            caller,
            request_timeout,
            req,
        ))
        .await;
        let status = handled.response.status().as_u16();
        let elapsed = started.elapsed();
        crate::api::metrics::record(handled.command, status, elapsed);
        let info = RequestInfo {
            command: handled.command,
            names: None,
        };
        audit(&gate, &conn, path, &handled.enclave, info, status, elapsed);
        return Ok(handled.response);
    }
    let result = match (req.method(), path) {
        (&Method::GET, "/version") => Ok(version(&gate.host, protobuf)),
        (&Method::GET, "/v1/rpc/status") => peer_only(&gate, &conn).map(|(node, _)| {
            respond(
                StatusCode::OK,
                "application/octet-stream",
                node.status().encode_to_vec().into(),
            )
        }),
        (
            &Method::POST,
            "/v1/rpc/replicate" | "/v1/rpc/forward" | "/v1/rpc/join" | "/v1/rpc/removed",
        ) => match peer_only(&gate, &conn) {
            Ok((node, from)) => Box::pin(super::rpc::handle(node, from, req)).await,
            Err(e) => Err(e),
        },
        (&Method::GET, "/v1/health/metrics") => {
            let node = gate.node();
            let root = node.is_some_and(|n| Caller::new(conn.identity.clone(), &n.root).is_root);
            let text = crate::api::metrics::render(node.map(|n| n.as_ref()), root);
            Ok(respond(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                Bytes::from(text),
            ))
        }
        (&Method::GET, "/v1/health/live") => {
            Ok(respond(StatusCode::OK, "text/plain", Bytes::new()))
        }
        (&Method::GET, "/v1/health/ready") => {
            let write = req.uri().query().is_some_and(|q| {
                q.split('&')
                    .any(|p| p == "write" || p.starts_with("write="))
            });
            match open(&gate) {
                Ok(node) if write && !Box::pin(node.write_ready()).await => Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready for writes: no leader, or not every node is up",
                )),
                Ok(node) if node.cluster.is_removed() => Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server not part of cluster",
                )),
                // A fork not accepted yet leaves load balancers' pools: clients of its old
                // cluster must not reach it.
                Ok(node) => crate::cluster::fenced(node)
                    .map(|()| respond(StatusCode::OK, "text/plain", Bytes::new()))
                    .map_err(ApiError::from),
                Err(e) => Err(e),
            }
        }
        (&Method::GET | &Method::PUT, "/v1/db") => {
            let command = if req.method() == Method::GET {
                "BACKUP"
            } else {
                "RESTORE"
            };
            let started = std::time::Instant::now();
            let result = Box::pin(db(&gate, &conn, req)).await;
            let status = status_of(&result);
            let info = RequestInfo {
                command,
                names: None,
            };
            audit(&gate, &conn, path, "", info, status, started.elapsed());
            result
        }
        (_, "/v1/debug/pprof") => {
            let started = std::time::Instant::now();
            let result = profile(&gate, &conn, &req);
            let info = RequestInfo {
                command: "PROFILE",
                names: None,
            };
            audit(
                &gate,
                &conn,
                path,
                "",
                info,
                status_of(&result),
                started.elapsed(),
            );
            result
        }
        (&Method::POST, "/v1/kms") => kms(&gate, &conn, path, "", request_timeout, req).await,
        (&Method::POST, _) if path.starts_with("/v1/kms/") => {
            match minkms_client::percent_decode(&path["/v1/kms/".len()..]) {
                Some(enclave) => kms(&gate, &conn, path, &enclave, request_timeout, req).await,
                None => Err(ApiError::bad_request(
                    "invalid request: malformed enclave name in path",
                )),
            }
        }
        (
            _,
            "/version" | "/v1/health/live" | "/v1/health/ready" | "/v1/health/metrics"
            | "/v1/rpc/status" | "/v1/kms",
        ) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        )),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "not found")),
    };
    Ok(result
        .unwrap_or_else(|e| e.into_response(protobuf))
        .map(Either::Left))
}

/// Largest backup `PUT /v1/db` accepts.
const MAX_BACKUP: usize = 8 << 30;

/// `GET /v1/db` (backup) and `PUT /v1/db` (restore onto a fresh node): the root only.
async fn db(
    gate: &Gate,
    conn: &Connection,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let node = open(gate)?.clone();
    if !Caller::new(conn.identity.clone(), &node.root).is_root {
        return Err(ApiError::forbidden());
    }
    if req.method() == Method::GET {
        let backup = tokio::task::spawn_blocking(move || node.keystore.backup())
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))??;
        tracing::info!(bytes = backup.len(), "backup taken");
        return Ok(respond(
            StatusCode::OK,
            "application/octet-stream",
            Bytes::from(backup),
        ));
    }
    let body = Limited::new(req.into_body(), MAX_BACKUP)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid request: {e}")))?
        .to_bytes();
    node.cluster.restore(body).await?;
    Ok(respond(StatusCode::OK, "text/plain", Bytes::new()))
}

/// The node, for a caller presenting this cluster's peer certificate.
fn peer_only(gate: &Gate, conn: &Connection) -> Result<(Arc<Node>, NodeName), ApiError> {
    let node = open(gate)?;
    let proven = conn
        .proven
        .get_or_init(|| match (&conn.identity, &conn.node_name) {
            (Some(identity), Some(claimed)) => node.peer.proves(identity, claimed),
            _ => None,
        });
    match proven {
        Some(name) => Ok((node.clone(), name.clone())),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not a peer of this cluster: only nodes holding this cluster's HSM key may call /v1/rpc",
        )),
    }
}

/// `POST /v1/debug/log`: the node's log from now on, as `u32 BE length ‖ LogRecord` records,
/// filtered by level and message substring. For the root only.
async fn follow_log(
    gate: &Gate,
    conn: &Connection,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ));
    }
    let node = open(gate)?;
    if !Caller::new(conn.identity.clone(), &node.root).is_root {
        return Err(ApiError::forbidden());
    }
    let body = Limited::new(req.into_body(), 64 << 10)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid request: {e}")))?
        .to_bytes();
    let filter = LogRequest::decode_either(&body)
        .map_err(|_| ApiError::bad_request("invalid request: malformed LogRequest"))?;
    Ok(stream(
        crate::logging::follow(),
        &gate.stopping,
        "application/octet-stream",
        move |record| {
            if record.level < filter.level || !record.message.contains(&filter.message) {
                return None;
            }
            let mut frame = Vec::with_capacity(4 + record.encoded_len());
            frame.extend_from_slice(&(record.encoded_len() as u32).to_be_bytes());
            record.encode_raw(&mut frame);
            Some(Bytes::from(frame))
        },
    ))
}

/// A streamed answer (the log streams): status and headers at once, then what `encode` makes
/// of each item of `source` (`None` skips it), flushed as it comes, until the client goes
/// away or the node stops. A lagging client skips what it missed rather than holding the
/// sender back.
pub(crate) fn stream<T: Send + Sync + 'static>(
    mut source: tokio::sync::broadcast::Receiver<Arc<T>>,
    stopping: &CancellationToken,
    content_type: &'static str,
    encode: impl Fn(&T) -> Option<Bytes> + Send + 'static,
) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    let stopping = stopping.clone();
    tokio::spawn(async move {
        loop {
            // A filter that rarely matches must not keep the task (and every item's
            // encoding) alive after the client is gone: watch for that too.
            let received = tokio::select! {
                r = source.recv() => r,
                () = tx.closed() => return,
                () = stopping.cancelled() => return,
            };
            let item = match received {
                Ok(item) => item,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let Some(bytes) = encode(&item) else { continue };
            if tx.send(Ok(Frame::data(bytes))).await.is_err() {
                return; // the client went away
            }
        }
    });
    let mut response = Response::new(Either::Right(StreamBody::new(ReceiverStream::new(rx))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// `/v1/debug/pprof` (see `profiling`): for the root only. The status is protobuf, as kms-go
/// asks for it.
fn profile(
    gate: &Gate,
    conn: &Connection,
    req: &Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let node = open(gate)?;
    if !Caller::new(conn.identity.clone(), &node.root).is_root {
        return Err(ApiError::forbidden());
    }
    match *req.method() {
        Method::POST => {
            crate::api::profiling::start(req.uri().query())?;
            Ok(respond(StatusCode::OK, "text/plain", Bytes::new()))
        }
        Method::GET => Ok(respond(
            StatusCode::OK,
            "application/octet-stream",
            Bytes::from(crate::api::profiling::status().encode_to_vec()),
        )),
        Method::DELETE => Ok(respond(
            StatusCode::OK,
            "application/zip",
            crate::api::profiling::stop()?,
        )),
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        )),
    }
}

fn version(host: &str, protobuf: bool) -> Response<Full<Bytes>> {
    let v = VersionResponse {
        version: VERSION.into(),
        commit: crate::node::state::COMMIT.into(),
        api_version: API_VERSION.into(),
        host: host.to_string(),
        fips140: false,
    };
    if protobuf {
        respond(
            StatusCode::OK,
            "application/octet-stream",
            v.encode_to_vec().into(),
        )
    } else {
        respond(
            StatusCode::OK,
            "application/json",
            serde_json::to_vec(&v).unwrap_or_default().into(),
        )
    }
}

/// `POST /v1/kms[/<enclave>]`, counted in the metrics and audited.
async fn kms(
    gate: &Gate,
    conn: &Connection,
    path: &str,
    enclave: &str,
    request_timeout: Duration,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let node = open(gate)?.clone();
    let caller = conn
        .caller
        .get_or_init(|| Arc::new(Caller::new(conn.identity.clone(), &node.root)))
        .clone();
    let started = std::time::Instant::now();
    let mut info = RequestInfo {
        command: "invalid",
        names: gate.audit.as_ref().map(|_| Vec::new()),
    };
    let result = handle_kms(node, caller, enclave, request_timeout, req, &mut info).await;
    let status = status_of(&result);
    let elapsed = started.elapsed();
    crate::api::metrics::record(info.command, status, elapsed);
    audit(gate, conn, path, enclave, info, status, elapsed);
    result
}

async fn handle_kms(
    node: Arc<Node>,
    caller: Arc<Caller>,
    enclave: &str,
    request_timeout: Duration,
    req: Request<Incoming>,
    info: &mut RequestInfo,
) -> Result<Response<Full<Bytes>>, ApiError> {
    if let Err(e) = admit(&node, &caller, enclave).await {
        info.command = "-"; // never read
        return Err(e);
    }
    let body = collect_body(req, MAX_BODY, request_timeout).await?;
    let batch = Batch::parse(&body)?;
    info.command = batch.cmd.text();
    if let Some(names) = &mut info.names {
        *names = crate::api::audit::names(&batch.payloads);
    }
    if !batch.cmd.is_cluster() && enclave.is_empty() {
        return Err(ApiError::bad_request(
            "invalid request: no enclave given: use POST /v1/kms/<enclave>",
        ));
    }
    let out = kms::dispatch(node, caller, enclave, batch).await?;
    Ok(respond(StatusCode::OK, "application/octet-stream", out))
}

/// A request's body, at most `limit` bytes, arriving within `timeout`: 408 when it does not
/// arrive in time, 413 when it is too large, 400 when the connection fails it.
pub(crate) async fn collect_body(
    req: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    tokio::time::timeout(timeout, Limited::new(req.into_body(), limit).collect())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request timeout: the body did not arrive in time",
            )
        })?
        .map(|collected| collected.to_bytes())
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request too large: the body may be at most {limit} bytes"),
                )
            } else {
                ApiError::bad_request(format!("invalid request: {e}"))
            }
        })
}

/// Refuses, before a byte of the body is read, a caller that can do nothing at this URL: no
/// certificate, or an identity that is not in the enclave (only the root acts without an
/// enclave). A client that announces a large body and never sends it then costs nothing.
async fn admit(node: &Node, caller: &Caller, enclave: &str) -> Result<(), ApiError> {
    if caller.is_root {
        return Ok(());
    }
    let Some(identity) = caller.identity.as_ref().filter(|_| !enclave.is_empty()) else {
        return Err(ApiError::forbidden());
    };
    let known = || {
        matches!(
            node.keystore.state().principal(enclave, identity.as_str()),
            Ok(Some(_))
        )
    };
    if known() {
        return Ok(());
    }
    // The identity may be being added right now: decide after that write, as a read would.
    let _ = node.cluster.readable(enclave, None).await;
    if known() {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}
