//! The node as the HTTP layer sees it: sealed (HSMs not reached yet) or open.

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::node::state::Node;

/// Holds the node once it is unsealed. Until then, health checks report why it is sealed and
/// every API command answers 503.
#[derive(Debug)]
pub(crate) struct Gate {
    node: OnceLock<Arc<Node>>,
    /// The name this node is known by, answered on `/version` even while sealed.
    pub(crate) host: String,
    sealed_reason: Mutex<String>,
    /// The audit log, when configured.
    pub(crate) audit: Option<crate::api::audit::AuditLog>,
    /// The KES API's settings, when it is on.
    pub(crate) kes: Option<crate::api::kes::Settings>,
    /// Cancelled when the node stops: connections finish the requests they are in and close,
    /// and streams (log followers) end, so that every answered request is audited before the
    /// audit log closes.
    pub(crate) stopping: CancellationToken,
}

impl Gate {
    pub(crate) fn new(
        host: String,
        audit: Option<crate::api::audit::AuditLog>,
        kes: Option<crate::api::kes::Settings>,
    ) -> Self {
        Self {
            node: OnceLock::new(),
            host,
            sealed_reason: Mutex::new("unsealing the root encryption key".into()),
            audit,
            kes,
            stopping: CancellationToken::new(),
        }
    }

    /// The node, once unsealed.
    pub(crate) fn node(&self) -> Option<&Arc<Node>> {
        self.node.get()
    }

    pub(crate) fn open(&self, node: Arc<Node>) {
        let _ = self.node.set(node);
    }

    pub(crate) fn set_sealed_reason(&self, reason: String) {
        *self.sealed_reason.lock() = reason;
    }

    /// Why the node is still sealed.
    pub(crate) fn sealed_reason(&self) -> String {
        self.sealed_reason.lock().clone()
    }
}
