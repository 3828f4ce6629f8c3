//! Real `minkms` processes on loopback for integration tests.
#![allow(dead_code, unreachable_pub)] // Each test binary uses a different part of this module.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minkms_client::{ApiKey, Client, HttpVersion, ServerTrust};

pub const BIN: &str = env!("CARGO_BIN_EXE_minkms");

/// A fresh soft HSM key, from the binary itself.
pub fn soft_hsm_key() -> String {
    let out = Command::new(BIN).arg("--soft-hsm").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A running node. Killed on drop.
pub struct Node {
    child: Child,
    pub dir: PathBuf,
    pub endpoint: String,
    pub root_api_key: String,
    pub log: PathBuf,
    stdout: Arc<Mutex<String>>,
}

/// Why a node did not start: its exit status and stderr.
#[derive(Debug)]
pub struct StartFailure {
    pub code: Option<i32>,
    pub stderr: String,
}

impl Node {
    /// Starts `minkms server` on a free loopback port with its state in `dir`.
    pub fn start(dir: &Path, hsm_key: &str) -> Node {
        Self::try_start(dir, hsm_key).unwrap_or_else(|e| panic!("node did not start: {e:?}"))
    }

    pub fn try_start(dir: &Path, hsm_key: &str) -> Result<Node, StartFailure> {
        let log = dir.with_extension(format!("{}.log", std::process::id()));
        let mut child = Command::new(BIN)
            .args(["server", "--addr", "127.0.0.1:0"])
            .arg(dir)
            .env("MINIO_KMS_HSM_KEY", hsm_key)
            .env("MINIO_KMS_LOG_LEVEL", "debug")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let reader = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                for line in reader.lines().map_while(Result::ok) {
                    let up = line.starts_with("=> Server is up");
                    stdout.lock().unwrap().push_str(&(line + "\n"));
                    if up {
                        let _ = tx.send(());
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if rx.recv_timeout(Duration::from_millis(50)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(StartFailure {
                    code: status.code(),
                    stderr: std::fs::read_to_string(&log).unwrap_or_default(),
                });
            }
            assert!(Instant::now() < deadline, "node did not start in 30 s");
        }
        let banner = stdout.lock().unwrap().clone();
        let field = |name: &str| {
            banner
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("no {name} in banner:\n{banner}"))
        };
        let endpoint = field("Endpoint");
        let root_api_key = field("API Key");
        Ok(Node {
            child,
            dir: dir.to_path_buf(),
            endpoint,
            root_api_key,
            log,
            stdout,
        })
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

    /// A client authenticated as the cluster's root.
    pub fn root(&self) -> Client {
        self.client(Some(&self.root_api_key))
    }

    /// Runs the CLI against this node with `api_key`.
    pub fn cli_as(&self, api_key: &str, args: &[&str]) -> Output {
        Command::new(BIN)
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

/// A multi-thread runtime for the async client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The value of `label` in `minkms` human output (`Label   value`).
pub fn field(output: &str, label: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(label).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {label} in:\n{output}"))
}
