//! A backup file handed to `PUT /v1/db` / `minkms restore`: it must be refused cleanly, and a
//! refused file must leave the node unchanged.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use minkms_hsm::{BackendSet, SealingBackend, SoftHsm};
use minkms_keystore::Keystore;

fn hsms() -> BackendSet {
    let soft: Arc<dyn SealingBackend> = Arc::new(SoftHsm::from_bytes([7; 32]));
    BackendSet::single(soft)
}

fn keystore() -> &'static Keystore {
    static KS: OnceLock<Keystore> = OnceLock::new();
    KS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("minkms-fuzz-backup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Keystore::open_or_create(&dir, &hsms()).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let ks = keystore();
    let before = ks.commit_index();
    match ks.restore(data, &hsms(), |_| Ok(Vec::new())) {
        // Only a file made and MACed with this HSM's root key restores; the fuzzer cannot make
        // one without it, but if it ever did, the state must be whole.
        Ok(commit) => assert_eq!(ks.commit_index(), commit),
        Err(_) => assert_eq!(ks.commit_index(), before),
    }
});
