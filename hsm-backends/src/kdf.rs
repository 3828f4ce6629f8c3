//! The one key derivation of the HSM layer: HKDF-SHA256 to 32 bytes, without salt.

use hkdf::Hkdf;
use secrecy::{ExposeSecretMut, SecretBox};
use sha2::Sha256;

use crate::Secret32;

/// HKDF-SHA256 of `ikm` with the concatenation of `info`, 32 bytes.
// 32 bytes is far below HKDF-SHA256's limit of 255 × 32: `expand` cannot fail.
#[allow(clippy::expect_used)]
pub(crate) fn hkdf_sha256(ikm: &[u8], info: &[&[u8]]) -> Secret32 {
    let mut out = SecretBox::new(Box::new([0u8; 32]));
    Hkdf::<Sha256>::new(None, ikm)
        .expand_multi_info(info, out.expose_secret_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}
