//! The YAML configuration file (`--config`), as seed 001 writes it:
//!
//! ```yaml
//! version: v1
//! tls:
//!   certs:
//!     - key: /etc/minkms/certs/private.key
//!       cert: /etc/minkms/certs/public.crt
//!   ca: /etc/minkms/certs/CAs
//! log:
//!   level: info
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// The configuration file. Unknown keys are errors: a typo must not silently drop a setting.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub(crate) version: Option<String>,
    #[serde(default)]
    pub(crate) tls: TlsSection,
    #[serde(default)]
    pub(crate) log: LogSection,
    #[serde(default)]
    pub(crate) hsm: HsmSection,
    #[serde(default)]
    pub(crate) limits: Limits,
    #[serde(default)]
    pub(crate) audit: AuditSection,
}

/// `audit:`: the audit log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditSection {
    /// File to append JSON lines to (`-` for stdout); no audit log when unset.
    #[serde(default)]
    pub(crate) path: Option<PathBuf>,
}

/// `limits:`: what one client may cost the server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Limits {
    /// Connections served at once; further clients wait in the listen backlog.
    pub(crate) max_connections: usize,
    /// Seconds a client has to send a request's headers, and again its body (slow clients,
    /// slow-loris).
    pub(crate) request_timeout: u64,
    /// Concurrent HTTP/2 streams per connection.
    pub(crate) max_concurrent_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            request_timeout: 30,
            max_concurrent_streams: 256,
        }
    }
}

/// `hsm:`: HSMs besides the soft HSM of `MINIO_KMS_HSM_KEY`. Order of priority (unsealing
/// tries them in this order, and the first is the communication HSM unless `communication`
/// names another): the soft HSM, `pkcs11` entries in order, `cloudhsm`, `yubihsm`,
/// `minio.minkms`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HsmSection {
    /// Id of the HSM that derives the communication secret and root API key.
    #[serde(default)]
    pub(crate) communication: Option<String>,
    #[serde(default)]
    pub(crate) pkcs11: Vec<Pkcs11Section>,
    #[serde(default)]
    pub(crate) cloudhsm: Option<CloudHsmSection>,
    #[serde(default)]
    pub(crate) yubihsm: Option<YubiHsmSection>,
    #[serde(default)]
    pub(crate) minio: Option<MinioSection>,
}

/// Where a secret (PIN, password) comes from: an environment variable or a file, never the
/// config file itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretSource {
    #[serde(default)]
    pub(crate) env: Option<String>,
    #[serde(default)]
    pub(crate) file: Option<PathBuf>,
}

/// `hsm.pkcs11[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pkcs11Section {
    pub(crate) module: PathBuf,
    pub(crate) token: String,
    #[serde(default)]
    pub(crate) serial: Option<String>,
    pub(crate) pin: SecretSource,
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) hmac_key: Option<String>,
    #[serde(default)]
    pub(crate) generate_key: bool,
}

/// `hsm.cloudhsm`: the PKCS#11 fields pointed at AWS's library, plus the cluster to check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloudHsmSection {
    pub(crate) cluster_id: String,
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// Another CloudHSM API endpoint than AWS's (a VPC endpoint).
    #[serde(default)]
    pub(crate) endpoint: Option<String>,
    #[serde(default = "default_cloudhsm_module")]
    pub(crate) module: PathBuf,
    #[serde(default = "default_cloudhsm_token")]
    pub(crate) token: String,
    pub(crate) pin: SecretSource,
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) hmac_key: Option<String>,
    #[serde(default)]
    pub(crate) generate_key: bool,
}

fn default_cloudhsm_module() -> PathBuf {
    PathBuf::from("/opt/cloudhsm/lib/libcloudhsm_pkcs11.so")
}

fn default_cloudhsm_token() -> String {
    "hsm1".into()
}

/// `hsm.yubihsm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct YubiHsmSection {
    /// `http://HOST:PORT` of yubihsm-connector.
    pub(crate) connector: String,
    pub(crate) auth_key: u16,
    pub(crate) password: SecretSource,
    pub(crate) hmac_key: u16,
}

/// `hsm.minio`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MinioSection {
    #[serde(default)]
    pub(crate) minkms: Option<RemoteSection>,
}

/// `hsm.minio.minkms`, as seed 004 writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoteSection {
    pub(crate) server: Vec<String>,
    pub(crate) enclave: String,
    pub(crate) key: String,
    pub(crate) auth: RemoteAuth,
    /// PEM file of CA certificates for the remote servers (default: the system's roots).
    #[serde(default)]
    pub(crate) ca: Option<PathBuf>,
    /// Accept any certificate from the remote servers: for test set-ups only.
    #[serde(default)]
    pub(crate) insecure: bool,
}

/// `hsm.minio.minkms.auth`: the remote API key inline (`key`, seed 004's form) or, better,
/// from an environment variable or a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoteAuth {
    #[serde(default)]
    pub(crate) key: Option<String>,
    #[serde(default)]
    pub(crate) env: Option<String>,
    #[serde(default)]
    pub(crate) file: Option<PathBuf>,
}

/// `tls:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSection {
    /// Server certificates; the first is used.
    #[serde(default)]
    pub(crate) certs: Vec<CertPair>,
    /// CA certificates (a directory or file) for verifying peers. Client API requests are
    /// never chain-verified (API.md §1); this is kept for inter-node TLS.
    #[serde(default)]
    pub(crate) ca: Option<PathBuf>,
}

/// One certificate and its key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertPair {
    pub(crate) key: PathBuf,
    pub(crate) cert: PathBuf,
}

/// `log:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogSection {
    /// `text` or `json`.
    #[serde(default)]
    pub(crate) format: Option<crate::logging::LogFormat>,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    #[serde(default)]
    pub(crate) level: Option<String>,
}

impl Config {
    /// Reads and checks a YAML file.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            path.is_file(),
            "config file {} does not exist",
            path.display()
        );
        let config: Config = config::Config::builder()
            .add_source(config::File::new(
                &path.to_string_lossy(),
                config::FileFormat::Yaml,
            ))
            .build()
            .and_then(|c| c.try_deserialize())
            .with_context(|| format!("invalid config file {}", path.display()))?;
        if let Some(v) = &config.version {
            anyhow::ensure!(
                v == "v1",
                "invalid config file {}: unknown version '{v}', expected 'v1'",
                path.display()
            );
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    fn load(yaml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        Config::load(&path)
    }

    #[test]
    fn seed_config_parses() {
        let c = load("version: v1\ntls:\n  certs:\n    - key: /k\n      cert: /c\n  ca: /ca\n")
            .unwrap();
        assert_eq!(c.tls.certs.len(), 1);
        assert_eq!(c.tls.certs[0].cert.to_str(), Some("/c"));
        assert_eq!(c.tls.ca.as_deref().and_then(|p| p.to_str()), Some("/ca"));
    }

    #[test]
    fn hsm_sections_parse() {
        let c = load(
            "version: v1\nhsm:\n  communication: pkcs11:t/k\n  pkcs11:\n    - module: /m.so\n      token: t\n      pin:\n        env: PIN\n      key: k\n      hmac_key: h\n  yubihsm:\n    connector: http://127.0.0.1:12345\n    auth_key: 1\n    password:\n      file: /p\n    hmac_key: 256\n  minio:\n    minkms:\n      server:\n      - kms0:7373\n      - kms1:7373\n      enclave: e\n      key: k\n      auth:\n        key: k1:abc\n",
        )
        .unwrap();
        assert_eq!(c.hsm.pkcs11[0].token, "t");
        assert_eq!(c.hsm.pkcs11[0].pin.env.as_deref(), Some("PIN"));
        assert_eq!(c.hsm.yubihsm.as_ref().unwrap().hmac_key, 256);
        let remote = c.hsm.minio.unwrap().minkms.unwrap();
        assert_eq!(remote.server, ["kms0:7373", "kms1:7373"]);
        assert_eq!(remote.auth.key.as_deref(), Some("k1:abc"));
    }

    #[test]
    fn typos_and_unknown_versions_are_errors() {
        assert!(load("version: v1\ntsl: {}\n").is_err());
        assert!(load("version: v2\n").is_err());
        assert!(load("version: v1\ntls:\n  certs:\n    - key: /k\n").is_err());
        assert!(Config::load(std::path::Path::new("/nonexistent/minkms.yaml")).is_err());
    }
}
