//! What one running node is: its keystore, the identity of the cluster's root, its name.

use std::time::Instant;

use minkms_client::wire::{ClusterStatusResponse, ServerStatusResponse};
use minkms_client::Identity;
use minkms_keystore::Keystore;

/// The version this build reports on `/version`, in the banner and in status.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The API version of the wire protocol.
pub(crate) const API_VERSION: &str = "v1";

/// A running node.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) keystore: Keystore,
    /// The SysAdmin: the identity of the root API key derived from the HSM.
    pub(crate) root: Identity,
    /// The name this node is known by (`--host`).
    pub(crate) host: String,
    pub(crate) started: Instant,
    /// The HSMs configured now (`hsm_active`).
    pub(crate) hsms: minkms_hsm::BackendSet,
    /// Configured HSMs that could not be reached at start-up (and why): left out until a restart.
    pub(crate) left_out_hsms: Vec<String>,
    /// This cluster's node-to-node identity.
    pub(crate) peer: super::peer::Peer,
    /// The last health report of each HSM that gives one (refreshed in the background: it
    /// may take a network call).
    pub(crate) hsm_health: parking_lot::Mutex<std::collections::HashMap<String, String>>,
}

impl Node {
    /// This node's status. A single node is its own leader; replication fills in the rest.
    pub(crate) fn status(&self) -> ServerStatusResponse {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        ServerStatusResponse {
            version: VERSION.into(),
            api_version: API_VERSION.into(),
            host: self.host.clone(),
            uptime: prost_types::Duration::try_from(self.started.elapsed()).ok(),
            role: "Leader".into(),
            commit: self.keystore.commit_index(),
            nodes: [(0, self.host.clone())].into_iter().collect(),
            node_id: 0,
            leader_id: 0,
            last_heartbeat: None,
            heartbeat_interval: None,
            election_timeout: None,
            sys_os: std::env::consts::OS.into(),
            sys_cpu_arch: std::env::consts::ARCH.into(),
            sys_cpu_num: cpus,
            sys_cpu_used: cpus,
            heap_mem_in_use: 0,
            stack_mem_in_use: 0,
            hsm: self.keystore.sealed_by().unwrap_or_default(),
            hsm_active: self.hsms.ids(),
            hsm_status: self.hsm_health.lock().clone(),
        }
    }

    /// Refreshes [`Node::hsm_health`] now and then, off the async workers.
    pub(crate) async fn watch_hsm_health(self: std::sync::Arc<Self>) {
        loop {
            let node = self.clone();
            let report = tokio::task::spawn_blocking(move || {
                node.hsms
                    .backends()
                    .iter()
                    .filter_map(|b| b.health().map(|h| (b.id().to_string(), h)))
                    .collect()
            })
            .await
            .unwrap_or_default();
            *self.hsm_health.lock() = report;
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    }

    /// The cluster's status: every node up or down.
    pub(crate) fn cluster_status(&self) -> ClusterStatusResponse {
        ClusterStatusResponse {
            nodes_up: [(0, self.status())].into_iter().collect(),
            nodes_down: Default::default(),
        }
    }
}
