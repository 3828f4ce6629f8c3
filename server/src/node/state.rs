//! What one running node is: its keystore, the identity of the cluster's root, its name.

use std::time::{Duration, Instant};

use minkms_client::wire::{ClusterStatusResponse, ServerStatusResponse};
use minkms_client::Identity;
use minkms_keystore::Keystore;

/// The version this build reports on `/version`, in the banner and in status.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit this binary was built from (`build.rs`): `unknown` outside a git checkout.
pub(crate) const COMMIT: &str = env!("MINKMS_COMMIT");
/// The API version of the wire protocol.
pub(crate) const API_VERSION: &str = "v1";

/// Context of the HSM probe's seals: no other seal of the node opens under it.
const PROBE_CONTEXT: &[u8] = minkms_hsm::labels::HSM_PROBE;

/// How an HSM answered its last probe.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HsmProbe {
    /// Whether the round trip worked and gave the value back.
    pub(crate) up: bool,
    /// How long it took.
    pub(crate) seconds: f64,
}

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
    /// This node's standing on the peer channel.
    pub(crate) peer: std::sync::Arc<crate::cluster::peer::Peer>,
    /// The last health report of each HSM that gives one (refreshed in the background: it
    /// may take a network call).
    pub(crate) hsm_health: parking_lot::Mutex<std::collections::HashMap<String, String>>,
    /// The last probe of each configured HSM: a seal and unseal round trip of a throwaway
    /// value, so a token that stopped answering shows before the next restart needs it.
    pub(crate) hsm_probes: parking_lot::Mutex<std::collections::HashMap<String, HsmProbe>>,
    /// The data volume, checked before a write is taken.
    pub(crate) volume: crate::node::volume::Volume,
    /// Replication: membership, leader, the write path.
    pub(crate) cluster: crate::cluster::Cluster,
    /// A follower's last answer from its leader to `ready?write`, and when: anyone may ask,
    /// and a flood of asks must not become a flood of peer calls.
    pub(crate) leader_write_ready: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

/// How long a follower reuses its leader's answer to `ready?write`.
const LEADER_READY_FRESH: Duration = Duration::from_secs(1);

impl Node {
    /// This node's status (`stat`, `/v1/rpc/status`).
    pub(crate) fn status(&self) -> ServerStatusResponse {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let cluster = self.cluster.status();
        let ms = |ms: u64| prost_types::Duration::try_from(Duration::from_millis(ms)).ok();
        let now = self.cluster.now();
        ServerStatusResponse {
            version: VERSION.into(),
            api_version: API_VERSION.into(),
            host: self.host.clone(),
            uptime: prost_types::Duration::try_from(self.started.elapsed()).ok(),
            role: if self.cluster.is_removed() {
                "Removed".into()
            } else if cluster.joining {
                "Joining".into()
            } else {
                cluster.role.as_str().into()
            },
            commit: self.keystore.commit_index(),
            nodes: cluster
                .config
                .members
                .iter()
                .map(|(id, h)| (*id as u32, h.clone()))
                .collect(),
            node_id: cluster.id as u32,
            leader_id: cluster.leader.map_or(-1, |l| l as i64),
            last_heartbeat: cluster
                .last_heartbeat
                .and_then(|t| ms(now.saturating_sub(t))),
            heartbeat_interval: ms(crate::cluster::TIMING.heartbeat),
            election_timeout: ms(crate::cluster::TIMING.election),
            sys_os: std::env::consts::OS.into(),
            sys_cpu_arch: std::env::consts::ARCH.into(),
            sys_cpu_num: cpus,
            sys_cpu_used: cpus,
            heap_mem_in_use: 0,
            stack_mem_in_use: 0,
            hsm: self.keystore.sealed_by().unwrap_or_default(),
            hsm_active: self.hsms.ids(),
            hsm_status: self.hsm_health.lock().clone(),
            write_ready: cluster.writable && !self.cluster.is_removed(),
            cluster_id: self.keystore.info().cluster_id.to_string(),
        }
    }

    /// `GET /v1/health/ready?write`: whether a write sent to this node now would be taken: it
    /// leads and every member is up, or it follows a leader that says so.
    pub(crate) async fn write_ready(&self) -> bool {
        let status = self.cluster.status();
        if self.cluster.is_removed() || status.joining {
            return false;
        }
        if status.leader == Some(status.id) {
            return status.writable;
        }
        let Some(host) = status
            .leader
            .and_then(|l| status.config.members.get(&l).cloned())
        else {
            return false;
        };
        // Concurrent askers wait for one call, then share its answer.
        let mut last = self.leader_write_ready.lock().await;
        if let Some((at, ready)) = *last {
            if at.elapsed() < LEADER_READY_FRESH {
                return ready;
            }
        }
        let ready = matches!(
            tokio::time::timeout(Duration::from_secs(2), self.peer.status(&host)).await,
            Ok(Ok(s)) if s.write_ready
        );
        *last = Some((Instant::now(), ready));
        ready
    }

    /// Refreshes [`Node::hsm_health`] now and then, off the async workers.
    pub(crate) async fn watch_hsm_health(self: std::sync::Arc<Self>) {
        loop {
            let node = self.clone();
            let (report, probes) = tokio::task::spawn_blocking(move || {
                let backends = node.hsms.backends();
                let report = backends
                    .iter()
                    .filter_map(|b| b.health().map(|h| (b.id().to_string(), h)))
                    .collect();
                let probes = backends
                    .iter()
                    .map(|b| (b.id().to_string(), probe(b.as_ref())))
                    .collect();
                (report, probes)
            })
            .await
            .unwrap_or_default();
            *self.hsm_health.lock() = report;
            *self.hsm_probes.lock() = probes;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }

    /// The cluster's status: every member asked over the peer channel, up or down.
    pub(crate) async fn cluster_status(&self) -> ClusterStatusResponse {
        let me = self.cluster.status().id;
        let members = self.cluster.status().config.members;
        let asks = members
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(id, host)| async move {
                let answer =
                    tokio::time::timeout(Duration::from_secs(3), self.peer.status(host)).await;
                (*id as u32, host.clone(), answer.ok().and_then(Result::ok))
            });
        let mut out = ClusterStatusResponse {
            nodes_up: [(me as u32, self.status())].into_iter().collect(),
            nodes_down: Default::default(),
        };
        for (id, host, answer) in futures_util::future::join_all(asks).await {
            match answer {
                Some(s) => {
                    out.nodes_up.insert(id, s);
                }
                None => {
                    out.nodes_down.insert(id, host);
                }
            }
        }
        out
    }
}

/// Seals 32 random bytes with `hsm` and unseals them again.
fn probe(hsm: &dyn minkms_hsm::SealingBackend) -> HsmProbe {
    use secrecy::ExposeSecret as _;
    let mut value = zeroize::Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), value.as_mut());
    let started = Instant::now();
    let up = hsm
        .seal(value.as_ref(), PROBE_CONTEXT)
        .and_then(|blob| hsm.unseal(&blob, PROBE_CONTEXT))
        .is_ok_and(|back| back.expose_secret() == value.as_ref());
    if !up {
        tracing::warn!(
            hsm = hsm.id(),
            "HSM probe failed: seal and unseal did not round-trip"
        );
    }
    HsmProbe {
        up,
        seconds: started.elapsed().as_secs_f64(),
    }
}
