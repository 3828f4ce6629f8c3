//! `GET /v1/metrics` as KES answers it: only the `kes_*` families, each gauge and each
//! unlabelled counter with exactly one sample. KES's client refuses a family with no sample,
//! and any family but the three request counters with more than one, so minkms's own
//! families (on `/v1/health/metrics`) must never appear here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use parking_lot::Mutex;

use crate::node::state::Node;

/// KES's response-time buckets, in seconds.
const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 5.0, 10.0];

#[derive(Default)]
struct Counters {
    /// Answers by status code.
    by_code: Mutex<BTreeMap<u16, u64>>,
    active: AtomicI64,
    /// Answers per bucket (not cumulative), then those above the last bucket.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Total response time, in microseconds.
    total_us: AtomicU64,
    error_events: AtomicU64,
    audit_events: AtomicU64,
}

static COUNTERS: LazyLock<Counters> = LazyLock::new(Counters::default);

/// A KES key, policy or identity call in progress: counted active until dropped.
pub(crate) struct Active;

impl Active {
    pub(crate) fn start() -> Self {
        COUNTERS.active.fetch_add(1, Ordering::Relaxed);
        Self
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        COUNTERS.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts an answered key, policy or identity call.
pub(crate) fn record(status: u16, elapsed: Duration) {
    *COUNTERS.by_code.lock().entry(status).or_default() += 1;
    let secs = elapsed.as_secs_f64();
    let bucket = BUCKETS
        .iter()
        .position(|b| secs <= *b)
        .unwrap_or(BUCKETS.len());
    COUNTERS.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    COUNTERS
        .total_us
        .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
}

/// Counts a line written to a KES log stream subscriber.
pub(crate) fn log_event(audit: bool) {
    let counter = if audit {
        &COUNTERS.audit_events
    } else {
        &COUNTERS.error_events
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The exposition text (format 0.0.4).
pub(crate) fn render(node: &Node) -> String {
    let mut out = String::new();
    let by_code = COUNTERS.by_code.lock().clone();
    for (family, range, help) in [
        (
            "kes_http_request_success",
            200..300,
            "Requests answered with 2xx.",
        ),
        (
            "kes_http_request_error",
            400..500,
            "Requests answered with 4xx.",
        ),
        (
            "kes_http_request_failure",
            500..600,
            "Requests answered with 5xx.",
        ),
    ] {
        let samples: Vec<(u16, u64)> = by_code
            .iter()
            .filter(|(code, _)| range.contains(*code))
            .map(|(c, n)| (*c, *n))
            .collect();
        if samples.is_empty() {
            continue; // KES's client refuses a family without samples.
        }
        let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
        for (code, n) in samples {
            let _ = writeln!(out, "{family}{{code=\"{code}\"}} {n}");
        }
    }
    gauge(
        &mut out,
        "kes_http_request_active",
        "Requests in progress.",
        COUNTERS.active.load(Ordering::Relaxed) as f64,
    );
    let _ = writeln!(
        out,
        "# HELP kes_http_response_time Response time of requests.\n# TYPE kes_http_response_time histogram"
    );
    let mut cumulative = 0;
    for (i, bound) in BUCKETS.iter().enumerate() {
        cumulative += COUNTERS.buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "kes_http_response_time_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += COUNTERS.buckets[BUCKETS.len()].load(Ordering::Relaxed);
    let sum = COUNTERS.total_us.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(
        out,
        "kes_http_response_time_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(
        out,
        "kes_http_response_time_sum {sum}\nkes_http_response_time_count {cumulative}"
    );
    counter(
        &mut out,
        "kes_log_error_events",
        "Error log lines written to subscribers.",
        COUNTERS.error_events.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "kes_log_audit_events",
        "Audit log lines written to subscribers.",
        COUNTERS.audit_events.load(Ordering::Relaxed),
    );
    let s = node.status();
    let uptime = s.uptime.map_or(0, |u| u.seconds.max(0));
    gauge(
        &mut out,
        "kes_system_up_time",
        "Seconds since the node started.",
        uptime as f64,
    );
    gauge(
        &mut out,
        "kes_system_num_cpu",
        "CPUs available.",
        f64::from(s.sys_cpu_num.max(1)),
    );
    gauge(
        &mut out,
        "kes_system_num_cpu_used",
        "CPUs used.",
        f64::from(s.sys_cpu_used.max(1)),
    );
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
    gauge(
        &mut out,
        "kes_system_num_threads",
        "Threads of the process.",
        threads as f64,
    );
    gauge(
        &mut out,
        "kes_system_mem_heap_used",
        "Heap bytes in use.",
        s.heap_mem_in_use as f64,
    );
    gauge(
        &mut out,
        "kes_system_mem_heap_objects",
        "Heap allocations in use (not tracked: 0).",
        0.0,
    );
    gauge(
        &mut out,
        "kes_system_mem_stack_used",
        "Stack bytes in use.",
        s.stack_mem_in_use as f64,
    );
    out
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}
