//! A sealed root-key blob read from `kms.db` (or a backup): parse, then try to open it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minkms_hsm::{SealedBlob, SealingBackend, SoftHsm};

fuzz_target!(|data: &[u8]| {
    let Ok(blob) = SealedBlob::from_bytes(data) else {
        return;
    };
    assert_eq!(
        SealedBlob::from_bytes(&blob.to_bytes()).ok(),
        Some(blob.clone())
    );
    let hsm = SoftHsm::from_bytes([7; 32]);
    let _ = hsm.unseal(&blob, minkms_hsm::labels::ROOT_ENCRYPTION_KEY);
});
