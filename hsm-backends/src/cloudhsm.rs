//! AWS CloudHSM: its cryptography is the PKCS#11 backend on AWS's `libcloudhsm_pkcs11.so`
//! (an id prefix of `cloudhsm:`); this module adds the control plane: the cluster's state and
//! its HSMs from the CloudHSM v2 API (`DescribeClusters`), checked at boot and shown in status.
//!
//! Credentials are the standard environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`); the region is configured or
//! `AWS_REGION`.

use std::fmt;
use std::time::Duration;

use aws_sdk_cloudhsmv2::config::retry::RetryConfig;
use aws_sdk_cloudhsmv2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudhsmv2::error::ProvideErrorMetadata;
use aws_sdk_cloudhsmv2::types::ClusterState;

use secrecy::SecretSlice;

use crate::{HsmError, Pkcs11Config, Pkcs11Hsm, SealedBlob, SealingBackend, Secret32};

/// Which cluster to look at, and where.
#[derive(Debug, Clone)]
pub struct ClusterRef {
    /// `cluster-...`.
    pub cluster_id: String,
    /// AWS region; `AWS_REGION` when `None`.
    pub region: Option<String>,
    /// Another endpoint than AWS's (a VPC endpoint, or a stub in tests).
    pub endpoint: Option<String>,
}

/// One HSM of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsmHealth {
    /// `hsm-...`.
    pub hsm_id: String,
    /// Its address in the VPC.
    pub eni_ip: String,
    /// `ACTIVE`, `DEGRADED`, ...
    pub state: String,
}

/// The cluster as AWS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHealth {
    /// `cluster-...`.
    pub cluster_id: String,
    /// `ACTIVE`, `DEGRADED`, ...
    pub state: String,
    /// Its HSMs.
    pub hsms: Vec<HsmHealth>,
}

impl fmt::Display for ClusterHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let active = self.hsms.iter().filter(|h| h.state == "ACTIVE").count();
        write!(
            f,
            "CloudHSM cluster {} {}, {active}/{} HSMs ACTIVE",
            self.cluster_id,
            self.state,
            self.hsms.len()
        )
    }
}

/// Describes the cluster. Not found and a deleted cluster are configuration errors; a cluster
/// that is not ACTIVE, throttling and network failures are [`HsmError::Unavailable`] (a node
/// stays sealed and retries).
pub fn describe_cluster(cluster: &ClusterRef) -> Result<ClusterHealth, HsmError> {
    describe_cluster_with_env(cluster, &|name| std::env::var(name).ok())
}

/// [`describe_cluster`] with `env` in place of the process environment, so that tests running
/// in parallel never change the environment under each other.
pub fn describe_cluster_with_env(
    cluster: &ClusterRef,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ClusterHealth, HsmError> {
    let region = cluster
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .ok_or_else(|| {
            HsmError::Config("hsm.cloudhsm: no region configured and AWS_REGION is not set".into())
        })?;
    let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) else {
        return Err(HsmError::Config(
            "hsm.cloudhsm: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set".into(),
        ));
    };
    let credentials = Credentials::new(key, secret, env("AWS_SESSION_TOKEN"), None, "environment");
    let mut config = aws_sdk_cloudhsmv2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.clone()))
        .credentials_provider(credentials)
        .retry_config(RetryConfig::standard().with_max_attempts(2));
    if let Some(endpoint) = &cluster.endpoint {
        config = config.endpoint_url(endpoint);
    }
    let client = aws_sdk_cloudhsmv2::Client::from_conf(config.build());
    let id = cluster.cluster_id.clone();
    let out = crate::blocking::block_on(Duration::from_secs(30), async {
        client
            .describe_clusters()
            .filters("clusterIds", vec![id])
            .send()
            .await
    })?
    .map_err(|e| {
        let code = e.code().unwrap_or("error").to_string();
        let message = e
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string());
        match code.as_str() {
            "CloudHsmAccessDeniedException"
            | "AccessDeniedException"
            | "UnrecognizedClientException" => {
                HsmError::Authentication(format!("CloudHSM API refused the credentials: {message}"))
            }
            "CloudHsmResourceNotFoundException" => HsmError::Config(format!(
                "CloudHSM cluster {}: {message}",
                cluster.cluster_id
            )),
            _ => HsmError::Unavailable(format!("CloudHSM API ({code}): {message}")),
        }
    })?;
    let Some(c) = out
        .clusters()
        .iter()
        .find(|c| c.cluster_id() == Some(cluster.cluster_id.as_str()))
    else {
        return Err(HsmError::Config(format!(
            "CloudHSM cluster {} not found in region {region}",
            cluster.cluster_id
        )));
    };
    let health = ClusterHealth {
        cluster_id: cluster.cluster_id.clone(),
        state: c
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        hsms: c
            .hsms()
            .iter()
            .map(|h| HsmHealth {
                hsm_id: h.hsm_id().to_string(),
                eni_ip: h.eni_ip().unwrap_or_default().to_string(),
                state: h
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            })
            .collect(),
    };
    match c.state() {
        Some(ClusterState::Active) => Ok(health),
        Some(ClusterState::Deleted | ClusterState::DeleteInProgress) => Err(HsmError::Config(
            format!("{health}: the cluster is being deleted or gone"),
        )),
        _ => Err(HsmError::Unavailable(format!(
            "{health}: the cluster is not ACTIVE"
        ))),
    }
}

/// A CloudHSM key: the PKCS#11 backend (id `cloudhsm:<token>/<key>`) whose health is its
/// cluster's state.
#[derive(Debug)]
pub struct CloudHsm {
    pkcs11: Pkcs11Hsm,
    cluster: ClusterRef,
}

impl CloudHsm {
    /// Checks that the cluster is ACTIVE, then opens the key through AWS's PKCS#11 library.
    pub fn open(config: Pkcs11Config, cluster: ClusterRef) -> Result<Self, HsmError> {
        let health = describe_cluster(&cluster)?;
        tracing::info!(%health, "CloudHSM cluster checked");
        Ok(Self {
            pkcs11: Pkcs11Hsm::open(config, "cloudhsm")?,
            cluster,
        })
    }
}

impl SealingBackend for CloudHsm {
    fn id(&self) -> &str {
        self.pkcs11.id()
    }

    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<SealedBlob, HsmError> {
        self.pkcs11.seal(plaintext, context)
    }

    fn unseal(&self, blob: &SealedBlob, context: &[u8]) -> Result<SecretSlice<u8>, HsmError> {
        self.pkcs11.unseal(blob, context)
    }

    fn derive(&self, label: &str) -> Result<Secret32, HsmError> {
        self.pkcs11.derive(label)
    }

    fn health(&self) -> Option<String> {
        Some(match describe_cluster(&self.cluster) {
            Ok(health) => health.to_string(),
            Err(e) => e.to_string(),
        })
    }
}
