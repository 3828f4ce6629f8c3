//! The ciphertext format handed to clients and used for every record at rest
//! (docs/formats.md §2).
//!
//! ```text
//! tag:u8 | key_version:u32be | iv[16] | nonce[12] | AEAD(ciphertext ‖ tag[16])
//! ```
//! `tag` 0x01: sub-key = HMAC-SHA256(key, iv), then AES-256-GCM; 0x02: sub-key =
//! HChaCha20(key, iv), then ChaCha20-Poly1305. This is KES's construction with a header in front:
//! a fresh 128-bit IV per message gives a fresh sub-key, so the 96-bit GCM nonce never has to
//! carry the birthday bound of all messages under one master key (far beyond 2^32 messages is
//! safe). The header (5 bytes) is bound as associated data before the caller's, so the version
//! cannot be altered, and carries the version so `KEY:DECRYPT` with version 0 works.
//! KES's untagged form `AEAD ‖ iv ‖ nonce`, and the JSON and MessagePack envelopes around it
//! (`kes_envelope`), are accepted on decrypt for imported keys.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Error, KeyType};

const HEADER_LEN: usize = 5;
const IV_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Bytes a ciphertext adds to its plaintext.
pub const CIPHERTEXT_OVERHEAD: usize = HEADER_LEN + IV_LEN + NONCE_LEN + TAG_LEN;

/// Functions over the ciphertext format.
#[derive(Debug)]
pub struct Ciphertext;

impl Ciphertext {
    /// The key version a tagged ciphertext names, if `bytes` has a known tag and is long enough.
    pub fn version_of(bytes: &[u8]) -> Option<u32> {
        if bytes.len() < CIPHERTEXT_OVERHEAD || KeyType::from_tag(bytes[0]).is_none() {
            return None;
        }
        Some(u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]))
    }

    /// Encrypts `plaintext` under `key` (of `kind`, at `version`) with `aad` bound, under a
    /// sub-key of its own.
    pub(crate) fn seal<'k>(
        kind: KeyType,
        key: impl Into<MasterKey<'k>>,
        version: u32,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        SubKey::new(kind, key.into(), version).seal(plaintext, aad)
    }

    /// Decrypts a tagged ciphertext. Every failure is [`Error::InvalidCiphertext`].
    pub(crate) fn open<'k>(
        kind: KeyType,
        key: impl Into<MasterKey<'k>>,
        bytes: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if bytes.len() < CIPHERTEXT_OVERHEAD || bytes[0] != kind.tag() {
            return Err(Error::InvalidCiphertext);
        }
        let (header, rest) = bytes.split_at(HEADER_LEN);
        let (iv, rest) = rest.split_at(IV_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let full_aad = [header, aad].concat();
        aead_open(kind, key.into(), iv, nonce, sealed, &full_aad)
    }

    /// Decrypts a KES ciphertext: the untagged binary form `AEAD ‖ iv[16] ‖ nonce[12]`, or
    /// one of the JSON and MessagePack envelopes older KES versions wrote around it.
    pub(crate) fn open_kes<'k>(
        kind: KeyType,
        key: impl Into<MasterKey<'k>>,
        bytes: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let unwrapped = crate::kes_envelope::unwrap(bytes)?;
        let bytes = unwrapped.as_deref().unwrap_or(bytes);
        if bytes.len() < IV_LEN + NONCE_LEN + TAG_LEN {
            return Err(Error::InvalidCiphertext);
        }
        let (sealed, rest) = bytes.split_at(bytes.len() - IV_LEN - NONCE_LEN);
        let (iv, nonce) = rest.split_at(IV_LEN);
        aead_open(kind, key.into(), iv, nonce, sealed, aad)
    }
}

/// HMAC-SHA256 of the concatenation of `parts`.
#[allow(clippy::expect_used)] // HMAC takes keys of any length: `new_from_slice` cannot fail.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
const SHA256_INIT: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
/// SHA-256's block length; HMAC pads its key to one block.
const BLOCK: usize = 64;

/// HMAC-SHA256 under one master key with the key's two pad blocks hashed once: the sub-key of
/// each AES-256 ciphertext (`HMAC(key, iv)`) then costs two SHA-256 compressions instead of
/// four plus the key set-up, about half of what deriving it cost per data key. The states are
/// as secret as the key (either one, with the IV, gives the sub-key), so they are wiped on
/// drop like the key; they are kept in memory only, made when a version is first used.
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct KeyedMac {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl std::fmt::Debug for KeyedMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedMac(<redacted>)")
    }
}

impl KeyedMac {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let pad = |byte: u8| {
            let mut block = Zeroizing::new([byte; BLOCK]);
            for (b, k) in block.iter_mut().zip(key) {
                *b ^= k;
            }
            let mut state = SHA256_INIT;
            sha2::compress256(&mut state, &[(*block).into()]);
            state
        };
        Self {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// HMAC-SHA256 of an IV (16 bytes: it and SHA-256's padding fit one block).
    fn sub_key(&self, iv: &[u8; IV_LEN]) -> Zeroizing<[u8; 32]> {
        // The last block of a message of `len` bytes after the pad block: the message, 0x80,
        // zeros, and the bit length of pad block and message.
        fn last_block(message: &[u8], state: &[u32; 8]) -> Zeroizing<[u32; 8]> {
            let mut block = Zeroizing::new([0u8; BLOCK]);
            block[..message.len()].copy_from_slice(message);
            block[message.len()] = 0x80;
            let bits = ((BLOCK + message.len()) as u64) * 8;
            block[BLOCK - 8..].copy_from_slice(&bits.to_be_bytes());
            let mut state = Zeroizing::new(*state);
            sha2::compress256(&mut state, &[(*block).into()]);
            state
        }
        let inner = last_block(iv, &self.inner);
        let mut digest = Zeroizing::new([0u8; 32]);
        for (out, word) in digest.chunks_exact_mut(4).zip(inner.iter()) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        let outer = last_block(digest.as_ref(), &self.outer);
        for (out, word) in digest.chunks_exact_mut(4).zip(outer.iter()) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }
}

/// A master key as the ciphers take it: its material, and for AES-256 keys its keyed MAC
/// state when the caller keeps one.
#[derive(Clone, Copy)]
pub(crate) struct MasterKey<'a> {
    pub(crate) material: &'a [u8; 32],
    pub(crate) mac: Option<&'a KeyedMac>,
}

impl<'a> From<&'a crate::KeyMaterial> for MasterKey<'a> {
    fn from(material: &'a crate::KeyMaterial) -> Self {
        material.bytes().into()
    }
}

impl<'a> From<&'a [u8; 32]> for MasterKey<'a> {
    fn from(material: &'a [u8; 32]) -> Self {
        Self {
            material,
            mac: None,
        }
    }
}

/// Most messages one sub-key seals (a request carries at most 1,000 frames; this bound holds
/// whoever calls). With random 96-bit nonces the chance that two of them collide is below
/// 2^-76, far under the 2^-32 NIST SP 800-38D allows for random GCM nonces.
pub const MAX_SEALS_PER_SUB_KEY: u32 = 1024;

/// A sub-key ready to seal, with the IV it was derived from: the messages of one request under
/// one key version share it (docs/formats.md §2), so a batch derives one sub-key and one key
/// schedule instead of one per message. Every message still draws its own nonce.
pub(crate) struct SubKey {
    header: [u8; HEADER_LEN],
    iv: [u8; IV_LEN],
    aead: SubAead,
    seals: u32,
}

impl std::fmt::Debug for SubKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubKey(<redacted>)")
    }
}

impl SubKey {
    /// A sub-key from a fresh random IV.
    pub(crate) fn new(kind: KeyType, key: MasterKey<'_>, version: u32) -> Self {
        let mut iv = [0u8; IV_LEN];
        rand::thread_rng().fill_bytes(&mut iv);
        Self::with_iv(kind, key, version, iv)
    }

    fn with_iv(kind: KeyType, key: MasterKey<'_>, version: u32, iv: [u8; IV_LEN]) -> Self {
        let mut header = [0u8; HEADER_LEN];
        header[0] = kind.tag();
        header[1..].copy_from_slice(&version.to_be_bytes());
        Self {
            header,
            aead: SubAead::new(kind, key, &iv),
            iv,
            seals: 0,
        }
    }

    /// Whether it may seal another message ([`MAX_SEALS_PER_SUB_KEY`]).
    pub(crate) fn has_room(&self) -> bool {
        self.seals < MAX_SEALS_PER_SUB_KEY
    }

    /// Seals one message under a fresh random nonce into `out` (cleared first; a caller
    /// sealing many messages hands the same buffer back to spare an allocation each).
    pub(crate) fn seal_into(
        &mut self,
        plaintext: &[u8],
        aad: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        self.seal_with(&nonce, plaintext, aad, out)
    }

    /// Seals one message under a fresh random nonce.
    pub(crate) fn seal(&mut self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.seal_into(plaintext, aad, &mut out)?;
        Ok(out)
    }

    fn seal_with(
        &mut self,
        nonce: &[u8; NONCE_LEN],
        plaintext: &[u8],
        aad: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.seals += 1;
        out.clear();
        out.reserve(CIPHERTEXT_OVERHEAD + plaintext.len());
        out.extend_from_slice(&self.header);
        out.extend_from_slice(&self.iv);
        out.extend_from_slice(nonce);
        // The header and the caller's associated data, on the stack when they are short (a
        // data key's context is), to spare an allocation per ciphertext.
        let mut short = [0u8; 128];
        let long;
        let full_aad: &[u8] = if HEADER_LEN + aad.len() <= short.len() {
            short[..HEADER_LEN].copy_from_slice(&self.header);
            short[HEADER_LEN..HEADER_LEN + aad.len()].copy_from_slice(aad);
            &short[..HEADER_LEN + aad.len()]
        } else {
            long = [&self.header[..], aad].concat();
            &long
        };
        self.aead.seal(nonce, plaintext, full_aad, out)
    }
}

/// AES-256-GCM over the encrypting half of AES: GCM never decrypts a block, and the inverse key
/// schedule that `Aes256Gcm` also computes would be made and wiped for nothing per sub-key.
type Aes256GcmEnc = aes_gcm::AesGcm<aes::Aes256Enc, aes_gcm::aead::consts::U12>;

/// The AEAD of one sub-key. Both ciphers wipe their key on drop.
// AES's state is large (its software fallback's key schedule shares the space), but a sub-key
// lives on the stack for one request: boxing it would cost an allocation per sub-key.
#[allow(clippy::large_enum_variant)]
enum SubAead {
    Aes256(Aes256GcmEnc),
    ChaCha20(ChaCha20Poly1305),
}

impl SubAead {
    fn new(kind: KeyType, key: MasterKey<'_>, iv: &[u8]) -> Self {
        let sub = sub_key(kind, key, iv);
        match kind {
            KeyType::Aes256 => Self::Aes256(Aes256GcmEnc::new(sub.as_ref().into())),
            KeyType::ChaCha20 => Self::ChaCha20(ChaCha20Poly1305::new(sub.as_ref().into())),
        }
    }

    /// Appends the AEAD of `plaintext` (ciphertext, then tag) to `out`, sealed in place there.
    fn seal(
        &self,
        nonce: &[u8],
        plaintext: &[u8],
        aad: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let start = out.len();
        out.extend_from_slice(plaintext);
        let buffer = &mut out[start..];
        let tag = match self {
            Self::Aes256(aead) => aead.encrypt_in_place_detached(nonce.into(), aad, buffer),
            Self::ChaCha20(aead) => aead.encrypt_in_place_detached(nonce.into(), aad, buffer),
        };
        // Both AEADs only fail on plaintexts beyond 64 GiB; requests are capped far below that.
        let tag = tag.map_err(|_| Error::Invalid("plaintext too large".into()))?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    fn open(&self, nonce: &[u8], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let payload = Payload { msg: sealed, aad };
        let opened = match self {
            Self::Aes256(aead) => aead.decrypt(nonce.into(), payload),
            Self::ChaCha20(aead) => aead.decrypt(nonce.into(), payload),
        };
        opened
            .map(Zeroizing::new)
            .map_err(|_| Error::InvalidCiphertext)
    }
}

fn sub_key(kind: KeyType, key: MasterKey<'_>, iv: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    match kind {
        KeyType::Aes256 => match (key.mac, <&[u8; IV_LEN]>::try_from(iv)) {
            (Some(mac), Ok(iv)) => return mac.sub_key(iv),
            _ => out.copy_from_slice(&hmac_sha256(key.material, &[iv])),
        },
        KeyType::ChaCha20 => {
            let derived =
                chacha20::hchacha::<chacha20::cipher::consts::U10>(key.material.into(), iv.into());
            out.copy_from_slice(&derived);
        }
    }
    out
}

fn aead_open(
    kind: KeyType,
    key: MasterKey<'_>,
    iv: &[u8],
    nonce: &[u8],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    SubAead::new(kind, key, iv).open(nonce, sealed, aad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [0x11; 32];
    const IV: [u8; 16] = [0x22; 16];
    const NONCE: [u8; 12] = [0x33; 12];

    /// `hello` under [`KEY`] at version 7, with [`IV`] and [`NONCE`], `{}` bound.
    fn seal_fixed(kind: KeyType) -> Vec<u8> {
        let mut out = vec![0xff; 3];
        SubKey::with_iv(kind, (&KEY).into(), 7, IV)
            .seal_with(&NONCE, b"hello", b"{}", &mut out)
            .unwrap();
        out
    }

    /// Vectors computed independently with Python's `cryptography` and `hmac` (see
    /// docs/formats.md): they pin the format so a later version still decrypts old data.
    #[test]
    fn aes256_test_vector() {
        let ct = seal_fixed(KeyType::Aes256);
        assert_eq!(
            hex::encode(&ct),
            include_str!("../testdata/aes256-vector.hex").trim()
        );
        assert_eq!(Ciphertext::version_of(&ct), Some(7));
        assert_eq!(
            &*Ciphertext::open(KeyType::Aes256, &KEY, &ct, b"{}").unwrap(),
            b"hello"
        );
    }

    /// HChaCha20 against the published vector of draft-irtf-cfrg-xchacha-03 §2.2.1, then the
    /// whole `0x02` construction against a vector computed with Python's `cryptography`
    /// ChaCha20-Poly1305 and a separate HChaCha20 (docs/formats.md §4.2).
    #[test]
    fn chacha20_test_vector() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let nonce = hex::decode("000000090000004a0000000031415927").unwrap();
        assert_eq!(
            hex::encode(*sub_key(KeyType::ChaCha20, (&key).into(), &nonce)),
            "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
        );
        let ct = seal_fixed(KeyType::ChaCha20);
        assert_eq!(
            hex::encode(&ct),
            include_str!("../testdata/chacha20-vector.hex").trim()
        );
        assert_eq!(
            &*Ciphertext::open(KeyType::ChaCha20, &KEY, &ct, b"{}").unwrap(),
            b"hello"
        );
    }

    /// An empty plaintext gives a ciphertext of exactly the overhead, which opens.
    #[test]
    fn an_empty_plaintext_round_trips() {
        for kind in [KeyType::Aes256, KeyType::ChaCha20] {
            let ct = Ciphertext::seal(kind, &KEY, 1, b"", b"ad").unwrap();
            assert_eq!(ct.len(), CIPHERTEXT_OVERHEAD);
            assert_eq!(&*Ciphertext::open(kind, &KEY, &ct, b"ad").unwrap(), b"");
        }
    }

    #[test]
    fn chacha20_round_trip_and_kind_mismatch() {
        let ct = Ciphertext::seal(KeyType::ChaCha20, &KEY, 1, b"hello", b"ad").unwrap();
        assert_eq!(
            &*Ciphertext::open(KeyType::ChaCha20, &KEY, &ct, b"ad").unwrap(),
            b"hello"
        );
        assert!(Ciphertext::open(KeyType::Aes256, &KEY, &ct, b"ad").is_err());
    }

    /// The version is read only from a whole tagged ciphertext: a short one or an unknown tag
    /// names none (KES ciphertexts have no header).
    #[test]
    fn version_of_reads_only_whole_tagged_ciphertexts() {
        let mut whole = vec![0u8; CIPHERTEXT_OVERHEAD];
        whole[..5].copy_from_slice(&[0x01, 0, 0, 1, 2]);
        assert_eq!(Ciphertext::version_of(&whole), Some(258));
        whole[0] = 0x02;
        assert_eq!(Ciphertext::version_of(&whole), Some(258));
        assert_eq!(
            Ciphertext::version_of(&whole[..CIPHERTEXT_OVERHEAD - 1]),
            None
        );
        assert_eq!(Ciphertext::version_of(&whole[..10]), None);
        whole[0] = 0x7f;
        assert_eq!(Ciphertext::version_of(&whole), None);
    }

    #[test]
    fn kes_untagged_form_opens() {
        // Build a KES ciphertext by moving our header/iv/nonce to KES's layout: only possible
        // if the AEAD body is the same construction (header not bound), so seal by hand.
        let mut sealed = Vec::new();
        SubAead::new(KeyType::Aes256, (&KEY).into(), &IV)
            .seal(&NONCE, b"kes", b"ctx", &mut sealed)
            .unwrap();
        let kes = [sealed.as_slice(), &IV, &NONCE].concat();
        assert_eq!(
            &*Ciphertext::open_kes(KeyType::Aes256, &KEY, &kes, b"ctx").unwrap(),
            b"kes"
        );
        assert_eq!(
            hex::encode(&kes),
            include_str!("../testdata/kes-aes256-vector.hex").trim()
        );
    }

    /// A KES ciphertext of an empty plaintext (tag, iv and nonce only) opens; anything shorter
    /// is refused, never sliced out of bounds.
    #[test]
    fn kes_form_bounds() {
        let mut sealed = Vec::new();
        SubAead::new(KeyType::Aes256, (&KEY).into(), &IV)
            .seal(&NONCE, b"", b"", &mut sealed)
            .unwrap();
        let kes = [sealed.as_slice(), &IV, &NONCE].concat();
        assert_eq!(kes.len(), IV_LEN + NONCE_LEN + TAG_LEN);
        assert_eq!(
            &*Ciphertext::open_kes(KeyType::Aes256, &KEY, &kes, b"").unwrap(),
            b""
        );
        for cut in 0..kes.len() {
            assert_eq!(
                Ciphertext::open_kes(KeyType::Aes256, &KEY, &kes[kes.len() - cut..], b""),
                Err(Error::InvalidCiphertext)
            );
        }
    }

    #[test]
    fn every_bit_flip_wrong_aad_and_truncation_fail() {
        let ct = Ciphertext::seal(KeyType::Aes256, &KEY, 3, b"secret", b"aad").unwrap();
        for bit in 0..ct.len() * 8 {
            let mut f = ct.clone();
            f[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                Ciphertext::open(KeyType::Aes256, &KEY, &f, b"aad"),
                Err(Error::InvalidCiphertext)
            );
        }
        assert!(Ciphertext::open(KeyType::Aes256, &KEY, &ct, b"other").is_err());
        for cut in 0..ct.len() {
            assert!(Ciphertext::open(KeyType::Aes256, &KEY, &ct[..cut], b"aad").is_err());
        }
    }

    proptest::proptest! {
        /// The keyed state gives HMAC-SHA256 exactly, for any key and IV: ciphertexts sealed
        /// before it existed still open, and ones sealed with it open without it.
        #[test]
        fn the_keyed_mac_is_hmac_sha256(
            key in proptest::array::uniform32(0u8..),
            iv in proptest::array::uniform16(0u8..),
            // Short context on the stack, long on the heap: both are bound.
            ctx in proptest::collection::vec(0u8.., 0..300),
        ) {
            let keyed = KeyedMac::new(&key);
            proptest::prop_assert_eq!(*keyed.sub_key(&iv), hmac_sha256(&key, &[&iv]));
            let with = MasterKey { material: &key, mac: Some(&keyed) };
            let sealed = Ciphertext::seal(KeyType::Aes256, with, 3, b"data key", &ctx).unwrap();
            let opened = Ciphertext::open(KeyType::Aes256, &key, &sealed, &ctx).unwrap();
            proptest::prop_assert_eq!(opened.as_slice(), b"data key");
            let without = Ciphertext::seal(KeyType::Aes256, &key, 3, b"data key", &ctx).unwrap();
            let opened = Ciphertext::open(KeyType::Aes256, with, &without, &ctx).unwrap();
            proptest::prop_assert_eq!(opened.as_slice(), b"data key");
            let mut other = ctx.clone();
            other.push(0);
            proptest::prop_assert!(Ciphertext::open(KeyType::Aes256, with, &sealed, &other).is_err());
        }
    }

    /// A known answer, independent of the `hmac` crate: it pins the pad blocks and the layout
    /// of the final blocks.
    #[test]
    fn the_keyed_mac_matches_a_known_answer() {
        // HMAC-SHA256(key = 0x11 × 32, message = 0x22 × 16), computed with Python's `hmac`.
        let keyed = KeyedMac::new(&KEY);
        assert_eq!(
            hex::encode(*keyed.sub_key(&IV)),
            "66cca03740ace168a49d850eb887819ad2136ad5373cdc8bd699df7344eaca89"
        );
        assert_eq!(format!("{keyed:?}"), "KeyedMac(<redacted>)");
    }
}
