//! `minkms bench --soak`: a long, mixed load that watches the nodes for growth.
//!
//! A node that serves for days must keep its memory, file descriptors and tasks bounded. The
//! soak drives one node or a cluster with what a deployment sees (data keys generated and
//! decrypted, some encryption and MACs, keys created and deleted, clients that reconnect every
//! few requests, quiet periods) and samples every node at a fixed interval: resident memory,
//! open files and threads from `/proc` for `--server-pid`s on this machine, and the same plus
//! live tasks from each endpoint's `/v1/health/metrics` unless `--no-scrape` (a node that
//! nobody scrapes must stay bounded too). After the warm-up it fits a line to each series and
//! reports its slope per million requests and per hour (BENCHMARKING.md, "Soak").

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use minkms_client::Client;
use serde::Serialize;

use super::bench::{BenchArgs, ClientSpec};
use crate::procfs::Pid;

/// Of each minute of load, the last this many seconds are quiet: clients keep their
/// connections open and send nothing, as applications do between bursts.
const IDLE_PER_MINUTE: u64 = 10;
/// A reconnecting client opens a new TLS connection after this many requests.
const CHURN_EVERY: u64 = 5;

/// What a soak worker sends, with how many of every 100 requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
enum SoakOp {
    Generate,
    Decrypt,
    Encrypt,
    Hmac,
    /// A key created and deleted again (two writes): state churns, it does not grow.
    KeyCreateDelete,
}

impl SoakOp {
    const MIX: [(SoakOp, u32); 5] = [
        (SoakOp::Generate, 55),
        (SoakOp::Decrypt, 25),
        (SoakOp::Encrypt, 10),
        (SoakOp::Hmac, 8),
        (SoakOp::KeyCreateDelete, 2),
    ];

    fn pick() -> SoakOp {
        let mut n = rand::random::<u32>() % 100;
        for (op, share) in Self::MIX {
            if n < share {
                return op;
            }
            n -= share;
        }
        SoakOp::Generate
    }
}

/// Counts shared by the workers.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    by_op: parking_lot::Mutex<BTreeMap<SoakOp, (u64, u64)>>,
}

impl Counters {
    fn add(&self, op: SoakOp, requests: u64, ok: bool) {
        self.requests.fetch_add(requests, Ordering::Relaxed);
        let mut by_op = self.by_op.lock();
        let entry = by_op.entry(op).or_default();
        if ok {
            entry.0 += requests;
        } else {
            entry.1 += 1;
        }
    }
}

async fn send(client: &Client, enclave: &str, key: &str, ciphertext: &[u8], op: SoakOp) -> bool {
    match op {
        SoakOp::Generate => client.generate_key(enclave, key, b"{}", 32).await.is_ok(),
        SoakOp::Decrypt => client
            .decrypt(enclave, key, 0, ciphertext, b"{}")
            .await
            .is_ok(),
        SoakOp::Encrypt => client.encrypt(enclave, key, &[7; 32], b"").await.is_ok(),
        SoakOp::Hmac => client.mac(enclave, key, 0, &[7; 32]).await.is_ok(),
        SoakOp::KeyCreateDelete => {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name = format!(
                "soak-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            client.create_key(enclave, &name, "", false).await.is_ok()
                && client.delete_key(enclave, &name, 0, true).await.is_ok()
        }
    }
}

/// One reading of every series: `"NODE METRIC"` → value.
#[derive(Debug, Serialize)]
struct Sample {
    seconds: f64,
    requests: u64,
    values: BTreeMap<String, f64>,
}

/// The gauges of a metrics text that a soak follows.
fn scraped(text: &str) -> impl Iterator<Item = (&'static str, f64)> + '_ {
    const FOLLOWED: [(&str, &str); 4] = [
        ("process_resident_memory_bytes", "resident_bytes"),
        ("process_open_fds", "open_fds"),
        ("process_threads", "threads"),
        ("minkms_tokio_tasks", "tasks"),
    ];
    text.lines().filter_map(|line| {
        let (name, value) = line.split_once(' ')?;
        let (_, short) = FOLLOWED.iter().find(|(n, _)| *n == name)?;
        Some((*short, value.trim().parse().ok()?))
    })
}

async fn sample(args: &BenchArgs, scraper: &Client, started: Instant, requests: u64) -> Sample {
    let mut values = BTreeMap::new();
    for &pid in &args.server_pid {
        let pid_name = format!("pid {pid}");
        let p = Pid::Other(pid);
        for (metric, reading) in [
            ("resident_bytes", p.resident_bytes()),
            ("open_fds", p.open_fds()),
            ("threads", p.threads()),
        ] {
            if let Ok(v) = reading {
                values.insert(format!("{pid_name} {metric}"), v as f64);
            }
        }
    }
    if !args.no_scrape {
        for host in scraper.endpoints() {
            let Ok(resp) = scraper
                .send_to(
                    host,
                    http::Method::GET,
                    "/v1/health/metrics",
                    Default::default(),
                )
                .await
            else {
                continue;
            };
            for (metric, v) in scraped(&String::from_utf8_lossy(&resp.body)) {
                values.insert(format!("{host} {metric}"), v);
            }
        }
    }
    Sample {
        seconds: started.elapsed().as_secs_f64(),
        requests,
        values,
    }
}

/// The slope of the least-squares line through `points` (0 with fewer than two distinct xs).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// How one series moved after the warm-up.
#[derive(Debug, Serialize)]
struct Trend {
    start: f64,
    end: f64,
    min: f64,
    max: f64,
    per_million_requests: f64,
    per_hour: f64,
}

fn trends(samples: &[Sample], warmup: f64) -> BTreeMap<String, Trend> {
    let measured: Vec<&Sample> = samples.iter().filter(|s| s.seconds >= warmup).collect();
    let mut out = BTreeMap::new();
    let names: std::collections::BTreeSet<&String> =
        measured.iter().flat_map(|s| s.values.keys()).collect();
    for name in names {
        let points: Vec<(&Sample, f64)> = measured
            .iter()
            .filter_map(|s| Some((*s, *s.values.get(name)?)))
            .collect();
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        let by_requests: Vec<(f64, f64)> = points
            .iter()
            .map(|(s, v)| (s.requests as f64, *v))
            .collect();
        let by_time: Vec<(f64, f64)> = points.iter().map(|(s, v)| (s.seconds, *v)).collect();
        out.insert(
            name.clone(),
            Trend {
                start: first.1,
                end: last.1,
                min: points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
                max: points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
                per_million_requests: slope(&by_requests) * 1e6,
                per_hour: slope(&by_time) * 3600.0,
            },
        );
    }
    out
}

/// Runs the soak and prints its report.
pub(super) async fn run(
    args: BenchArgs,
    spec: ClientSpec,
    key: &str,
    ciphertext: Vec<u8>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.server_pid.is_empty() || !args.no_scrape,
        "--no-scrape needs --server-pid: nothing would be sampled"
    );
    anyhow::ensure!(args.sample > 0, "--sample must be at least 1 second");
    let scraper = spec.build()?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let idle = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    let mut shared = Arc::new(spec.build()?);
    for worker in 0..args.connections * args.concurrency {
        if worker % args.concurrency == 0 {
            shared = Arc::new(spec.build()?);
        }
        // Every fourth worker reconnects every few requests on a connection of its own; the
        // others share their connection's.
        let reconnects = (worker % 4 == 0).then(|| spec.clone());
        let mut client = match &reconnects {
            Some(spec) => Arc::new(spec.build()?),
            None => shared.clone(),
        };
        let (counters, stop, idle) = (counters.clone(), stop.clone(), idle.clone());
        let (enclave, key, ciphertext) =
            (args.enclave.clone(), key.to_string(), ciphertext.clone());
        workers.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if idle.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                if let Some(spec) = &reconnects {
                    if sent > 0 && sent.is_multiple_of(CHURN_EVERY) {
                        if let Ok(c) = spec.build() {
                            client = Arc::new(c);
                        }
                    }
                }
                let op = SoakOp::pick();
                let ok = send(&client, &enclave, &key, &ciphertext, op).await;
                let requests = if op == SoakOp::KeyCreateDelete { 2 } else { 1 };
                counters.add(op, requests, ok);
                sent += 1;
            }
        }));
    }

    let started = Instant::now();
    let total = Duration::from_secs(args.warmup + args.duration);
    let interval = Duration::from_secs(args.sample);
    let mut samples = Vec::new();
    let mut next = started;
    while started.elapsed() < total {
        let minute = started.elapsed().as_secs() % 60;
        idle.store(minute >= 60 - IDLE_PER_MINUTE, Ordering::Relaxed);
        if Instant::now() >= next {
            let requests = counters.requests.load(Ordering::Relaxed);
            samples.push(sample(&args, &scraper, started, requests).await);
            next += interval;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.context("a soak worker failed")?;
    }
    let requests = counters.requests.load(Ordering::Relaxed);
    samples.push(sample(&args, &scraper, started, requests).await);
    report(&args, &counters, started.elapsed(), samples)
}

fn report(
    args: &BenchArgs,
    counters: &Counters,
    elapsed: Duration,
    samples: Vec<Sample>,
) -> anyhow::Result<()> {
    let requests = counters.requests.load(Ordering::Relaxed);
    let by_op = counters.by_op.lock().clone();
    let errors: u64 = by_op.values().map(|(_, e)| e).sum();
    let trends = trends(&samples, args.warmup as f64);
    if args.conn.json {
        super::output::json(&serde_json::json!({
            "mode": "soak",
            "seconds": elapsed.as_secs_f64(),
            "warmup": args.warmup,
            "requests": requests,
            "errors": errors,
            "ops": by_op.iter().map(|(op, (ok, err))| (serde_json::to_value(op).unwrap_or_default().as_str().unwrap_or_default().to_string(), serde_json::json!({"requests": ok, "errors": err}))).collect::<serde_json::Map<_, _>>(),
            "trends": trends,
            "samples": samples,
        }));
        return Ok(());
    }
    let mut fields = vec![
        (
            "Soak".to_string(),
            format!(
                "{requests} requests in {:.0} s ({:.0}/s), {errors} errors; trends after {} s of warm-up",
                elapsed.as_secs_f64(),
                requests as f64 / elapsed.as_secs_f64(),
                args.warmup
            ),
        ),
    ];
    for (name, t) in &trends {
        fields.push((
            name.clone(),
            format!(
                "{} → {} (min {}, max {}); {:+.1} per million requests, {:+.1} per hour",
                t.start, t.end, t.min, t.max, t.per_million_requests, t.per_hour
            ),
        ));
    }
    let fields: Vec<(&str, String)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    super::output::fields(&fields);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_noise() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        let flat = [(0.0, 5.0), (1.0, 6.0), (2.0, 4.0), (3.0, 5.0)];
        assert!(slope(&flat).abs() < 0.5);
        assert_eq!(slope(&[(1.0, 2.0)]), 0.0);
        assert_eq!(slope(&[(1.0, 2.0), (1.0, 9.0)]), 0.0);
    }

    #[test]
    fn the_mix_adds_up_to_a_hundred_and_every_op_is_picked() {
        assert_eq!(SoakOp::MIX.iter().map(|(_, s)| s).sum::<u32>(), 100);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..10_000 {
            seen.insert(SoakOp::pick());
        }
        assert_eq!(seen.len(), SoakOp::MIX.len());
    }

    #[test]
    fn scraped_gauges_are_found_by_name_and_others_ignored() {
        let text = "# HELP process_open_fds x\nprocess_open_fds 17\nprocess_open_fds_max 9\nminkms_tokio_tasks 42\nminkms_commit 3\n";
        let got: Vec<_> = scraped(text).collect();
        assert_eq!(got, vec![("open_fds", 17.0), ("tasks", 42.0)]);
    }

    #[test]
    fn trends_skip_the_warm_up_and_scale_per_million_and_per_hour() {
        let samples: Vec<Sample> = (0..10)
            .map(|i| Sample {
                seconds: i as f64 * 10.0,
                requests: i * 100_000,
                values: [(
                    "n rss".to_string(),
                    if i < 3 { 0.0 } else { 1000.0 + i as f64 * 50.0 },
                )]
                .into(),
            })
            .collect();
        let t = &trends(&samples, 30.0)["n rss"];
        assert_eq!(t.start, 1150.0);
        assert_eq!(t.end, 1450.0);
        assert_eq!(t.min, 1150.0);
        // 50 per 100,000 requests and per 10 s.
        assert!((t.per_million_requests - 500.0).abs() < 1e-6);
        assert!((t.per_hour - 18_000.0).abs() < 1e-6);
    }
}
