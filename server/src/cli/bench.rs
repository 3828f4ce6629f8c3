//! `minkms bench`: loads a server through the real API (mTLS API key, HTTP/1.1 or HTTP/2,
//! batches) with a lean load generator (`load`), for a fixed duration after a warm-up, and
//! reports ops/s, latency percentiles and, given the server's pid, the server CPU time per
//! operation read from `/proc` (BENCHMARKING.md explains the method). The set-up (enclave, key,
//! a ciphertext to decrypt) and the soak go through the shared client.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{header, HeaderMap, HeaderValue, Method};
use minkms_client::wire::{
    CreateKeyRequest, DecryptRequest, EncryptRequest, GenerateKeyRequest, MacRequest,
};
use minkms_client::{client_config, ApiKey, Client, Command, HttpVersion, ServerTrust};
use serde_json::json;

use super::load::{self, Body, Request, Shape, Tally, Target, Window};

use crate::procfs::Pid;

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Op {
    /// KEY:GENERATE of a 32-byte data key (what MinIO sends for every object).
    Generate,
    /// KEY:ENCRYPT of 32 bytes.
    Encrypt,
    /// KEY:DECRYPT of a data key's ciphertext.
    Decrypt,
    /// KEY:MAC of 32 bytes.
    Hmac,
    /// KEY:CREATE of a new key: a write, fsynced (and replicated in a cluster).
    KeyCreate,
}

/// Options of `minkms bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) conn: super::args::Conn,
    /// Operation.
    #[arg(long, value_enum, default_value = "generate")]
    pub(crate) op: Op,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 10)]
    pub(crate) duration: u64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 2)]
    pub(crate) warmup: u64,
    /// Connections (one client each).
    #[arg(long, default_value_t = 4)]
    pub(crate) connections: usize,
    /// Requests in flight per connection (HTTP/2 streams; for HTTP/1.1 more in-flight
    /// requests open more connections).
    #[arg(long, default_value_t = 1)]
    pub(crate) concurrency: usize,
    /// Threads of the load generator (each with its own connections); by default one per
    /// core this process may run on.
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Operations per request (frames of one batch).
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: usize,
    /// HTTP version: 1 or 2.
    #[arg(long, default_value_t = 2)]
    pub(crate) http: u8,
    /// The server's pid on this machine, to report its CPU time per operation (repeat it for
    /// several nodes: their CPU time is added up; a soak samples each).
    #[arg(long)]
    pub(crate) server_pid: Vec<u32>,
    /// Instead of one operation, a mixed load for --duration seconds (generate, decrypt,
    /// encrypt, MAC, keys created and deleted, reconnecting clients, a quiet 10 s each
    /// minute) that samples every node's memory, open files and tasks and reports their
    /// trend after the warm-up.
    #[arg(long)]
    pub(crate) soak: bool,
    /// Seconds between two samples of a soak.
    #[arg(long, default_value_t = 5)]
    pub(crate) sample: u64,
    /// A soak reads the nodes only through /proc (--server-pid), never their metrics: a node
    /// nobody scrapes must stay bounded too.
    #[arg(long)]
    pub(crate) no_scrape: bool,
    /// Enclave and key to use (created if missing, with the root API key).
    #[arg(long, default_value = "bench")]
    pub(crate) enclave: String,
    /// Load an OpenBao (or Vault) server's transit engine instead, with this token: `generate`
    /// is `POST /v1/transit/datakey/plaintext/bench-key`, for comparison (BENCHMARKING.md). The
    /// transit engine and the key must exist.
    #[arg(long)]
    pub(crate) openbao_token: Option<String>,
}

/// An empty latency histogram: 1 µs to 60 s, 3 significant digits.
pub(crate) fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).context("latency histogram")
}

/// The servers' CPU time together, in microseconds.
fn cpu_us(pids: &[u32]) -> anyhow::Result<Option<u64>> {
    if pids.is_empty() {
        return Ok(None);
    }
    pids.iter()
        .map(|&pid| Pid::Other(pid).cpu_us())
        .sum::<anyhow::Result<u64>>()
        .map(Some)
}

/// How to make a client with connections of its own (one per load connection, and one per
/// reconnect of a soak worker).
#[derive(Debug, Clone)]
pub(crate) struct ClientSpec {
    servers: String,
    api_key: Option<ApiKey>,
    insecure: bool,
    http: HttpVersion,
}

impl ClientSpec {
    fn trust(&self) -> ServerTrust {
        if self.insecure {
            ServerTrust::Insecure
        } else {
            ServerTrust::default()
        }
    }

    pub(crate) fn build(&self) -> anyhow::Result<Client> {
        let mut b = Client::builder()
            .endpoints([self.servers.as_str()])
            .http_version(self.http);
        if let Some(k) = &self.api_key {
            b = b.api_key(k.clone());
        }
        Ok(b.trust(self.trust()).build()?)
    }
}

/// One `generate` against OpenBao's transit engine: what it answers MinIO's KES-style request
/// for a new data key with.
async fn openbao_generate(
    client: &Client,
    server: &str,
    token: &str,
    key: &str,
) -> Result<(), minkms_client::Error> {
    let config = |e: http::Error| minkms_client::Error::Config(e.to_string());
    let req = http::Request::post(format!(
        "https://{}/v1/transit/datakey/plaintext/{key}",
        minkms_client::normalize_endpoint(server)
    ))
    .header("x-vault-token", token)
    .header(header::CONTENT_TYPE, "application/json")
    .body(http_body_util::Full::new(Bytes::from_static(
        b"{\"bits\":256}",
    )))
    .map_err(config)?;
    let resp = client.request(req).await?;
    if resp.status.is_success() {
        Ok(())
    } else {
        Err(minkms_client::Error::Transport(format!(
            "OpenBao answered {}: {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        )))
    }
}

/// What each request of the load sends, and how its answer is checked.
fn request_of(args: &BenchArgs, key: &str, ciphertext: &[u8]) -> Request {
    let octets = HeaderValue::from_static("application/octet-stream");
    if args.openbao_token.is_some() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(token) = args
            .openbao_token
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            headers.insert("x-vault-token", token);
        }
        return Request {
            method: Method::POST,
            path: format!("/v1/transit/datakey/plaintext/{key}"),
            headers,
            body: Body::Same(Bytes::from_static(b"{\"bits\":256}")),
            frames: None,
        };
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, octets.clone());
    headers.insert(header::ACCEPT, octets);
    fn batch(cmd: Command, one: &impl prost::Message, n: usize) -> Bytes {
        let mut body = bytes::BytesMut::new();
        for _ in 0..n {
            minkms_client::put_frame(&mut body, cmd.id(), one);
        }
        body.freeze()
    }
    let n = args.batch;
    let body = match args.op {
        Op::Generate => batch(
            Command::KeyGenerate,
            &GenerateKeyRequest {
                name: key.into(),
                version: 0,
                associated_data: b"{}".to_vec(),
                length: 32,
            },
            n,
        ),
        Op::Encrypt => batch(
            Command::KeyEncrypt,
            &EncryptRequest {
                name: key.into(),
                version: 0,
                plaintext: vec![7; 32],
                associated_data: vec![],
            },
            n,
        ),
        Op::Decrypt => batch(
            Command::KeyDecrypt,
            &DecryptRequest {
                name: key.into(),
                version: 0,
                ciphertext: ciphertext.to_vec(),
                associated_data: b"{}".to_vec(),
            },
            n,
        ),
        Op::Hmac => batch(
            Command::KeyMac,
            &MacRequest {
                name: key.into(),
                version: 0,
                message: vec![7; 32],
            },
            n,
        ),
        Op::KeyCreate => {
            // Every request creates a key no other request (of any process) names.
            let pid = std::process::id();
            return Request {
                method: Method::POST,
                path: Client::kms_path(&args.enclave),
                headers,
                body: Body::Numbered(Arc::new(move |n| {
                    let mut body = bytes::BytesMut::new();
                    minkms_client::put_frame(
                        &mut body,
                        Command::KeyCreate.id(),
                        &CreateKeyRequest {
                            name: format!("bench-{pid}-{n}"),
                            ..Default::default()
                        },
                    );
                    body.freeze()
                })),
                // A write's answer carries nothing to check.
                frames: None,
            };
        }
    };
    Request {
        method: Method::POST,
        path: Client::kms_path(&args.enclave),
        headers,
        body: Body::Same(body),
        frames: Some(args.batch),
    }
}

/// Runs the benchmark and prints its report.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.connections > 0 && args.concurrency > 0 && args.batch > 0,
        "connections, concurrency and batch must be at least 1"
    );
    anyhow::ensure!(
        args.op != Op::KeyCreate || args.batch == 1,
        "key-create cannot be batched"
    );
    let http = match args.http {
        1 => HttpVersion::Http1,
        2 => HttpVersion::Http2,
        other => anyhow::bail!("--http must be 1 or 2, not {other}"),
    };
    let api_key = match (args.conn.api_key(), &args.openbao_token) {
        (Some(k), _) => Some(ApiKey::parse(k)?),
        (None, Some(_)) => None,
        (None, None) => anyhow::bail!("no API key: set MINIO_KMS_API_KEY or --api-key"),
    };
    let spec = ClientSpec {
        servers: args.conn.server()?.to_string(),
        api_key,
        insecure: args.conn.insecure,
        http,
    };
    let make = || spec.build();
    // Set-up: the enclave and key (ignoring "already exists"), and a ciphertext to decrypt.
    let setup = make()?;
    let key = "bench-key";
    let ciphertext = match &args.openbao_token {
        Some(token) => {
            anyhow::ensure!(
                args.op == Op::Generate && args.batch == 1,
                "OpenBao is benchmarked for --op generate, unbatched, only"
            );
            openbao_generate(&setup, &spec.servers, token, key)
                .await
                .context("set-up failed (are the transit engine and bench-key there?)")?;
            Vec::new()
        }
        None => {
            let _ = setup.create_enclave(&args.enclave).await;
            let _ = setup.create_key(&args.enclave, key, "", false).await;
            setup
                .generate_key(&args.enclave, key, b"{}", 32)
                .await
                .context("set-up failed")?
                .ciphertext
        }
    };

    if args.soak {
        anyhow::ensure!(
            args.openbao_token.is_none(),
            "a soak loads minkms nodes only"
        );
        return super::soak::run(args, spec, key, ciphertext).await;
    }
    let mut targets = Vec::new();
    for endpoint in spec
        .servers
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        targets.push(Target::resolve(&minkms_client::normalize_endpoint(endpoint)).await?);
    }
    let shape = Shape {
        http: args.http,
        connections: args.connections,
        concurrency: args.concurrency,
        threads: args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
    };
    let window = Arc::new(Window::default());
    let load = load::start(
        targets,
        client_config(spec.api_key.as_ref(), &spec.trust())?,
        request_of(&args, key, &ciphertext),
        &shape,
        window.clone(),
    )?;
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let cpu_before = cpu_us(&args.server_pid)?;
    let started = Instant::now();
    window.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    window.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu_after = cpu_us(&args.server_pid)?;
    window.stop.store(true, Ordering::Relaxed);
    let Tally {
        latency: hist,
        errors,
    } = load.await??;
    let requests = hist.len();
    let ops = requests * args.batch as u64;
    let ops_per_s = ops as f64 / elapsed.as_secs_f64();
    let cpu_per_op = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) if ops > 0 => Some((a - b) as f64 / ops as f64),
        _ => None,
    };
    let report = json!({
        "op": clap::ValueEnum::to_possible_value(&args.op).map(|v| v.get_name().to_string()).unwrap_or_default(),
        "http": args.http,
        "connections": args.connections,
        "concurrency": args.concurrency,
        "batch": args.batch,
        "seconds": elapsed.as_secs_f64(),
        "requests": requests,
        "ops": ops,
        "errors": errors,
        "ops_per_s": ops_per_s,
        "latency_us": { "p50": hist.value_at_quantile(0.5), "p99": hist.value_at_quantile(0.99), "p999": hist.value_at_quantile(0.999), "max": hist.max() },
        "server_cpu_us_per_op": cpu_per_op,
    });
    if args.conn.json {
        super::output::json(&report);
    } else {
        super::output::fields(&[
            (
                "Operation",
                format!(
                    "{:?} (HTTP/{}, {} conns × {} in flight, batch {})",
                    args.op, args.http, args.connections, args.concurrency, args.batch
                ),
            ),
            (
                "Throughput",
                format!(
                    "{ops_per_s:.0} ops/s ({ops} ops in {:.1} s, {errors} errors)",
                    elapsed.as_secs_f64()
                ),
            ),
            (
                "Latency",
                format!(
                    "p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs (per request)",
                    hist.value_at_quantile(0.5),
                    hist.value_at_quantile(0.99),
                    hist.value_at_quantile(0.999),
                    hist.max()
                ),
            ),
            (
                "Server CPU",
                cpu_per_op.map_or("unknown (give --server-pid)".into(), |c| {
                    format!("{c:.2} µs per op")
                }),
            ),
        ]);
    }
    Ok(())
}
