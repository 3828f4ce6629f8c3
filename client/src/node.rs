//! Node identities on the peer channel. Every node of a cluster holds its own Ed25519 key,
//! derived from the peer secret (itself derived from the communication HSM), its cluster id and
//! its node id, and presents it in a certificate whose common name says which node it is. A
//! node checks another's certificate by deriving the key the named node must hold: only
//! holders of the peer secret can make a certificate that passes, and the name it proves is
//! then checked against the cluster's membership by the receiver.
//!
//! Removal cannot take the peer secret away from a removed node: it is refused by name, and
//! only a new communication HSM key revokes the secret itself (SECURITY.md).

use ring::hmac;
use secrecy::{ExposeSecret, SecretBox};

use crate::{ApiKey, Identity};

/// Which node of which cluster a peer certificate speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeName {
    /// The cluster id (a UUID in text).
    pub cluster: String,
    /// The node id in that cluster.
    pub id: u64,
}

const CN_PREFIX: &str = "minkms node ";
const CN_CLUSTER: &str = " of cluster ";

impl NodeName {
    /// A node name; `None` when the cluster id is not 1 to 64 letters, digits and `-`.
    pub fn new(cluster: impl Into<String>, id: u64) -> Option<Self> {
        let cluster = cluster.into();
        let valid = (1..=64).contains(&cluster.len())
            && cluster
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        valid.then_some(Self { cluster, id })
    }

    /// The common name of its certificate: `minkms node <id> of cluster <cluster id>`.
    pub fn common_name(&self) -> String {
        format!("{CN_PREFIX}{}{CN_CLUSTER}{}", self.id, self.cluster)
    }

    /// The name a certificate's common name claims, if it claims one.
    pub fn from_common_name(cn: &str) -> Option<Self> {
        let (id, cluster) = cn.strip_prefix(CN_PREFIX)?.split_once(CN_CLUSTER)?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Self::new(cluster, id.parse().ok()?)
    }
}

impl std::fmt::Display for NodeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {} of cluster {}", self.id, self.cluster)
    }
}

/// The secret every node of a cluster derives from its communication HSM, from which each
/// node's key is derived in turn.
pub struct PeerSecret {
    secret: SecretBox<[u8; 32]>,
    /// What the node keys are derived under, before the cluster id and node id (the server
    /// keeps every derivation label in one module and passes it in).
    label: &'static str,
}

impl std::fmt::Debug for PeerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerSecret(..)")
    }
}

impl PeerSecret {
    /// Takes the derived secret and the label node keys are derived under.
    pub fn new(secret: SecretBox<[u8; 32]>, label: &'static str) -> Self {
        Self { secret, label }
    }

    /// The key of `node`: HMAC-SHA256(peer secret, `<label>:<cluster>:<id>`) is its Ed25519
    /// seed.
    pub fn node_key(&self, node: &NodeName) -> ApiKey {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.secret.expose_secret());
        let label = format!("{}:{}:{}", self.label, node.cluster, node.id);
        let tag = hmac::sign(&key, label.as_bytes());
        let mut seed = [0u8; 32];
        seed.copy_from_slice(tag.as_ref());
        ApiKey::from_seed(seed)
    }

    /// The identity `node`'s certificate must have.
    pub fn node_identity(&self, node: &NodeName) -> Identity {
        self.node_key(node).identity().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> PeerSecret {
        PeerSecret::new(SecretBox::new(Box::new([byte; 32])), "minkms/v1/peer-node")
    }

    #[test]
    fn common_names_round_trip_and_nothing_else_parses() {
        let name = NodeName::new("6f1c2a9e-0d4b-4e55-9a7e-3b1f0c2d4e5f", 3).unwrap();
        assert_eq!(
            name.common_name(),
            "minkms node 3 of cluster 6f1c2a9e-0d4b-4e55-9a7e-3b1f0c2d4e5f"
        );
        assert_eq!(NodeName::from_common_name(&name.common_name()), Some(name));
        for bad in [
            "h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0",
            "minkms node  of cluster x",
            "minkms node -1 of cluster x",
            "minkms node +1 of cluster x",
            "minkms node 1 of cluster ",
            "minkms node 1 of cluster a b",
            "minkms node 1 of cluster a:b",
            "minkms node 99999999999999999999 of cluster x",
        ] {
            assert_eq!(NodeName::from_common_name(bad), None, "{bad}");
        }
        assert!(NodeName::new("x".repeat(65), 0).is_none());
    }

    /// docs/formats.md's vector: the peer secret 32 × 0x01, node 2 of cluster
    /// 00000000-0000-0000-0000-000000000001.
    #[test]
    fn node_key_vector() {
        let node = NodeName::new("00000000-0000-0000-0000-000000000001", 2).unwrap();
        let key = secret(1).node_key(&node);
        assert_eq!(
            key.identity().as_str(),
            "h1:IdXdyRilvORRKPRGGs6sw5F7Wpam3BzMJLVlxUukDHU"
        );
    }

    #[test]
    fn every_node_and_every_secret_has_its_own_key() {
        let a = NodeName::new("c1", 1).unwrap();
        let b = NodeName::new("c1", 2).unwrap();
        let c = NodeName::new("c2", 1).unwrap();
        let s = secret(1);
        assert_eq!(s.node_identity(&a), secret(1).node_identity(&a));
        assert_ne!(s.node_identity(&a), s.node_identity(&b));
        assert_ne!(s.node_identity(&a), s.node_identity(&c));
        assert_ne!(s.node_identity(&a), secret(2).node_identity(&a));
        assert!(!format!("{s:?}").contains('1'));
    }
}
