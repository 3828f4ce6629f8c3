//! The audit log: one JSON line per API request (time, node, identity, enclave, command, the
//! names it touched, status, latency), never a secret: request bodies are reduced to the names
//! in their field 1 (key, policy, identity, enclave or host), never plaintexts, ciphertexts
//! or keys.
//!
//! Events go through a bounded channel to a writer thread, off the request's critical path. A
//! clean shutdown drains the channel before the process exits. `SIGHUP` reopens the file at its
//! path (log rotation without `copytruncate`): every event queued before the signal goes to the
//! old file, every later one to the new. A disk that refuses writes never stops the node:
//! what cannot be written is counted and dropped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// Events waiting for the writer before new ones are dropped (and counted).
const QUEUE: usize = 1 << 16;
/// Bytes of events waiting for the writer before new ones are dropped (and counted): events
/// are small, but the bound must not depend on it.
const QUEUE_BYTES: usize = 16 << 20;
/// What an event shows in place of a name that breaks the naming rule: such names come from
/// requests the node refuses, possibly unauthenticated ones, and must not cost log space.
const INVALID_NAME: &str = "(invalid name)";
/// Longest host name (`HOST:PORT`, with or without `https://`) an event shows.
const MAX_HOST_LEN: usize = 255;

/// Whether `name` may appear in an event as it is: a key, policy or enclave name by the
/// naming rule, an identity (`h1:…`), or a node's address.
fn loggable(name: &str) -> bool {
    minkms_keystore::validate_name(minkms_keystore::NameKind::Key, name).is_ok()
        || minkms_keystore::validate_identity(name).is_ok()
        || (name.len() <= MAX_HOST_LEN
            && name.contains(':')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:/[]".contains(&b)))
}

/// `name` when it is empty or [`loggable`], else [`INVALID_NAME`].
pub(crate) fn shown(name: &str) -> &str {
    if name.is_empty() || loggable(name) {
        name
    } else {
        INVALID_NAME
    }
}
/// At most this many names per event (batches of the same command can be large).
const MAX_NAMES: usize = 16;

/// Field 1 of every request message of the API: the name the command acts on.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct FirstField {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
}

/// The names a request's frames act on, without decoding anything else of them.
pub(crate) fn names(payloads: &[Bytes]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in payloads {
        let Ok(f) = FirstField::decode(p.clone()) else {
            continue;
        };
        let name = shown(&f.name);
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            if out.len() == MAX_NAMES {
                out.push("…".into());
                break;
            }
            out.push(name.to_string());
        }
    }
    out
}

/// A request as KES's audit stream (`GET /v1/log/audit`) shows it.
#[derive(Debug)]
pub(crate) struct StreamEvent {
    pub(crate) ip: String,
    pub(crate) path: String,
    pub(crate) identity: Option<minkms_client::Identity>,
    pub(crate) code: u16,
    pub(crate) elapsed: Duration,
}

/// The subscribers of the audit stream: every answered request while one listens, whether
/// or not an audit file is configured.
static STREAM: std::sync::LazyLock<tokio::sync::broadcast::Sender<Arc<StreamEvent>>> =
    std::sync::LazyLock::new(|| tokio::sync::broadcast::channel(1024).0);

/// Listens to the audit stream.
pub(crate) fn subscribe() -> tokio::sync::broadcast::Receiver<Arc<StreamEvent>> {
    STREAM.subscribe()
}

/// Sends an event to the audit stream's subscribers; builds it only when there is one.
pub(crate) fn publish(event: impl FnOnce() -> StreamEvent) {
    if STREAM.receiver_count() > 0 {
        let _ = STREAM.send(Arc::new(event()));
    }
}

/// One audit event.
#[derive(Debug, Serialize)]
pub(crate) struct Event<'a> {
    pub(crate) time: String,
    pub(crate) node: &'a str,
    pub(crate) remote: String,
    pub(crate) identity: &'a str,
    pub(crate) enclave: &'a str,
    pub(crate) command: &'a str,
    pub(crate) names: Vec<String>,
    pub(crate) status: u16,
    pub(crate) latency_us: u128,
}

enum Msg {
    Line(String),
    Reopen(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// The writer's file (or stdout), counting what it could not write.
struct Output {
    out: std::io::BufWriter<Box<dyn std::io::Write + Send>>,
    /// Bytes handed to `out` since its last successful flush: lost if the flush fails.
    pending: u64,
}

impl Output {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let out: Box<dyn std::io::Write + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                minkms_keystore::private_files::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        anyhow::anyhow!("cannot open the audit log {}: {e}", path.display())
                    })?,
            )
        };
        Ok(Self {
            out: std::io::BufWriter::new(out),
            pending: 0,
        })
    }

    fn write(&mut self, line: &[u8]) {
        self.pending += 1;
        if self.out.write_all(line).is_err() {
            self.failed();
        }
    }

    fn flush(&mut self) {
        if self.out.flush().is_err() {
            self.failed();
        }
        self.pending = 0;
    }

    /// A full or failing disk: the events in the buffer are lost. They are counted (the log
    /// could be on the same disk), and the buffer is emptied, or every later write would
    /// fail on the same bytes; the next event tries the file again.
    fn failed(&mut self) {
        metrics::counter!("minkms_audit_events_dropped_total").increment(self.pending);
        self.pending = 0;
        let old = std::mem::replace(
            &mut self.out,
            std::io::BufWriter::new(Box::new(std::io::sink())),
        );
        let (file, _lost) = old.into_parts();
        self.out = std::io::BufWriter::new(file);
    }
}

/// Where events go.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    tx: mpsc::Sender<Msg>,
    /// Bytes of the events in `tx`.
    queued: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl AuditLog {
    /// Starts the writer for `path` (`-` = stdout), appending.
    pub(crate) fn start(path: PathBuf) -> anyhow::Result<Self> {
        let mut out = Output::open(&path)?;
        let (tx, mut rx) = mpsc::channel::<Msg>(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let written = queued.clone();
        // A thread, not a task: writes block, and a slow disk must not stall a runtime worker.
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || {
                while let Some(msg) = rx.blocking_recv() {
                    match msg {
                        Msg::Line(line) => {
                            written.fetch_sub(line.len(), Ordering::Relaxed);
                            out.write(line.as_bytes());
                            if rx.is_empty() {
                                out.flush();
                            }
                        }
                        Msg::Reopen(done) => {
                            // Everything queued before the signal goes to the old file.
                            out.flush();
                            match Output::open(&path) {
                                Ok(new) => out = new,
                                Err(e) => tracing::error!(
                                    "{e:#}; audit events keep going to the file that was open"
                                ),
                            }
                            let _ = done.send(());
                        }
                        Msg::Close(done) => {
                            // Everything sent before Close is already written: the channel is FIFO.
                            out.flush();
                            let _ = done.send(());
                            return;
                        }
                    }
                }
                out.flush();
            })?;
        Ok(Self { tx, queued })
    }

    /// Reopens the file at its path (after `SIGHUP`): waits until every event queued before
    /// the call is written to the old file.
    pub(crate) async fn reopen(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Reopen(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Queues an event; never waits. A full queue drops the event and counts it.
    pub(crate) fn log(&self, event: &Event<'_>) {
        let Ok(mut line) = serde_json::to_string(event) else {
            return;
        };
        line.push('\n');
        let len = line.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > QUEUE_BYTES
            || self.tx.try_send(Msg::Line(line)).is_err()
        {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            metrics::counter!("minkms_audit_events_dropped_total").increment(1);
        }
    }

    /// Writes out every queued event (clean shutdown).
    pub(crate) async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{shown, INVALID_NAME};

    #[test]
    fn only_valid_names_are_shown() {
        let identity = format!("h1:{}", "A".repeat(43));
        for name in [
            "",
            "my-key",
            "127.0.0.1:7373",
            "https://kms-1.example:7373",
            &identity,
        ] {
            assert_eq!(shown(name), name);
        }
        let long_host = format!("{}:7373", "h".repeat(300));
        for name in ["a b", "ä", "x\ny", "../../etc", &"k".repeat(81), &long_host] {
            assert_eq!(shown(name), INVALID_NAME, "{name}");
        }
    }
}
