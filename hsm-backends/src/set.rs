//! The configured set of backends: who may unseal, who must rewrap, who communicates.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretSlice};

use crate::{HsmError, SealedBlob, SealingBackend, Secret32};

/// The backends configured for a node, in priority order, with exactly one of them chosen to
/// derive the communication secret (the root API key and the inter-node identity).
#[derive(Debug, Clone)]
pub struct BackendSet {
    backends: Vec<Arc<dyn SealingBackend>>,
    communication: usize,
}

/// The root key, opened, and by whom.
#[derive(Debug)]
pub struct Unsealed {
    /// The unsealed secret.
    pub secret: SecretSlice<u8>,
    /// The id of the backend that opened it.
    pub backend_id: String,
}

/// Why no configured backend could unseal the root key. Its text is the one the seeds show:
/// `failed to unseal root encryption key with HSM: <cause>`; with several backends tried, the
/// cause names each backend and why it failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to unseal root encryption key with HSM: {cause}")]
pub struct UnsealError {
    cause: String,
    /// Whether every failure was fatal (wrong key, wrong credentials) rather than an HSM that
    /// could not be reached and may come back.
    pub retryable: bool,
}

impl BackendSet {
    /// A set with `communication` as the index of the communicating backend.
    pub fn new(
        backends: Vec<Arc<dyn SealingBackend>>,
        communication: usize,
    ) -> Result<Self, HsmError> {
        if backends.is_empty() {
            return Err(HsmError::Config("no HSM configured".into()));
        }
        if communication >= backends.len() {
            return Err(HsmError::Config(
                "communication HSM is not in the set".into(),
            ));
        }
        let mut ids: Vec<&str> = backends.iter().map(|b| b.id()).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(HsmError::Config(format!(
                "HSM '{}' is configured twice",
                w[0]
            )));
        }
        Ok(Self {
            backends,
            communication,
        })
    }

    /// A set of exactly one backend, which also communicates.
    pub fn single(backend: Arc<dyn SealingBackend>) -> Self {
        Self {
            backends: vec![backend],
            communication: 0,
        }
    }

    /// The configured backends, in priority order.
    pub fn backends(&self) -> &[Arc<dyn SealingBackend>] {
        &self.backends
    }

    /// The ids of the configured backends, in priority order.
    pub fn ids(&self) -> Vec<String> {
        self.backends.iter().map(|b| b.id().to_string()).collect()
    }

    /// The backend that derives the communication secret.
    pub fn communication(&self) -> &Arc<dyn SealingBackend> {
        &self.backends[self.communication]
    }

    /// A key for `purpose`, derived in software (HKDF-SHA256) from the one communication
    /// secret the communication backend yields for one fixed label: every node holding the same
    /// HSM key derives the same keys, and nothing but the HSM can.
    pub fn derive_key(&self, purpose: &str) -> Result<Secret32, HsmError> {
        let secret = self.communication().derive(crate::labels::COMMUNICATION)?;
        Ok(crate::kdf::hkdf_sha256(
            secret.expose_secret(),
            &[purpose.as_bytes()],
        ))
    }

    /// Tries every configured backend that has a blob, in priority order; the first success
    /// wins. Blobs of backends that are not configured are ignored.
    pub fn unseal(&self, blobs: &[SealedBlob], context: &[u8]) -> Result<Unsealed, UnsealError> {
        let mut failures: Vec<(String, HsmError)> = Vec::new();
        for backend in &self.backends {
            let Some(blob) = blobs.iter().find(|b| b.backend_id() == backend.id()) else {
                continue;
            };
            match backend.unseal(blob, context) {
                Ok(secret) => {
                    return Ok(Unsealed {
                        secret,
                        backend_id: backend.id().to_string(),
                    });
                }
                Err(e) => failures.push((backend.id().to_string(), e)),
            }
        }
        let retryable = !failures.is_empty()
            && failures
                .iter()
                .all(|(_, e)| matches!(e, HsmError::Unavailable(_)));
        let cause = match failures.as_slice() {
            [] => {
                let on_disk: Vec<&str> = blobs.iter().map(SealedBlob::backend_id).collect();
                format!(
                    "no configured HSM ({}) sealed this database (sealed by: {})",
                    self.ids().join(", "),
                    on_disk.join(", ")
                )
            }
            [(_, only)] if self.backends.len() == 1 => only.to_string(),
            many => many
                .iter()
                .map(|(id, e)| format!("{id}: {e}"))
                .collect::<Vec<_>>()
                .join("; "),
        };
        Err(UnsealError { cause, retryable })
    }

    /// The configured backends that have no blob among `blobs` yet: after unsealing, the root
    /// key is sealed for each of them (rewrap), which is how operators migrate between HSMs.
    pub fn missing<'a>(
        &'a self,
        blobs: &'a [SealedBlob],
    ) -> impl Iterator<Item = &'a Arc<dyn SealingBackend>> + 'a {
        self.backends
            .iter()
            .filter(|b| !blobs.iter().any(|blob| blob.backend_id() == b.id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SoftHsm;

    /// A second soft HSM under another id, to exercise sets of several backends.
    #[derive(Debug)]
    struct Renamed(SoftHsm, &'static str);
    impl SealingBackend for Renamed {
        fn id(&self) -> &str {
            self.1
        }
        fn seal(&self, p: &[u8], c: &[u8]) -> Result<SealedBlob, HsmError> {
            // Bind our id through the context, then relabel the blob as ours.
            let inner = self.0.seal(p, &[c, self.1.as_bytes()].concat())?;
            SealedBlob::new(self.1, inner.nonce().to_vec(), inner.ciphertext().to_vec())
        }
        fn unseal(&self, b: &SealedBlob, c: &[u8]) -> Result<SecretSlice<u8>, HsmError> {
            let inner = SealedBlob::new(
                "hsm:minio:soft",
                b.nonce().to_vec(),
                b.ciphertext().to_vec(),
            )?;
            self.0.unseal(&inner, &[c, self.1.as_bytes()].concat())
        }
        fn derive(&self, l: &str) -> Result<Secret32, HsmError> {
            self.0.derive(l)
        }
    }

    fn soft() -> Arc<dyn SealingBackend> {
        Arc::new(SoftHsm::parse(&SoftHsm::generate_key()).unwrap())
    }

    #[test]
    fn single_wrong_key_reports_the_seed_message() {
        let blob = soft().seal(b"rek", b"c").unwrap();
        let err = BackendSet::single(soft())
            .unseal(&[blob], b"c")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to unseal root encryption key with HSM: invalid ciphertext"
        );
        assert!(!err.retryable);
    }

    #[test]
    fn any_configured_backend_with_a_blob_unseals_and_the_others_are_missing() {
        let a: Arc<dyn SealingBackend> = Arc::new(Renamed(
            SoftHsm::parse(&SoftHsm::generate_key()).unwrap(),
            "test:a",
        ));
        let b: Arc<dyn SealingBackend> = Arc::new(Renamed(
            SoftHsm::parse(&SoftHsm::generate_key()).unwrap(),
            "test:b",
        ));
        let blob_b = b.seal(b"rek", b"c").unwrap();
        let set = BackendSet::new(vec![a.clone(), b.clone()], 0).unwrap();
        let opened = set.unseal(std::slice::from_ref(&blob_b), b"c").unwrap();
        assert_eq!(opened.secret.expose_secret(), b"rek");
        assert_eq!(opened.backend_id, "test:b");
        let missing: Vec<&str> = set
            .missing(std::slice::from_ref(&blob_b))
            .map(|b| b.id())
            .collect();
        assert_eq!(missing, ["test:a"]);
        assert_eq!(set.communication().id(), "test:a");
    }

    #[test]
    fn no_matching_blob_names_what_is_configured_and_what_sealed() {
        let blob = SealedBlob::new("pkcs11:token/key", vec![0; 12], vec![0; 32]).unwrap();
        let err = BackendSet::single(soft())
            .unseal(&[blob], b"c")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hsm:minio:soft") && err.contains("pkcs11:token/key"),
            "{err}"
        );
    }

    #[test]
    fn derived_keys_depend_on_hsm_key_and_purpose_only() {
        let key = SoftHsm::generate_key();
        let a = BackendSet::single(Arc::new(SoftHsm::parse(&key).unwrap()));
        let b = BackendSet::single(Arc::new(SoftHsm::parse(&key).unwrap()));
        let x = |s: &BackendSet, p: &str| *s.derive_key(p).unwrap().expose_secret();
        assert_eq!(x(&a, "root"), x(&b, "root"));
        assert_ne!(x(&a, "root"), x(&a, "peer"));
        assert_ne!(x(&a, "root"), x(&BackendSet::single(soft()), "root"));
    }

    #[test]
    fn duplicate_and_empty_sets_are_refused() {
        assert!(BackendSet::new(vec![], 0).is_err());
        assert!(BackendSet::new(vec![soft(), soft()], 0).is_err());
        assert!(BackendSet::new(vec![soft()], 1).is_err());
    }
}
