//! Structured logs on stderr (stdout carries the banner and command output), and the live
//! stream of them that `POST /v1/debug/log` (and `minkms log`) follows.
//! Level: `MINIO_KMS_LOG_LEVEL`, else `RUST_LOG`, else the config's `log.level`, else `info`.
//! Format: `--log-format`, else the config's `log.format`, else `text`.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use minkms_client::wire::LogRecord;
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

pub(crate) use minkms_config::LogFormat;

/// Records queued per follower before the slowest ones miss some.
const STREAM_BUFFER: usize = 1024;
/// The client reads records into a 4 KiB buffer (API.md §2.1): keep each below it.
const MAX_MESSAGE: usize = 3800;

fn stream() -> &'static broadcast::Sender<Arc<LogRecord>> {
    static STREAM: OnceLock<broadcast::Sender<Arc<LogRecord>>> = OnceLock::new();
    STREAM.get_or_init(|| broadcast::channel(STREAM_BUFFER).0)
}

/// Follows the log from now on.
pub(crate) fn follow() -> broadcast::Receiver<Arc<LogRecord>> {
    stream().subscribe()
}

/// The slog level of a tracing level.
pub(crate) fn slog_level(level: &Level) -> i32 {
    match *level {
        Level::ERROR => 8,
        Level::WARN => 4,
        Level::INFO => 0,
        Level::DEBUG => -4,
        Level::TRACE => -8,
    }
}

/// Turns events into [`LogRecord`]s for followers; costs nothing while nobody follows.
struct StreamLayer;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for StreamLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let sender = stream();
        if sender.receiver_count() == 0 {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let mut text = message.0;
        if text.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let record = LogRecord {
            level: slog_level(event.metadata().level()),
            time: Some(prost_types::Timestamp {
                seconds: now.as_secs() as i64,
                nanos: now.subsec_nanos() as i32,
            }),
            message: text,
            req: Some(Default::default()),
        };
        let _ = sender.send(Arc::new(record));
    }
}

pub(crate) fn init(config_level: Option<&str>, format: LogFormat) {
    let filter = std::env::var("MINIO_KMS_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .or_else(|| config_level.map(str::to_string))
        .unwrap_or_else(|| "info".into());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let base = tracing_subscriber::registry()
        .with(filter)
        .with(StreamLayer);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => base
            .with(fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())))
            .try_init(),
        LogFormat::Json => base.with(fmt.json().flatten_event(true)).try_init(),
    };
}
