//! `minkms bench-baseline`: the least a server can do for `KEY:GENERATE` with this stack, as
//! the yardstick of BENCHMARKING.md's comparison. Same TLS configuration (certificate type,
//! client certificates requested, ALPN h2 and http/1.1), same hyper connection builder and the
//! same wire format as a node; per request it only collects the body, splits the frames, makes
//! a 32-byte data key and seals it with AES-256-GCM under one pre-expanded key. No keystore, no
//! authentication or policy, no per-message sub-key, no metrics: whatever minkms costs above
//! this is what its own work costs.
//!
//! `--bare` strips the stack too, to the least a hyper + rustls server is: one current-thread
//! runtime, no client certificate asked for, hyper's default settings and no timers. What the
//! node's stack (runtime, TLS and HTTP settings) costs above that is measured against it.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use minkms_client::wire::{GenerateKeyRequest, GenerateKeyResponse};
use minkms_client::{decode_frames, put_frame};
use prost::Message;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

use crate::api::http::MAX_BODY;
use crate::api::response::respond;
use crate::node::tls::{server_config, ServerCertificate};

/// Serves the baseline on `addr` until the process ends; `bare` on a current-thread runtime of
/// its own.
pub(crate) async fn run(addr: std::net::SocketAddr, bare: bool) -> anyhow::Result<()> {
    let cert = ServerCertificate::self_signed(vec![addr.ip().to_string(), "localhost".into()])?;
    if !bare {
        let (config, _) = server_config(cert)?;
        return serve(addr, config, true).await;
    }
    let mut config = rustls::ServerConfig::builder_with_provider(minkms_client::provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(cert.chain, cert.key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio::task::spawn_blocking(move || runtime.block_on(serve(addr, config, false))).await?
}

/// Serves `KEY:GENERATE` on `addr` with `config`; `timers` as a node sets them (HTTP/2
/// keep-alive), or hyper's defaults.
async fn serve(
    addr: std::net::SocketAddr,
    config: rustls::ServerConfig,
    timers: bool,
) -> anyhow::Result<()> {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(addr).await?;
    let mut key = Zeroizing::new([0u8; 32]);
    rand::thread_rng().fill_bytes(key.as_mut());
    let cipher = Arc::new(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key.as_ref())
            .map_err(|_| anyhow::anyhow!("AES-256-GCM key"))?,
    ));
    println!("Server is up: baseline on https://{addr}");
    loop {
        let (tcp, _) = listener.accept().await?;
        let (acceptor, cipher) = (acceptor.clone(), cipher.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req| generate(cipher.clone(), req));
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if timers {
                builder.http2().timer(TokioTimer::new());
            }
            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
        });
    }
}

/// Answers every frame of the body as a `KEY:GENERATE` of a 32-byte data key (any other
/// request, such as bench's set-up, gets an empty 200).
async fn generate(
    cipher: Arc<LessSafeKey>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let bad = || respond(StatusCode::BAD_REQUEST, "text/plain", Bytes::new());
    let Ok(body) = Limited::new(req.into_body(), MAX_BODY).collect().await else {
        return Ok(bad());
    };
    let Ok(frames) = decode_frames(&body.to_bytes(), 1000) else {
        return Ok(bad());
    };
    let mut out = BytesMut::new();
    let mut rng = rand::thread_rng();
    for frame in frames {
        if frame.id != minkms_client::Command::KeyGenerate.id() {
            continue;
        }
        let Ok(request) = GenerateKeyRequest::decode(frame.payload) else {
            return Ok(bad());
        };
        let mut plaintext = Zeroizing::new(vec![0u8; 32]);
        rng.fill_bytes(&mut plaintext);
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let mut ciphertext = Vec::with_capacity(12 + 32 + 16);
        ciphertext.extend_from_slice(&plaintext);
        if cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&request.associated_data),
                &mut ciphertext,
            )
            .is_err()
        {
            return Ok(bad());
        }
        ciphertext.extend_from_slice(&nonce);
        put_frame(
            &mut out,
            frame.id,
            &GenerateKeyResponse {
                version: 0,
                plaintext: plaintext.to_vec(),
                ciphertext,
            },
        );
    }
    Ok(respond(
        StatusCode::OK,
        "application/octet-stream",
        out.freeze(),
    ))
}
