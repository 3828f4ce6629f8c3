//! What several test files share.
// Each test file uses what it needs of this module.
#![allow(dead_code)]

use minkms_keystore::{DataKey, Error, State};

/// One `KEY:ENCRYPT`, as a request of its own would run it.
pub(crate) fn encrypt(
    state: &State,
    enclave: &str,
    name: &str,
    version: u32,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<(u32, Vec<u8>), Error> {
    let mut ciphertext = Vec::new();
    let version =
        state
            .sealer()
            .encrypt(&mut ciphertext, enclave, name, version, plaintext, aad)?;
    Ok((version, ciphertext))
}

/// One `KEY:GENERATE`, as a request of its own would run it.
pub(crate) fn generate(
    state: &State,
    enclave: &str,
    name: &str,
    version: u32,
    aad: &[u8],
    length: usize,
) -> Result<DataKey, Error> {
    let mut dk = DataKey::default();
    state
        .sealer()
        .generate(&mut dk, enclave, name, version, aad, length)?;
    Ok(dk)
}
