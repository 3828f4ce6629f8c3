//! A wrapped key file (`import-key --wrapped`), as a node opens it: raw bytes, or a valid
//! RSA-OAEP block of a known AES key followed by fuzzed RFC 5649 bytes, so the fuzzer reaches
//! the unwrap and the length checks behind the RSA step. Every input opens or is refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use minkms_keystore::{OaepHash, WrappingPrivateKey};

/// A wrapping key and the RSA-OAEP (SHA-256) block of the AES key [`KEK`], made once.
fn key_and_block() -> &'static (WrappingPrivateKey, Vec<u8>) {
    static ONCE: OnceLock<(WrappingPrivateKey, Vec<u8>)> = OnceLock::new();
    ONCE.get_or_init(|| {
        use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
        let key = WrappingPrivateKey::generate().unwrap();
        let public = PublicEncryptingKey::from_der(&key.public_key_der().unwrap()).unwrap();
        let public = OaepPublicEncryptingKey::new(public).unwrap();
        let mut block = vec![0u8; public.ciphertext_size()];
        let block = public
            .encrypt(&OAEP_SHA256_MGF1SHA256, &KEK, &mut block, None)
            .unwrap()
            .to_vec();
        (key, block)
    })
}

const KEK: [u8; 32] = [0x42; 32];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (key, block) = key_and_block();
    let hash = if mode & 2 == 0 { OaepHash::Sha256 } else { OaepHash::Sha1 };
    let wrapped = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        [block.as_slice(), rest].concat()
    };
    if let Ok(material) = key.unwrap(&wrapped, hash) {
        drop(material);
        assert!(wrapped.len() >= 512 + 16);
    }
});
