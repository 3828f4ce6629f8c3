//! The audit log: one JSON line per API request (time, node, identity, enclave, command, the
//! names it touched, status, latency), never a secret: request bodies are reduced to the names
//! in their field 1 (key, policy, identity, enclave or host), never plaintexts, ciphertexts
//! or keys.
//!
//! Events go through a bounded channel to a writer task, off the request's critical path. A
//! clean shutdown drains the channel before the process exits.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// Events waiting for the writer before new ones are dropped (and counted).
const QUEUE: usize = 1 << 16;
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
        if !f.name.is_empty() && !out.contains(&f.name) {
            if out.len() == MAX_NAMES {
                out.push("…".into());
                break;
            }
            out.push(f.name);
        }
    }
    out
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
    Close(oneshot::Sender<()>),
}

/// Where events go.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl AuditLog {
    /// Starts the writer for `path` (`-` = stdout), appending.
    pub(crate) fn start(path: PathBuf) -> anyhow::Result<Self> {
        let mut out: Box<dyn std::io::Write + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| {
                    anyhow::anyhow!("cannot open the audit log {}: {e}", path.display())
                })?;
            Box::new(std::io::BufWriter::new(file))
        };
        let (tx, mut rx) = mpsc::channel::<Msg>(QUEUE);
        // A thread, not a task: writes block, and a slow disk must not stall a runtime worker.
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || {
                while let Some(msg) = rx.blocking_recv() {
                    match msg {
                        Msg::Line(line) => {
                            let _ = out.write_all(line.as_bytes());
                            if rx.is_empty() {
                                let _ = out.flush();
                            }
                        }
                        Msg::Close(done) => {
                            // Everything sent before Close is already written: the channel is FIFO.
                            let _ = out.flush();
                            let _ = done.send(());
                            return;
                        }
                    }
                }
                let _ = out.flush();
            })?;
        Ok(Self { tx })
    }

    /// Queues an event; never waits. A full queue drops the event and counts it.
    pub(crate) fn log(&self, event: &Event<'_>) {
        let Ok(mut line) = serde_json::to_string(event) else {
            return;
        };
        line.push('\n');
        if self.tx.try_send(Msg::Line(line)).is_err() {
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
