//! `minkms server`: open the keystore, bind, print the banner, serve.

mod auth;
pub(crate) mod config;
mod error;
mod http;
mod kms;
mod node;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use minkms_client::ApiKey;
use minkms_hsm::{BackendSet, SealingBackend, SoftHsm};
use minkms_keystore::Keystore;
use secrecy::ExposeSecret;

pub(crate) use node::VERSION;

/// The label under which the root API key is derived from the communication secret.
const ROOT_API_KEY_PURPOSE: &str = "minkms/v1/root-api-key";

/// Options of `minkms server`.
#[derive(Debug)]
pub(crate) struct ServerOptions {
    pub(crate) dir: Option<PathBuf>,
    pub(crate) addr: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) config: Option<PathBuf>,
    pub(crate) dev: bool,
    /// `MINIO_KMS_HSM_KEY`.
    pub(crate) hsm_key: Option<zeroize::Zeroizing<String>>,
}

/// The root API key of an HSM set.
pub(crate) fn root_api_key(hsms: &BackendSet) -> anyhow::Result<ApiKey> {
    let seed = hsms.derive_key(ROOT_API_KEY_PURPOSE)?;
    Ok(ApiKey::from_seed(*seed.expose_secret()))
}

fn parse_addr(addr: &str) -> anyhow::Result<SocketAddr> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    };
    use std::net::ToSocketAddrs as _;
    full.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("invalid address '{addr}': expected HOST:PORT or :PORT"))
}

fn open_keystore(dir: &Path, hsms: &BackendSet) -> anyhow::Result<Keystore> {
    // Any failure here leaves the disk as it was; the message is what operators search for.
    Keystore::open_or_create(dir, hsms).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs a node until SIGINT/SIGTERM.
pub(crate) async fn run(opts: ServerOptions) -> anyhow::Result<()> {
    let config = match &opts.config {
        Some(path) => config::Config::load(path)?,
        None => config::Config::default(),
    };
    crate::logging::init(config.log.level.as_deref());

    let (hsm_key, generated_key) = match (opts.hsm_key, opts.dev) {
        (Some(k), _) => (k, false),
        (None, true) => (SoftHsm::generate_key(), true),
        (None, false) => anyhow::bail!("MINIO_KMS_HSM_KEY is not set: generate one with 'minkms --soft-hsm' (or try 'minkms server --dev')"),
    };
    let soft: Arc<dyn SealingBackend> =
        Arc::new(SoftHsm::parse(&hsm_key).map_err(|e| anyhow::anyhow!("MINIO_KMS_HSM_KEY: {e}"))?);
    let hsms = BackendSet::single(soft);

    let dir = match (&opts.dir, opts.dev) {
        (Some(d), _) => d.clone(),
        (None, true) => std::env::temp_dir().join(format!("minkms-dev-{}", uuid::Uuid::new_v4())),
        (None, false) => anyhow::bail!("no data directory given: minkms server [OPTIONS] DIR"),
    };
    let keystore = open_keystore(&dir, &hsms)?;
    let root = root_api_key(&hsms)?;

    let addr = parse_addr(opts.addr.as_deref().unwrap_or(if opts.dev {
        "127.0.0.1:7373"
    } else {
        "0.0.0.0:7373"
    }))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let host = match &opts.host {
        Some(h) => h.clone(),
        None if addr.ip().is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        None => addr.to_string(),
    };

    if config.tls.certs.len() > 1 {
        tracing::warn!(
            count = config.tls.certs.len(),
            "several tls.certs configured: only the first is used"
        );
    }
    let self_signed = config.tls.certs.is_empty();
    let cert = match config.tls.certs.first() {
        Some(pair) => tls::ServerCertificate::from_pem_files(&pair.cert, &pair.key)?,
        None => {
            let mut names = vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
            ];
            let host_name = host
                .rsplit_once(':')
                .map_or(host.as_str(), |(h, _)| h)
                .trim_matches(['[', ']']);
            names.push(host_name.to_string());
            if !addr.ip().is_unspecified() {
                names.push(addr.ip().to_string());
            }
            names.sort();
            names.dedup();
            tls::ServerCertificate::self_signed(names)?
        }
    };
    if let Some(ca) = &config.tls.ca {
        // Kept for inter-node TLS; API clients are never chain-verified (API.md §1).
        anyhow::ensure!(ca.exists(), "tls.ca {} does not exist", ca.display());
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls::server_config(cert)?));

    let info = keystore.info().clone();
    let node = Arc::new(node::Node {
        keystore,
        root: root.identity().clone(),
        host: host.clone(),
        started: Instant::now(),
        configured_hsms: hsms.ids(),
    });
    tracing::info!(dir = %dir.display(), %addr, host = %host, created = info.created, "node started");

    print_banner(
        &info,
        &host,
        &hsms,
        &root,
        generated_key.then_some(hsm_key.as_str()),
        opts.dev.then_some(dir.as_path()),
        self_signed,
    );
    http::serve(listener, acceptor, node, shutdown_signal()).await;
    tracing::info!("shutting down");
    Ok(())
}

fn print_banner(
    info: &minkms_keystore::StoreInfo,
    host: &str,
    hsms: &BackendSet,
    root: &ApiKey,
    dev_hsm_key: Option<&str>,
    dev_dir: Option<&Path>,
    self_signed: bool,
) {
    use std::io::Write as _;
    let mut out = String::new();
    out.push_str(&format!("Version        {VERSION}\n"));
    out.push_str(&format!("HSM            {}\n", hsms.ids().join(", ")));
    out.push_str(&format!("Cluster        ID      {}\n", info.cluster_id));
    out.push_str(&format!("               Node 0: {host} <-\n\n"));
    out.push_str(&format!("Endpoint       https://{host}\n"));
    out.push_str(&format!("API Key        {}\n", &*root.to_secret_string()));
    if self_signed {
        out.push_str("TLS            self-signed certificate: clients need --insecure (-k)\n");
    }
    if let Some(key) = dev_hsm_key {
        out.push_str(&format!("\nDevelopment mode, generated HSM key (restart with MINIO_KMS_HSM_KEY=...):\nHSM Key        {key}\n"));
    }
    if let Some(dir) = dev_dir {
        out.push_str(&format!("Data           {}\n", dir.display()));
    }
    out.push_str("\n=> Server is up and running...\n");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
