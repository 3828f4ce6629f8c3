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
    fn typos_and_unknown_versions_are_errors() {
        assert!(load("version: v1\ntsl: {}\n").is_err());
        assert!(load("version: v2\n").is_err());
        assert!(load("version: v1\ntls:\n  certs:\n    - key: /k\n").is_err());
        assert!(Config::load(std::path::Path::new("/nonexistent/minkms.yaml")).is_err());
    }
}
