//! What the benchmarks share: a node's `kms.db` with many keys, built straight in the keystore
//! (group commits of 10,000: creating them through the API would measure key creation).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use minkms_hsm::{BackendSet, SealingBackend, SoftHsm};
use minkms_keystore::{Command, KeyMaterial, KeyType, Keystore, Timestamp};

/// The name of key `i`: sorted as numbered, so a listing's order is the creation order.
pub(crate) fn key_name(i: usize) -> String {
    format!("key-{i:08}")
}

/// Builds `dir/kms.db` sealed by the soft HSM `hsm_key`, with the enclave `bench` holding
/// `keys` keys named by [`key_name`].
pub(crate) fn build_keystore(dir: &Path, hsm_key: &str, keys: usize) {
    let soft: Arc<dyn SealingBackend> = Arc::new(SoftHsm::parse(hsm_key).unwrap());
    let ks = Keystore::open_or_create(dir, &BackendSet::single(soft)).unwrap();
    let at = Timestamp::now();
    ks.apply(&Command::CreateEnclave {
        name: "bench".into(),
        at,
        by: "bench".into(),
    })
    .unwrap();
    let started = Instant::now();
    let mut made = 0;
    while made < keys {
        let n = (keys - made).min(10_000);
        let cmds: Vec<Command> = (made..made + n)
            .map(|i| Command::CreateKey {
                enclave: "bench".into(),
                name: key_name(i),
                kind: KeyType::Aes256,
                material: KeyMaterial::generate(),
                add_version: false,
                imported: false,
                at,
                by: "bench".into(),
            })
            .collect();
        for r in ks.apply_all(&cmds).unwrap() {
            r.unwrap();
        }
        made += n;
    }
    eprintln!(
        "built {keys} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
