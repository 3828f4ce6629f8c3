//! Structured logs on stderr (stdout carries the banner and command output).
//! Level: `MINIO_KMS_LOG_LEVEL`, else `RUST_LOG`, else the config's `log.level`, else `info`.

use tracing_subscriber::EnvFilter;

pub(crate) fn init(config_level: Option<&str>) {
    let filter = std::env::var("MINIO_KMS_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .or_else(|| config_level.map(str::to_string))
        .unwrap_or_else(|| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
