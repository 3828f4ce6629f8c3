//! API keys (`k1:` Ed25519 seeds) and identities (`h1:` SPKI hashes), API.md §4.1.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SerialNumber,
};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte public key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of an Ed25519 PKCS#8 v1 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Why a string is not an API key or identity. Never contains the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Not `k1:` + 43 base64url characters.
    #[error("invalid API key: must be 'k1:' followed by 43 base64url characters")]
    ApiKey,
    /// Not `h1:` + 43 base64url characters.
    #[error("invalid identity: must be 'h1:' followed by 43 base64url characters")]
    Identity,
    /// Not `kes:v1:` + the standard base64 of a type byte 0 (Ed25519) and a 32-byte seed.
    #[error("invalid KES API key: must be 'kes:v1:' followed by the base64 of an Ed25519 key")]
    KesApiKey,
}

/// An identity: `h1:` + base64url-nopad(SHA-256(DER SubjectPublicKeyInfo)).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity(String);

impl Identity {
    /// The identity of a public key given as DER SubjectPublicKeyInfo.
    pub fn from_spki(spki_der: &[u8]) -> Self {
        Self(format!(
            "h1:{}",
            URL_SAFE_NO_PAD.encode(Sha256::digest(spki_der))
        ))
    }

    /// Parses and checks `h1:...`.
    pub fn parse(s: &str) -> Result<Self, KeyFormatError> {
        let b64 = s.strip_prefix("h1:").ok_or(KeyFormatError::Identity)?;
        match URL_SAFE_NO_PAD.decode(b64) {
            Ok(hash) if hash.len() == 32 && b64.len() == 43 => Ok(Self(s.to_string())),
            _ => Err(KeyFormatError::Identity),
        }
    }

    /// The `h1:` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same hash as KES writes identities: 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        let b64 = self.0.strip_prefix("h1:").unwrap_or_default();
        hex::encode(URL_SAFE_NO_PAD.decode(b64).unwrap_or_default())
    }

    /// The identity KES writes as `hex` (64 hex characters, either case).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(hex, &mut hash).ok()?;
        Some(Self(format!("h1:{}", URL_SAFE_NO_PAD.encode(hash))))
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Ed25519 API key. The seed is zeroized on drop and never printed by `Debug`.
pub struct ApiKey {
    seed: SecretBox<[u8; 32]>,
    identity: Identity,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Clone for ApiKey {
    fn clone(&self) -> Self {
        Self::from_seed(*self.seed.expose_secret())
    }
}

impl ApiKey {
    /// Parses `k1:<base64url-nopad of a 32-byte seed>`.
    pub fn parse(s: &str) -> Result<Self, KeyFormatError> {
        let b64 = s.trim().strip_prefix("k1:").ok_or(KeyFormatError::ApiKey)?;
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(b64)
                .map_err(|_| KeyFormatError::ApiKey)?,
        );
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyFormatError::ApiKey)?;
        Ok(Self::from_seed(seed))
    }

    /// Parses a KES API key, `kes:v1:` + std-base64(`0x00` ‖ 32-byte Ed25519 seed): the same
    /// seed as a `k1:` key, so either form authenticates as the same identity. Like KES's
    /// client, the prefix may be left out.
    pub fn parse_kes(s: &str) -> Result<Self, KeyFormatError> {
        let s = s.trim();
        let b64 = s.strip_prefix("kes:v1:").unwrap_or(s);
        let bytes = Zeroizing::new(
            STANDARD
                .decode(b64)
                .map_err(|_| KeyFormatError::KesApiKey)?,
        );
        match bytes.split_first() {
            Some((0, seed)) => {
                let seed: [u8; 32] = seed.try_into().map_err(|_| KeyFormatError::KesApiKey)?;
                Ok(Self::from_seed(seed))
            }
            _ => Err(KeyFormatError::KesApiKey),
        }
    }

    /// The key for a seed (e.g. one derived from the HSM).
    #[allow(clippy::expect_used)] // ring refuses only seeds of another length than 32 bytes.
    pub fn from_seed(mut seed: [u8; 32]) -> Self {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .expect("every 32-byte seed is an Ed25519 key");
        let spki = [ED25519_SPKI_PREFIX.as_slice(), pair.public_key().as_ref()].concat();
        let key = Self {
            seed: SecretBox::new(Box::new(seed)),
            identity: Identity::from_spki(&spki),
        };
        zeroize::Zeroize::zeroize(&mut seed);
        key
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Self::from_seed(seed)
    }

    /// The identity this key authenticates as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The `k1:` text. It is a secret: show it once, never log it.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "k1:{}",
            URL_SAFE_NO_PAD.encode(self.seed.expose_secret())
        ))
    }

    /// The `kes:v1:` text of the same key, for KES clients (MinIO's `MINIO_KMS_KES_API_KEY`).
    /// A secret, like [`ApiKey::to_secret_string`].
    pub fn to_kes_string(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 33]);
        raw[1..].copy_from_slice(self.seed.expose_secret());
        Zeroizing::new(format!("kes:v1:{}", STANDARD.encode(raw.as_slice())))
    }

    /// The key as PKCS#8 DER, for TLS.
    pub fn private_key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.pkcs8())
    }

    fn pkcs8(&self) -> PrivatePkcs8KeyDer<'static> {
        let der = [ED25519_PKCS8_PREFIX.as_slice(), self.seed.expose_secret()].concat();
        PrivatePkcs8KeyDer::from(der)
    }

    /// A self-signed certificate for this key, as MinIO's client makes one: random serial,
    /// CN = identity, key usage DigitalSignature, extended key usage ClientAuth. Servers ignore
    /// everything but the public key.
    pub fn self_signed_certificate(&self) -> CertificateDer<'static> {
        self.certificate(
            self.identity.as_str(),
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        )
    }

    /// A self-signed certificate for both ends of a TLS connection (client and server auth)
    /// under `common_name`: what a node presents to its peers (see [`crate::NodeName`]).
    pub fn peer_certificate(&self, common_name: &str) -> CertificateDer<'static> {
        self.certificate(
            common_name,
            vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ],
        )
    }

    // The PKCS#8 document is built here from a valid Ed25519 seed, and Ed25519 signing does
    // not fail: neither `expect` can be reached.
    #[allow(clippy::expect_used)]
    fn certificate(
        &self,
        common_name: &str,
        usages: Vec<ExtendedKeyUsagePurpose>,
    ) -> CertificateDer<'static> {
        let pair = KeyPair::from_pkcs8_der_and_sign_algo(&self.pkcs8(), &rcgen::PKCS_ED25519)
            .expect("a valid Ed25519 PKCS#8 key");
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = usages;
        let mut serial = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut serial);
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params
            .self_signed(&pair)
            .expect("self-signing with Ed25519 cannot fail")
            .der()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// API.md §4.1's verified vector.
    #[test]
    fn k1_to_h1_test_vector() {
        let key = ApiKey::parse("k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw").unwrap();
        assert_eq!(
            key.identity().as_str(),
            "h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0"
        );
        assert_eq!(
            &*key.to_secret_string(),
            "k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw"
        );
        assert!(!format!("{key:?}").contains("xZnp"));
    }

    /// KES's own known answers (kms-go `ExampleAPIKey_Identity` and `apiKeyIdentityTests`),
    /// with the `k1:` and `h1:` forms of the same seed and hash.
    #[test]
    fn kes_api_keys_and_hex_identities_are_the_same_keys_and_hashes() {
        let vectors = [
            (
                "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs",
                "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6",
                "k1:ZpXpVcdqwXQWdoHrRZ0I55Nnx5MgOKQvjOU3Xpzw0Cw",
                "h1:6pgmCJMR_kTXWQQI7ekVD3xje2yrCpHub-GqXZ-zZvY",
            ),
            (
                "kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw",
                "0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb",
                "k1:JCmgarHesceNP3fwd-7mFVVAkdlZKpUjZenUqVjEVXA",
                "h1:BCb6mgS8J1a5L76Kl-Gh4HtT7PBO0z2iLDPlyfrrjLs",
            ),
            (
                "kes:v1:AMxvd2uV1l5dDSRwuKZxSjuM5BDemlr+685+JAHA1TuJ",
                "ab785e3b95d80d72cc9c27cb9fde886a0bf9068a69d40e3bd08a54e68c3f2bf7",
                "k1:zG93a5XWXl0NJHC4pnFKO4zkEN6aWv7rzn4kAcDVO4k",
                "h1:q3heO5XYDXLMnCfLn96Iagv5Bopp1A470IpU5ow_K_c",
            ),
            (
                "kes:v1:AMWZ6XGLT3VTDSwQUWlDuRzxKCv41a3HNzFkfAbIZIyc",
                "978028566eb1280546b1fa3c27fb6d08e0ba39d82adc624b1e0e4db4074e02bd",
                "k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw",
                "h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0",
            ),
        ];
        for (kes, hex, k1, h1) in vectors {
            let key = ApiKey::parse_kes(kes).unwrap();
            assert_eq!(key.identity().to_hex(), hex);
            assert_eq!(key.identity().as_str(), h1);
            assert_eq!(&*key.to_secret_string(), k1);
            assert_eq!(&*ApiKey::parse(k1).unwrap().to_kes_string(), kes);
            assert_eq!(Identity::from_hex(hex).unwrap().as_str(), h1);
            assert_eq!(
                Identity::from_hex(&hex.to_uppercase()).unwrap().as_str(),
                h1
            );
        }
        // The prefix may be left out, as KES's client allows.
        assert!(ApiKey::parse_kes("AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs").is_ok());
        for bad in [
            "",
            "kes:v1:",
            // Type byte 1.
            "kes:v1:AWaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs",
            // 31-byte seed.
            "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8A==",
            "kes:v1:not base64!",
        ] {
            assert_eq!(
                ApiKey::parse_kes(bad).unwrap_err(),
                KeyFormatError::KesApiKey,
                "{bad}"
            );
        }
        for bad in ["", "ea98", &"g".repeat(64), &"a".repeat(66)] {
            assert!(Identity::from_hex(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn certificate_carries_the_keys_identity() {
        let key = ApiKey::generate();
        let cert = key.self_signed_certificate();
        let (_, parsed) = x509_parser_lite::spki_of(&cert);
        assert_eq!(
            Identity::from_spki(parsed).as_str(),
            key.identity().as_str()
        );
    }

    #[test]
    fn malformed_keys_and_identities_are_refused() {
        for bad in [
            "",
            "k1:",
            "k2:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw",
            "k1:xZnp",
            "k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw!",
        ] {
            assert_eq!(
                ApiKey::parse(bad).unwrap_err(),
                KeyFormatError::ApiKey,
                "{bad}"
            );
        }
        assert!(Identity::parse("h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0").is_ok());
        for bad in ["", "h1:abc", "l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0"] {
            assert!(Identity::parse(bad).is_err());
        }
    }

    /// Finds the Ed25519 SPKI inside a certificate by its fixed prefix: enough for a test.
    mod x509_parser_lite {
        pub(super) fn spki_of(cert: &[u8]) -> ((), &[u8]) {
            let at = cert
                .windows(super::ED25519_SPKI_PREFIX.len())
                .position(|w| w == super::ED25519_SPKI_PREFIX)
                .expect("an Ed25519 SPKI");
            ((), &cert[at..at + 44])
        }
    }
}
