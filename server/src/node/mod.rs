//! `minkms server`: open the keystore, bind, print the banner, serve.

pub(crate) use minkms_config as config;
pub(crate) mod hsm;
pub(crate) mod state;
pub(crate) mod tls;
pub(crate) mod volume;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use minkms_client::ApiKey;
use minkms_hsm::{BackendSet, HsmError, SoftHsm};
use minkms_keystore::{Keystore, OpenError};
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::api::gate::Gate;
use crate::api::{audit, http, metrics};
use crate::cluster::{self, peer};

pub(crate) use state::VERSION;

/// The label under which the root API key is derived from the communication secret.
const ROOT_API_KEY_PURPOSE: &str = minkms_hsm::labels::ROOT_API_KEY;

/// Options of `minkms server`.
#[derive(Debug)]
pub(crate) struct ServerOptions {
    pub(crate) dir: Option<PathBuf>,
    pub(crate) addr: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) config: Option<PathBuf>,
    pub(crate) dev: bool,
    /// `--log-format`.
    pub(crate) log_format: Option<crate::logging::LogFormat>,
    /// `MINIO_KMS_HSM_KEY`.
    pub(crate) hsm_key: Option<Zeroizing<String>>,
}

/// The root API key of an HSM set.
pub(crate) fn root_api_key(hsms: &BackendSet) -> Result<ApiKey, HsmError> {
    let seed = hsms.derive_key(ROOT_API_KEY_PURPOSE)?;
    Ok(ApiKey::from_seed(*seed.expose_secret()))
}

/// The name a node is known by (`--host`): `HOST:PORT`, what peers and clients dial. A scheme
/// is dropped; a missing or zero port is refused, since nobody could dial it.
fn parse_host(host: &str) -> anyhow::Result<(String, u16)> {
    let bare = host
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let invalid = || {
        anyhow::anyhow!(
            "invalid --host '{host}': expected HOST:PORT, the address other nodes and clients dial (e.g. node0.example.net:7373)"
        )
    };
    let (name, port) = bare.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(invalid)?;
    let bracketed = name.starts_with('[') && name.ends_with(']');
    if name.is_empty() || (name.contains(':') && !bracketed) || name.contains('/') {
        return Err(invalid());
    }
    Ok((bare.to_string(), port))
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

/// What unsealing yields.
struct Unsealed {
    keystore: Keystore,
    hsms: BackendSet,
    root: ApiKey,
    peer: peer::Peer,
    left_out: Vec<String>,
}

/// Why an unseal attempt failed: worth another try (an HSM that cannot be reached now), or not
/// (a wrong key, wrong credentials, a wrong configuration: retrying would not help, and real
/// HSMs lock out users who retry wrong PINs).
enum AttemptError {
    Retry(String),
    Fatal(anyhow::Error),
}

impl From<HsmError> for AttemptError {
    fn from(e: HsmError) -> Self {
        match e {
            HsmError::Unavailable(_) => AttemptError::Retry(e.to_string()),
            other => AttemptError::Fatal(anyhow::anyhow!("{other}")),
        }
    }
}

impl From<OpenError> for AttemptError {
    fn from(e: OpenError) -> Self {
        let retry = match &e {
            OpenError::Unseal(u) => u.retryable,
            OpenError::Seal { source, .. } => matches!(source, HsmError::Unavailable(_)),
            OpenError::Storage(_) => false,
        };
        if retry {
            AttemptError::Retry(e.to_string())
        } else {
            AttemptError::Fatal(anyhow::anyhow!("{e}"))
        }
    }
}

/// One attempt: connect the HSMs, open (or create) the keystore, derive the root API key.
/// Leaves the disk unchanged when it fails.
fn try_unseal(
    section: &config::HsmSection,
    soft_key: Option<&str>,
    dir: &Path,
) -> Result<Unsealed, AttemptError> {
    let connected = hsm::backends(soft_key, section)?;
    let hsms = connected.set;
    // Derive first: a communication HSM that cannot derive must fail before the disk is touched.
    let root = root_api_key(&hsms)?;
    let peer = peer::Peer::derive(&hsms)?;
    let keystore = match Keystore::open_or_create(dir, &hsms) {
        Ok(keystore) => keystore,
        // Some HSM could not be reached and the others could not unseal: it may be the one.
        Err(e @ OpenError::Unseal(_)) if !connected.unavailable.is_empty() => {
            return Err(AttemptError::Retry(format!(
                "{e}; unreachable: {}",
                connected.unavailable.join("; ")
            )));
        }
        Err(OpenError::Storage(why)) => {
            // Say where: "Read-only file system" alone does not tell the operator which one.
            return Err(OpenError::Storage(
                why.within(format!("cannot open the database in {}", dir.display())),
            )
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    for why in &connected.unavailable {
        tracing::warn!(hsm = %why, "HSM unreachable; unsealed without it (restart once it is back to seal for it if it has no sealed copy)");
    }
    Ok(Unsealed {
        keystore,
        hsms,
        root,
        peer,
        left_out: connected.unavailable,
    })
}

/// Unseals, retrying with backoff (1 s doubling to 30 s) while HSMs cannot be reached. The node
/// answers health checks meanwhile, reporting itself sealed.
async fn unseal(
    config: Arc<config::Config>,
    soft_key: Option<Zeroizing<String>>,
    dir: PathBuf,
    gate: Arc<Gate>,
) -> anyhow::Result<Unsealed> {
    let soft_key = Arc::new(soft_key);
    let mut delay = Duration::from_secs(1);
    loop {
        let (config, soft_key, dir) = (config.clone(), soft_key.clone(), dir.clone());
        let attempt = tokio::task::spawn_blocking(move || {
            try_unseal(
                &config.hsm,
                soft_key.as_ref().as_ref().map(|k| k.as_str()),
                &dir,
            )
        })
        .await
        .map_err(|e| anyhow::anyhow!("unsealing failed: {e}"))?;
        match attempt {
            Ok(unsealed) => return Ok(unsealed),
            Err(AttemptError::Fatal(e)) => return Err(e),
            Err(AttemptError::Retry(cause)) => {
                tracing::warn!(%cause, retry_in_s = delay.as_secs(), "cannot unseal yet: an HSM is unreachable; the node stays sealed");
                // Clients learn that the node is sealed, not hosts or addresses of its HSMs.
                gate.set_sealed_reason(
                    "an HSM is unreachable; retrying (the node's log says which)".into(),
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Runs a node until SIGINT/SIGTERM.
pub(crate) async fn run(opts: ServerOptions) -> anyhow::Result<()> {
    let config = Arc::new(match &opts.config {
        Some(path) => config::Config::load(path)?,
        None => config::Config::default(),
    });
    crate::logging::init(
        config.log.level.as_deref(),
        opts.log_format.or(config.log.format).unwrap_or_default(),
    );
    // Registered first: from here on SIGHUP (log rotation) never ends the process.
    let hangups = hangups();

    let (hsm_key, generated_key) = match (opts.hsm_key, opts.dev) {
        (Some(k), _) => (Some(k), false),
        (None, true) => (Some(SoftHsm::generate_key()), true),
        (None, false) => (None, false),
    };
    hsm::check(hsm_key.as_ref().map(|k| k.as_str()), &config.hsm)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if generated_key {
        if let Some(d) = &opts.dir {
            anyhow::ensure!(
                !d.join(minkms_keystore::DB_FILE).exists(),
                "--dev generates a throwaway HSM key and cannot open the existing database in {}: set MINIO_KMS_HSM_KEY",
                d.display()
            );
        }
    }
    let dir = match (&opts.dir, opts.dev) {
        (Some(d), _) => d.clone(),
        (None, true) => std::env::temp_dir().join(format!("minkms-dev-{}", uuid::Uuid::new_v4())),
        (None, false) => anyhow::bail!("no data directory given: minkms server [OPTIONS] DIR"),
    };

    let host = opts.host.as_deref().map(parse_host).transpose()?;
    // Without --addr, the node listens on the port it is known by: peers dial --host.
    let listen_ip = if opts.dev { "127.0.0.1" } else { "0.0.0.0" };
    let port = host
        .as_ref()
        .map_or(minkms_client::DEFAULT_PORT, |(_, port)| *port);
    let addr = match opts.addr.as_deref() {
        Some(addr) => parse_addr(addr)?,
        None => parse_addr(&format!("{listen_ip}:{port}"))?,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let host = match host {
        Some((h, _)) => h,
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
        tracing::info!(
            ca = %ca.display(),
            "tls.ca is not used: client identities are key hashes, and nodes authenticate each other with keys derived from the HSM"
        );
    }
    let (tls_config, certificates) = tls::server_config(cert)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
    }
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    metrics::install();
    let audit = config
        .audit
        .path
        .clone()
        .map(audit::AuditLog::start)
        .transpose()?;
    tokio::spawn(reopen_on_hangup(hangups, audit.clone()));
    let kes = config.kes.enabled.then(|| crate::api::kes::Settings {
        enclave: config.kes.enclave.clone(),
    });
    let gate = Arc::new(Gate::new(host.clone(), audit.clone(), kes));
    let mut server = tokio::spawn(http::serve(
        listener,
        acceptor,
        gate.clone(),
        config.limits.clone(),
        stopped(stop_rx.clone()),
    ));
    tracing::info!(dir = %dir.display(), %addr, host = %host, "listening; unsealing the root encryption key");

    let unsealed = tokio::select! {
        u = unseal(config.clone(), hsm_key.clone(), dir.clone(), gate.clone()) => u?,
        () = stopped(stop_rx.clone()) => {
            let _ = server.await;
            return Ok(());
        }
    };
    let info = unsealed.keystore.info();
    tracing::info!(created = info.created, unsealed_by = %info.unsealed_by, "root encryption key unsealed");
    let hsm_ids = unsealed.hsms.ids();
    let root_changed_from = root_change(&unsealed.keystore, &unsealed.root)?;
    let hard = cluster::load_state(&unsealed.keystore, &host)?;
    if let Ok(own) = host.parse::<SocketAddr>() {
        unsealed.peer.bind_to(own.ip());
    }
    let (cluster, driver) = cluster::Cluster::channel(&hard);
    let name = minkms_client::NodeName::new(info.cluster_id.to_string(), hard.id)
        .ok_or_else(|| anyhow::anyhow!("invalid cluster id {}", info.cluster_id))?;
    unsealed.peer.present_as(name)?;
    let peer = Arc::new(unsealed.peer);
    certificates.set_peer(peer.clone());
    let node = Arc::new(state::Node {
        keystore: unsealed.keystore,
        root: unsealed.root.identity().clone(),
        host: host.clone(),
        started: Instant::now(),
        hsms: unsealed.hsms,
        peer,
        left_out_hsms: unsealed.left_out,
        hsm_health: Default::default(),
        hsm_probes: Default::default(),
        volume: volume::Volume {
            dir: dir.clone(),
            min_free: config.limits.min_free_mib.saturating_mul(1 << 20),
        },
        cluster,
        leader_write_ready: Default::default(),
    });
    let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel();
    driver.spawn(node.clone(), fatal_tx);
    tokio::spawn(node.clone().watch_hsm_health());
    gate.open(node);
    Banner {
        cluster_id: info.cluster_id,
        hard: &hard,
        host: &host,
        hsm_ids: &hsm_ids,
        root: &unsealed.root,
        dev_hsm_key: generated_key
            .then(|| hsm_key.as_ref().map(|k| k.as_str()))
            .flatten(),
        dev_dir: opts.dev.then_some(dir.as_path()),
        self_signed,
        root_changed_from: root_changed_from.as_deref(),
    }
    .print();
    // A write the node could not make durable stops it like a signal does (connections
    // closed, audit log drained), then with an error.
    let fatal = tokio::select! {
        _ = &mut server => None,
        Ok(reason) = fatal_rx => Some(reason),
    };
    if fatal.is_some() {
        let _ = stop_tx.send(true);
        let _ = server.await;
    }
    tracing::info!("shutting down");
    if let Some(audit) = &audit {
        audit.close().await;
    }
    match fatal {
        Some(reason) => Err(anyhow::anyhow!("{reason}")),
        None => Ok(()),
    }
}

/// The previous start's root identity when this start's differs: the root API key follows
/// the communication HSM, and an operator who changed that must hear that the key changed.
fn root_change(keystore: &Keystore, root: &ApiKey) -> anyhow::Result<Option<String>> {
    let previous = keystore.note_root_identity(root.identity().as_str())?;
    if let Some(previous) = &previous {
        tracing::warn!(%previous, now = %root.identity(), "the root API key changed since the last start: the communication HSM is another one");
    }
    Ok(previous)
}

/// What the start-up banner shows.
struct Banner<'a> {
    cluster_id: uuid::Uuid,
    hard: &'a minkms_replication::Hard,
    host: &'a str,
    hsm_ids: &'a [String],
    root: &'a ApiKey,
    dev_hsm_key: Option<&'a str>,
    dev_dir: Option<&'a Path>,
    self_signed: bool,
    /// The previous start's root identity, when this start's differs.
    root_changed_from: Option<&'a str>,
}

impl Banner<'_> {
    fn print(&self) {
        let Banner {
            cluster_id,
            hard,
            host,
            hsm_ids,
            root,
            dev_hsm_key,
            dev_dir,
            self_signed,
            root_changed_from,
        } = *self;
        use std::io::Write as _;
        let mut out = String::new();
        out.push_str(&format!("Version        {VERSION}\n"));
        out.push_str(&format!("HSM            {}\n", hsm_ids.join(", ")));
        out.push_str(&format!("Cluster        ID      {cluster_id}\n"));
        for (id, h) in &hard.config.members {
            let me = if *id == hard.id { " <-" } else { "" };
            out.push_str(&format!("               Node {id}: {h}{me}\n"));
        }
        out.push('\n');
        out.push_str(&format!("Endpoint       https://{host}\n"));
        out.push_str(&format!("API Key        {}\n", &*root.to_secret_string()));
        if let Some(previous) = root_changed_from {
            out.push_str(&format!(
                "               changed since the last start (identity {previous} then, {} now): the communication HSM is another one; clients with the old root API key are refused\n",
                root.identity()
            ));
        }
        if self_signed {
            out.push_str("TLS            self-signed certificate: clients need --insecure (-k)\n");
        }
        if let Some(key) = dev_hsm_key {
            out.push_str(&format!("\nDevelopment mode, generated HSM key (restart with MINIO_KMS_HSM_KEY=...):\nHSM Key        {key}\n"));
        }
        if let Some(dir) = dev_dir {
            out.push_str(&format!(
                "Data           {} (kept after the node stops: delete it when done)\n",
                dir.display()
            ));
        }
        out.push_str("\n=> Server is up and running...\n");
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

/// `SIGHUP`s from now on (none where there are no signals, or the handler cannot be set).
fn hangups() -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot handle SIGHUP ({e}): log rotation must use copytruncate");
            None
        }
    }
}

/// On every `SIGHUP`, reopens the audit log at its path: `logrotate` moves the file away and
/// signals, and the next event lands in a new file.
async fn reopen_on_hangup(
    hangups: Option<tokio::signal::unix::Signal>,
    audit: Option<audit::AuditLog>,
) {
    let Some(mut hangups) = hangups else { return };
    while hangups.recv().await.is_some() {
        match &audit {
            Some(audit) => {
                audit.reopen().await;
                tracing::info!("SIGHUP: audit log reopened");
            }
            None => tracing::info!("SIGHUP: no audit log to reopen"),
        }
    }
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
