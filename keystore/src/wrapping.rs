//! Import wrapping keys: an RSA-4096 key pair per enclave, so key material can be brought in
//! without ever being plaintext outside the HSM or system it comes from and a node.
//!
//! A wrapped import is the RSA-AES key-wrap layout of PKCS#11's `CKM_RSA_AES_KEY_WRAP` and of
//! the major cloud KMSes' bring-your-own-key imports: RSA-OAEP (MGF1 with the same hash, empty
//! label) of a fresh 256-bit AES key, followed by that AES key's RFC 5649 wrap (AES-KWP) of
//! the key material. The private key is a record like any other: sealed under the root key,
//! replicated, in backups; it is only ever used to decrypt, never exported.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1,
    OAEP_SHA256_MGF1SHA256,
};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, KeyMaterial, Timestamp};

/// The hash of a wrapped import's RSA-OAEP step (and of its MGF1). SHA-256 is the default;
/// SHA-1 is what some HSMs (SoftHSM2, older tokens) and cloud KMSes offer as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OaepHash {
    /// RSA-OAEP with SHA-256 and MGF1-SHA-256.
    #[default]
    Sha256,
    /// RSA-OAEP with SHA-1 and MGF1-SHA-1.
    Sha1,
}

impl OaepHash {
    /// Parses `SHA256` / `SHA-256` / `SHA1` / `SHA-1` (any case); empty is SHA-256.
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text.to_ascii_uppercase().replace('-', "").as_str() {
            "" | "SHA256" => Ok(Self::Sha256),
            "SHA1" => Ok(Self::Sha1),
            _ => Err(Error::Invalid(format!(
                "invalid wrapping hash '{text}': must be SHA256 or SHA1"
            ))),
        }
    }

    fn algorithm(self) -> &'static OaepAlgorithm {
        match self {
            Self::Sha256 => &OAEP_SHA256_MGF1SHA256,
            Self::Sha1 => &OAEP_SHA1_MGF1SHA1,
        }
    }
}

/// The PKCS#8 DER of an enclave's RSA private key: zeroized on drop, never printed.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct WrappingPrivateKey(Vec<u8>);

impl std::fmt::Debug for WrappingPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappingPrivateKey(<redacted>)")
    }
}

/// An RSA failure is not the caller's: the key was made and checked here.
fn rsa_failure(what: &str) -> Error {
    Error::Unavailable(format!("wrapping key: cannot {what}"))
}

impl WrappingPrivateKey {
    /// A fresh RSA-4096 key pair (about a second of CPU: call it off the async runtime).
    pub fn generate() -> Result<Self, Error> {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa4096)
            .map_err(|_| rsa_failure("generate an RSA key"))?;
        let der: Pkcs8V1Der<'static> = key
            .as_der()
            .map_err(|_| rsa_failure("encode the RSA key"))?;
        Ok(Self(der.as_ref().to_vec()))
    }

    fn key(&self) -> Result<PrivateDecryptingKey, Error> {
        PrivateDecryptingKey::from_pkcs8(&self.0).map_err(|_| rsa_failure("read the RSA key"))
    }

    /// The public key, DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Result<Vec<u8>, Error> {
        let public = self.key()?.public_key();
        let der: PublicKeyX509Der<'static> = public
            .as_der()
            .map_err(|_| rsa_failure("encode the public key"))?;
        Ok(der.as_ref().to_vec())
    }

    /// Opens a wrapped import (see the module): the key material, or why not. Nothing is
    /// kept; every failure is the same kind of answer whichever step failed, so a caller
    /// learns only that the file does not open under this key.
    pub fn unwrap(&self, wrapped: &[u8], hash: OaepHash) -> Result<KeyMaterial, Error> {
        let key = self.key()?;
        let rsa_len = key.key_size_bytes();
        // An RFC 5649 wrap of 32 bytes is 40 bytes; anything shorter than the smallest wrap
        // (16 bytes) after the RSA block cannot be one.
        if wrapped.len() < rsa_len + 16 {
            return Err(Error::Invalid(format!(
                "invalid wrapped key: {} bytes, expected the {rsa_len}-byte RSA-OAEP block of an AES key followed by its RFC 5649 wrap of the key material",
                wrapped.len()
            )));
        }
        let (rsa_block, kwp) = wrapped.split_at(rsa_len);
        let oaep =
            OaepPrivateDecryptingKey::new(key).map_err(|_| rsa_failure("use the RSA key"))?;
        let mut kek = Zeroizing::new(vec![0u8; rsa_len]);
        let kek_len = oaep
            .decrypt(hash.algorithm(), rsa_block, &mut kek, None)
            .map_err(|_| not_for_this_key())?
            .len();
        let kek: [u8; 32] = kek[..kek_len].try_into().map_err(|_| {
            Error::Invalid(format!(
                "invalid wrapped key: the RSA-OAEP block holds {kek_len} bytes, expected a 256-bit AES key"
            ))
        })?;
        let kek = Zeroizing::new(kek);
        let material = aes_kw::KekAes256::from(*kek)
            .unwrap_with_padding_vec(kwp)
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::Invalid(
                    "invalid wrapped key: the key material does not unwrap (the file is damaged or was altered)".into(),
                )
            })?;
        KeyMaterial::from_slice(&material).map_err(|_| {
            Error::Invalid(format!(
                "invalid key: the unwrapped key material is {} bytes, must be 32 bytes",
                material.len()
            ))
        })
    }
}

fn not_for_this_key() -> Error {
    Error::Invalid(
        "invalid wrapped key: it does not open under this enclave's wrapping key (wrapped for another key, with another hash, or altered)".into(),
    )
}

/// An enclave's wrapping key as stored. The public half is kept beside the private one: it
/// is what every fetch answers, and deriving it means parsing the private key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WrappingKeyRecord {
    pub(crate) private_key: WrappingPrivateKey,
    /// DER SubjectPublicKeyInfo.
    pub(crate) public_key: Vec<u8>,
    pub(crate) created_at: Timestamp,
    pub(crate) created_by: String,
}

/// An enclave's wrapping key as shown: its public half and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappingKeyInfo {
    /// DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    /// When it was made.
    pub created_at: Timestamp,
    /// Who first asked for it.
    pub created_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};

    /// RFC 5649 §6, both examples, through the unwrap this module uses.
    #[test]
    fn rfc_5649_vectors_unwrap() {
        let kek: [u8; 24] = hex::decode("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
            .unwrap()
            .try_into()
            .unwrap();
        let kek = aes_kw::KekAes192::from(kek);
        for (wrapped, key) in [
            (
                "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
                "c37b7e6492584340bed12207808941155068f738",
            ),
            ("afbeb0f07dfbf5419200f2ccb50bb24f", "466f7250617369"),
        ] {
            let wrapped = hex::decode(wrapped).unwrap();
            assert_eq!(
                kek.unwrap_with_padding_vec(&wrapped).unwrap(),
                hex::decode(key).unwrap()
            );
            let mut bad = wrapped.clone();
            bad[3] ^= 1;
            assert!(kek.unwrap_with_padding_vec(&bad).is_err());
        }
    }

    /// What an exporter does: OAEP of a fresh AES key under the public key, then the AES
    /// key's RFC 5649 wrap of `material`.
    pub(crate) fn wrap_for(public_der: &[u8], material: &[u8], hash: OaepHash) -> Vec<u8> {
        let public =
            OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).unwrap())
                .unwrap();
        let aes = [0x42u8; 32];
        let mut block = vec![0u8; public.ciphertext_size()];
        let block = public
            .encrypt(hash.algorithm(), &aes, &mut block, None)
            .unwrap()
            .to_vec();
        let kwp = aes_kw::KekAes256::from(aes)
            .wrap_with_padding_vec(material)
            .unwrap();
        [block, kwp].concat()
    }

    #[test]
    fn a_wrapped_key_opens_only_as_it_was_made() {
        let key = WrappingPrivateKey::generate().unwrap();
        let public = key.public_key_der().unwrap();
        let material = [7u8; 32];
        for hash in [OaepHash::Sha256, OaepHash::Sha1] {
            let wrapped = wrap_for(&public, &material, hash);
            assert_eq!(wrapped.len(), 512 + 40);
            let opened = key.unwrap(&wrapped, hash).unwrap();
            assert_eq!(opened.bytes(), &material);
        }
        let wrapped = wrap_for(&public, &material, OaepHash::Sha256);
        let text = |r: Result<KeyMaterial, Error>| r.unwrap_err().to_string();
        // The other hash, another key, a flipped bit in either part, truncation.
        assert!(text(key.unwrap(&wrapped, OaepHash::Sha1)).contains("does not open"));
        let other = WrappingPrivateKey::generate().unwrap();
        assert!(text(other.unwrap(&wrapped, OaepHash::Sha256)).contains("does not open"));
        let mut bad = wrapped.clone();
        bad[10] ^= 1;
        assert!(text(key.unwrap(&bad, OaepHash::Sha256)).contains("does not open"));
        let mut bad = wrapped.clone();
        bad[520] ^= 1;
        assert!(text(key.unwrap(&bad, OaepHash::Sha256)).contains("does not unwrap"));
        assert!(text(key.unwrap(&wrapped[..530], OaepHash::Sha256)).contains("does not unwrap"));
        assert!(text(key.unwrap(&wrapped[..500], OaepHash::Sha256)).contains("500 bytes"));
        // Material of the wrong length (8 bytes: the shortest wrap, 16 bytes, after the RSA
        // block is long enough to be opened).
        for len in [8, 16, 64] {
            let wrapped = wrap_for(&public, &vec![1u8; len], OaepHash::Sha256);
            assert_eq!(
                text(key.unwrap(&wrapped, OaepHash::Sha256)),
                format!("invalid key: the unwrapped key material is {len} bytes, must be 32 bytes")
            );
        }
    }

    #[test]
    fn hashes_parse() {
        assert_eq!(OaepHash::parse("").unwrap(), OaepHash::Sha256);
        assert_eq!(OaepHash::parse("sha-256").unwrap(), OaepHash::Sha256);
        assert_eq!(OaepHash::parse("SHA1").unwrap(), OaepHash::Sha1);
        assert!(OaepHash::parse("MD5").is_err());
    }
}
