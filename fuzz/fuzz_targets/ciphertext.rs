//! A client-supplied ciphertext given to `KEY:DECRYPT`: any bytes, any version, against keys of
//! both types and an imported one (which also tries KES's untagged format). It must decrypt
//! only what was encrypted, and never panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use minkms_hsm::{BackendSet, SealingBackend, SoftHsm};
use minkms_keystore::{Command, KeyMaterial, KeyType, Keystore, Timestamp};

fn keystore() -> &'static Keystore {
    static KS: OnceLock<Keystore> = OnceLock::new();
    KS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("minkms-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let hsm: Arc<dyn SealingBackend> = Arc::new(SoftHsm::from_bytes([1; 32]));
        let ks = Keystore::open_or_create(&dir, &BackendSet::single(hsm)).expect("a keystore");
        ks.apply(&Command::CreateEnclave {
            name: "e".into(),
            at: Timestamp::default(),
            by: String::new(),
        })
        .expect("enclave");
        for (name, kind, imported) in [
            ("aes", KeyType::Aes256, false),
            ("chacha", KeyType::ChaCha20, false),
            ("kes", KeyType::Aes256, true),
        ] {
            let material = KeyMaterial::from_slice(&[name.len() as u8; 32]).expect("32 bytes");
            ks.apply(&Command::CreateKey {
                enclave: "e".into(),
                name: name.into(),
                kind,
                material,
                add_version: false,
                imported,
                at: Timestamp::default(),
                by: String::new(),
            })
            .expect("key");
        }
        ks
    })
}

fuzz_target!(|data: &[u8]| {
    let state = keystore().state();
    let (selector, rest) = data.split_first().unwrap_or((&0, &[]));
    let key = ["aes", "chacha", "kes"][usize::from(*selector % 3)];
    let version = u32::from(*selector >> 6);
    let (aad, ciphertext) = rest.split_at(rest.len().min(usize::from(*selector & 0x0f)));
    if let Ok(plaintext) = state.decrypt("e", key, version, ciphertext, aad) {
        // Only a forgery could get here with random bytes; it must at least round-trip.
        panic!(
            "decrypted {} fuzzed bytes into {} bytes",
            ciphertext.len(),
            plaintext.len()
        );
    }
});
