//! Real `minkms` processes on loopback, for the workspace's integration tests (`server/tests`
//! and `softhsm-tests`).
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minkms_client::{ApiKey, Client, HttpVersion, ServerTrust};

/// The repository's root, from the manifest directory cargo names when it runs a test. Not the
/// one compiled in: clones at other paths that share a build cache (`CARGO_TARGET_DIR`) reuse
/// each other's test binaries, whose compiled-in path is the other clone's (or gone).
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("..")
}

/// The `minkms` binary: `$MINKMS_BIN`, or the one cargo built next to the running test
/// (`target/<profile>/minkms`; `cargo test --workspace` builds it).
pub fn bin() -> PathBuf {
    if let Some(path) = std::env::var_os("MINKMS_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("minkms"))
        .expect("target/<profile>/");
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build -p minkms) or set MINKMS_BIN",
        bin.display()
    );
    bin
}

/// A fresh soft HSM key, from the binary itself.
pub fn soft_hsm_key() -> String {
    let out = Command::new(bin()).arg("--soft-hsm").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A running node. Killed on drop.
#[derive(Debug)]
pub struct Node {
    child: Child,
    pub dir: PathBuf,
    /// `host:port` from the banner (or from `--addr` before the banner).
    pub endpoint: String,
    /// The root API key from the banner ("" before it).
    pub root_api_key: String,
    pub log: PathBuf,
    stdout: Arc<Mutex<String>>,
    up: std::sync::mpsc::Receiver<()>,
}

/// Why a node did not start: its exit status and stderr.
#[derive(Debug)]
pub struct StartFailure {
    pub code: Option<i32>,
    pub stderr: String,
}

/// A loopback port that no one else will take before the node binds it.
///
/// A port the kernel hands out for `bind(0)` comes from the ephemeral range (Linux:
/// 32768–60999), where every outgoing connection also takes its source port: between the
/// release and the node's bind, a client somewhere may take it. These ports come from below
/// that range, where only explicit binds go; each call of a process gets the next one (tests
/// run in parallel threads), starting from an offset drawn from the process id (test binaries
/// run one after another, benches beside them); one found bound is skipped.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(2_654_435_761) % COUNT;
    for _ in 0..COUNT {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 127.0.0.1:{FIRST}..{}", FIRST + COUNT)
}

impl Node {
    /// Starts `minkms server` on a free loopback port with its state in `dir`.
    pub fn start(dir: &Path, hsm_key: &str) -> Node {
        Self::try_start(dir, hsm_key).unwrap_or_else(|e| panic!("node did not start: {e:?}"))
    }

    pub fn try_start(dir: &Path, hsm_key: &str) -> Result<Node, StartFailure> {
        Self::launch(
            dir,
            &[],
            &[("MINIO_KMS_HSM_KEY", hsm_key)],
            Duration::from_secs(30),
        )
    }

    /// Starts a node with its state in `dir/kms` and its audit log at `log`, through a
    /// config file written to `dir/config.yaml`.
    pub fn start_with_audit(dir: &Path, log: &Path) -> Node {
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!("version: v1\naudit:\n  path: {}\n", log.display()),
        )
        .unwrap();
        Self::launch(
            &dir.join("kms"),
            &["--config", config.to_str().unwrap()],
            &[("MINIO_KMS_HSM_KEY", &soft_hsm_key())],
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("node did not start: {e:?}"))
    }

    /// Starts `minkms server ARGS DIR` (`--addr 127.0.0.1:0` unless ARGS has `--addr` or `--host`) with
    /// `env` added (an empty value removes the variable) and waits up to `wait` for the banner.
    pub fn launch(
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        wait: Duration,
    ) -> Result<Node, StartFailure> {
        let mut node = Self::spawn(dir, args, env);
        node.wait_up(wait)?;
        Ok(node)
    }

    /// Starts a node without waiting for it to be up (it may stay sealed).
    pub fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Node {
        let log = dir.with_extension(format!("{}.log", std::process::id()));
        let mut command = Command::new(bin());
        command.arg("server");
        let addr = args
            .iter()
            .position(|a| *a == "--addr")
            .and_then(|i| args.get(i + 1))
            .map(|a| a.to_string());
        // A node given only --host listens on its port.
        if addr.is_none() && !args.contains(&"--host") {
            command.args(["--addr", "127.0.0.1:0"]);
        }
        command
            .args(args)
            .arg(dir)
            .env_remove("MINIO_KMS_HSM_KEY")
            .env_remove("RUST_LOG")
            .env("MINIO_KMS_LOG_LEVEL", "debug");
        for (k, v) in env {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let reader = BufReader::new(child.stdout.take().unwrap());
        let (tx, up) = std::sync::mpsc::channel();
        {
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                for line in reader.lines().map_while(Result::ok) {
                    let is_up = line.starts_with("=> Server is up");
                    stdout.lock().unwrap().push_str(&(line + "\n"));
                    if is_up {
                        let _ = tx.send(());
                    }
                }
            });
        }
        Node {
            child,
            dir: dir.to_path_buf(),
            endpoint: addr.unwrap_or_default(),
            root_api_key: String::new(),
            log,
            stdout,
            up,
        }
    }

    /// Waits for the banner; fills in the endpoint and root API key from it.
    pub fn wait_up(&mut self, wait: Duration) -> Result<(), StartFailure> {
        let deadline = Instant::now() + wait;
        loop {
            if self.up.recv_timeout(Duration::from_millis(50)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(StartFailure {
                    code: status.code(),
                    stderr: self.logs(),
                });
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(StartFailure {
                    code: None,
                    stderr: self.logs(),
                });
            }
        }
        let banner = self.stdout();
        self.endpoint = field(&banner, "Endpoint")
            .trim_start_matches("https://")
            .to_string();
        self.root_api_key = field(&banner, "API Key");
        Ok(())
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<i32> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The process id (for SIGSTOP / SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status();
    }

    /// The banner and anything else printed on stdout.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything the node logged.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A client authenticated with `api_key` (none: anonymous).
    pub fn client(&self, api_key: Option<&str>) -> Client {
        self.client_over(api_key, HttpVersion::Auto)
    }

    /// A client offering only `http` by ALPN.
    pub fn client_over(&self, api_key: Option<&str>, http: HttpVersion) -> Client {
        let mut b = Client::builder()
            .endpoints([self.endpoint.as_str()])
            .trust(ServerTrust::Insecure)
            .http_version(http);
        if let Some(k) = api_key {
            b = b.api_key(ApiKey::parse(k).unwrap());
        }
        b.build().unwrap()
    }

    /// The node's `/v1/health/metrics` as an anonymous scraper sees it.
    pub fn scrape(&self) -> String {
        let client = self.client(None);
        runtime().block_on(async {
            let r = client
                .send_to(
                    &self.endpoint,
                    http::Method::GET,
                    "/v1/health/metrics",
                    Default::default(),
                )
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            String::from_utf8(r.body.to_vec()).unwrap()
        })
    }

    /// A client authenticated as the cluster's root.
    pub fn root(&self) -> Client {
        self.client(Some(&self.root_api_key))
    }

    /// Runs the CLI against this node with `api_key`.
    pub fn cli_as(&self, api_key: &str, args: &[&str]) -> Output {
        Command::new(bin())
            .args(args)
            .arg("-k")
            .env("MINIO_KMS_SERVER", &self.endpoint)
            .env("MINIO_KMS_API_KEY", api_key)
            .env_remove("MINIO_KMS_ENCLAVE")
            .output()
            .unwrap()
    }

    /// Runs the CLI as root; panics with its stderr unless it succeeds; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.cli_as(&self.root_api_key, args);
        assert!(
            out.status.success(),
            "minkms {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stops the node cleanly (SIGTERM) and waits for it to exit; its exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait_exit(Duration::from_secs(20))
    }

    /// Stops the node (SIGKILL: every acknowledged write must already be durable).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cluster member with a fixed data directory and address, so that it can be stopped and
/// started again as the same node.
#[derive(Debug, Clone)]
pub struct Member {
    pub dir: PathBuf,
    /// `host:port` it listens on and is known by.
    pub addr: String,
}

impl Member {
    /// `root/name` on a free port of 127.0.0.1.
    pub fn new(root: &Path, name: &str) -> Self {
        Self::at(root.join(name), format!("127.0.0.1:{}", free_port()))
    }

    /// `dir` at `addr`.
    pub fn at(dir: PathBuf, addr: String) -> Self {
        Self { dir, addr }
    }

    /// Starts it with the soft HSM key `key` (and `env` added); panics if it does not come up.
    pub fn start_with(&self, key: &str, env: &[(&str, &str)]) -> Node {
        self.start_within(key, env, Duration::from_secs(60))
    }

    /// [`Member::start_with`], waiting up to `wait` for it (a node of millions of keys).
    pub fn start_within(&self, key: &str, env: &[(&str, &str)], wait: Duration) -> Node {
        let mut all = vec![("MINIO_KMS_HSM_KEY", key)];
        all.extend_from_slice(env);
        Node::launch(&self.dir, &["--addr", &self.addr], &all, wait)
            .unwrap_or_else(|e| panic!("{} did not start: {e:?}", self.addr))
    }

    /// Starts it with the soft HSM key `key`.
    pub fn start(&self, key: &str) -> Node {
        self.start_with(key, &[])
    }

    /// Deletes its state (a node lost for good).
    pub fn wipe(&self) {
        std::fs::remove_dir_all(&self.dir).unwrap();
    }
}

/// A cluster of `n` nodes (`root/kms0` …) sealed by the soft HSM key `key`: all started, and
/// nodes 1… added through node 0; its members and their nodes.
pub fn cluster(root: &Path, n: usize, key: &str) -> (Vec<Member>, Vec<Node>) {
    let members: Vec<Member> = (0..n)
        .map(|i| Member::new(root, &format!("kms{i}")))
        .collect();
    let nodes: Vec<Node> = members.iter().map(|m| m.start(key)).collect();
    for m in &members[1..] {
        let out = nodes[0].cli_as(&nodes[0].root_api_key, &["add", &m.addr]);
        assert!(
            out.status.success(),
            "add {}: {}",
            m.addr,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (members, nodes)
}

/// A client of the node at `addr` with `api_key`, accepting its self-signed certificate.
pub fn client_for(addr: &str, api_key: &str) -> Client {
    Client::builder()
        .endpoints([addr])
        .trust(ServerTrust::Insecure)
        .api_key(ApiKey::parse(api_key).unwrap())
        .build()
        .unwrap()
}

/// The names of every key of `enclave` starting with `prefix`, across all pages.
pub async fn all_keys(client: &Client, enclave: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = String::new();
    loop {
        let page = client.list_keys(enclave, prefix, &at, 0).await.unwrap();
        names.extend(page.keys.into_iter().map(|k| k.name));
        if page.continue_at.is_empty() {
            return names;
        }
        at = page.continue_at;
    }
}

/// A multi-thread runtime for the async client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The value of the unlabelled series `name` in a metrics text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The value of `label` in `minkms` human output (`Label   value`).
pub fn field(output: &str, label: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(label).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {label} in:\n{output}"))
}

/// One request a [`CloudHsmStub`] answered: its headers (names lower-cased) and body.
#[derive(Debug, Clone, Default)]
pub struct StubRequest {
    /// In the order sent.
    pub headers: Vec<(String, String)>,
    /// As text (awsJson1.1).
    pub body: String,
}

impl StubRequest {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find_map(|(n, v)| (n == name).then_some(v.as_str()))
    }
}

/// A loopback stand-in for AWS's CloudHSM v2 API: answers every `DescribeClusters` request
/// (awsJson1.1 over plain HTTP) with one status and body, and keeps what it was sent.
#[derive(Debug)]
pub struct CloudHsmStub {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    requests: Arc<Mutex<Vec<StubRequest>>>,
}

impl CloudHsmStub {
    /// Starts a stub answering `status` and `body`.
    pub fn start(status: u16, body: &'static str) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = StubRequest::default();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        let name = name.trim().to_ascii_lowercase();
                        request.headers.push((name, value.trim().to_string()));
                    }
                }
                let length = request
                    .header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut sent = vec![0u8; length];
                let _ = reader.read_exact(&mut sent);
                request.body = String::from_utf8_lossy(&sent).into_owned();
                let target = request.header("x-amz-target").map(str::to_ascii_lowercase);
                if target.as_deref() != Some("baldrapiservice.describeclusters") {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    continue;
                }
                seen.lock().unwrap().push(request);
                let reason = if status == 200 { "OK" } else { "Bad Request" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { endpoint, requests }
    }

    /// The `DescribeClusters` requests answered so far.
    pub fn requests(&self) -> Vec<StubRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// A raw TLS connection to a node (any certificate accepted, no client certificate), offering
/// `alpn`: for tests that speak HTTP by hand, badly on purpose.
pub async fn tls_connect(
    endpoint: &str,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    tls_connect_as(endpoint, alpn, None, None).await
}

/// [`tls_connect`] with the client certificate of `api_key`, from the loopback address `from`
/// (`127.0.0.x`: a test plays several clients).
pub async fn tls_connect_as(
    endpoint: &str,
    alpn: &[&[u8]],
    api_key: Option<&ApiKey>,
    from: Option<std::net::IpAddr>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut config = minkms_client::client_config(api_key, &ServerTrust::Insecure)
        .map_err(std::io::Error::other)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let target: std::net::SocketAddr = tokio::net::lookup_host(endpoint)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    if let Some(ip) = from {
        socket.bind(std::net::SocketAddr::new(ip, 0))?;
    }
    let tcp = socket.connect(target).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a valid name");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// The certificate and key that node `id` of cluster `cluster` derives from the soft HSM key
/// `hsm_key` (docs/formats.md §1.3): a test plays that node on the peer channel.
pub fn node_credentials(hsm_key: &str, cluster: &str, id: u64) -> Arc<rustls::sign::CertifiedKey> {
    node_credentials_named(hsm_key, cluster, id, id)
}

/// [`node_credentials`] of node `key_of`, in a certificate that claims to be node `named`.
pub fn node_credentials_named(
    hsm_key: &str,
    cluster: &str,
    key_of: u64,
    named: u64,
) -> Arc<rustls::sign::CertifiedKey> {
    use minkms_hsm::{BackendSet, SealingBackend, SoftHsm};
    let soft: Arc<dyn SealingBackend> = Arc::new(SoftHsm::parse(hsm_key).expect("a soft HSM key"));
    let secret = BackendSet::single(soft)
        .derive_key(minkms_hsm::labels::PEER_TLS)
        .expect("the soft HSM derives");
    let secret = minkms_client::PeerSecret::new(secret, minkms_hsm::labels::PEER_NODE);
    let name = |id| minkms_client::NodeName::new(cluster, id).expect("a valid cluster id");
    let key = secret.node_key(&name(key_of));
    let cert = key.peer_certificate(&name(named).common_name());
    Arc::new(
        rustls::sign::CertifiedKey::from_der(
            vec![cert],
            key.private_key_der(),
            &minkms_client::provider(),
        )
        .expect("a valid certificate and key"),
    )
}

/// Presents the same certificate to every server.
#[derive(Debug)]
struct Presents(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Presents {
    fn resolve(
        &self,
        _: &[&[u8]],
        _: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// One request over the peer channel of the node at `endpoint`, presenting `credentials`
/// (see [`node_credentials`]): the answer's status and body.
pub async fn peer_request(
    endpoint: &str,
    credentials: &Arc<rustls::sign::CertifiedKey>,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = minkms_client::client_config(None, &ServerTrust::Insecure)
        .map_err(std::io::Error::other)?;
    config.client_auth_cert_resolver = Arc::new(Presents(credentials.clone()));
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"minkms-peer/1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(endpoint).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a valid name");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {endpoint}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await?;
    tls.write_all(body).await?;
    let mut response = Vec::new();
    // The server may close without a TLS close_notify after `Connection: close`.
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {text}")))?;
    let start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4);
    Ok((status, response[start..].to_vec()))
}

/// A test, or a part of one, that cannot run on this machine (`what` could not run
/// because `why`). Under `CI` that is a failure, so a green run means every test ran;
/// elsewhere it is said on stderr and, when `MINKMS_NOT_RUN` names a file (`./admin/test.sh`
/// sets it), recorded there for the suite's closing summary: a passing test's stderr is
/// hidden.
pub fn not_run(what: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} cannot run under CI: {why}"
    );
    eprintln!("NOT RUN: {what}: {why}");
    if let Some(path) = std::env::var_os("MINKMS_NOT_RUN") {
        use std::io::Write as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{what}: {why}");
        }
    }
}
