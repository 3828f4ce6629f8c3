//! The envelopes older KES versions wrapped their ciphertexts in, converted to KES's binary
//! form `AEAD ‖ iv[16] ‖ nonce[12]` before opening, as KES itself still does: MinIO stores
//! whatever its KMS returned and sends it back unchanged, so a node that took over from KES
//! must open every form a KES ever wrote.
//!
//! * JSON (first byte `{`): `{"aead", "id"?, "iv", "nonce", "bytes"}`, binary members in
//!   standard base64.
//! * MessagePack (first byte `0x95`, an array of five): algorithm, id, iv, nonce, bytes.
//!
//! The algorithm an envelope names must be one KES knows but decides nothing: the key's own
//! type does. Input that is no envelope is taken as the binary form.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::Error;

const IV_LEN: usize = 16;
const NONCE_LEN: usize = 12;

/// `AEAD ‖ iv ‖ nonce` of an envelope; `Ok(None)` when `bytes` is no envelope (the binary
/// form), `Err` for an envelope KES would refuse (an unknown algorithm, a wrong iv or nonce
/// length).
pub(crate) fn unwrap(bytes: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let parts = match bytes.first() {
        Some(b'{') => json(bytes),
        Some(0x95) => msgpack(bytes),
        _ => None,
    };
    let Some(parts) = parts else {
        return Ok(None);
    };
    if parts.iv.len() != IV_LEN || parts.nonce.len() != NONCE_LEN {
        return Err(Error::InvalidCiphertext);
    }
    let known: &[&str] = if parts.json {
        &["AES-256-GCM-HMAC-SHA-256", "ChaCha20Poly1305"]
    } else {
        &[
            "AES256",
            "AES256-GCM_SHA256",
            "ChaCha20",
            "XCHACHA20-POLY1305",
        ]
    };
    if !known.contains(&parts.algorithm.as_str()) {
        return Err(Error::InvalidCiphertext);
    }
    Ok(Some([parts.sealed, parts.iv, parts.nonce].concat()))
}

struct Parts {
    json: bool,
    algorithm: String,
    iv: Vec<u8>,
    nonce: Vec<u8>,
    sealed: Vec<u8>,
}

#[derive(serde::Deserialize)]
struct JsonEnvelope {
    aead: String,
    iv: String,
    nonce: String,
    bytes: String,
}

fn json(bytes: &[u8]) -> Option<Parts> {
    let env: JsonEnvelope = serde_json::from_slice(bytes).ok()?;
    let decode = |s: &str| STANDARD.decode(s).ok();
    Some(Parts {
        json: true,
        algorithm: env.aead,
        iv: decode(&env.iv)?,
        nonce: decode(&env.nonce)?,
        sealed: decode(&env.bytes)?,
    })
}

fn msgpack(mut bytes: &[u8]) -> Option<Parts> {
    let rd = &mut bytes;
    if rmp::decode::read_array_len(rd).ok()? != 5 {
        return None;
    }
    let algorithm = read_str(rd)?;
    let _id = read_str(rd)?;
    let iv = read_bin(rd)?;
    let nonce = read_bin(rd)?;
    let sealed = read_bin(rd)?;
    if !rd.is_empty() {
        return None;
    }
    Some(Parts {
        json: false,
        algorithm,
        iv,
        nonce,
        sealed,
    })
}

fn read_str(rd: &mut &[u8]) -> Option<String> {
    let len = rmp::decode::read_str_len(rd).ok()? as usize;
    let s = take(rd, len)?;
    String::from_utf8(s.to_vec()).ok()
}

fn read_bin(rd: &mut &[u8]) -> Option<Vec<u8>> {
    let len = rmp::decode::read_bin_len(rd).ok()? as usize;
    take(rd, len).map(<[u8]>::to_vec)
}

fn take<'a>(rd: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if rd.len() < len {
        return None;
    }
    let (head, rest) = rd.split_at(len);
    *rd = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    use crate::{Ciphertext, Error, KeyType};

    /// KES's published decryption vectors (minio/kes `internal/crypto/key_test.go`): key,
    /// ciphertext (JSON text, or base64 of the MessagePack and binary forms), associated data,
    /// plaintext (`None`: KES refuses it).
    const VECTORS: &[(KeyType, &str, &str, &str, Option<&str>)] = &[
        (KeyType::Aes256, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#, "", Some("AAAAAAAAAAAAAAAAAAAAAA==")),
        (KeyType::ChaCha20, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"8/kHMnCMs3h9NZ2a","bytes":"cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE="}"#, "", Some("AAAAAAAAAAAAAAAAAAAAAA==")),
        (KeyType::ChaCha20, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"ChaCha20Poly1305","id":"66687aadf862bd776c8fc18b8e9f8e20","iv":"EC0eZp7Pqt+LnkOae5xaAg==","nonce":"X1ejXKmH/ugFZPkk","bytes":"wIGBTDs6aOvsqJfekZ0PYRT/OHyFX2TXqeNwl1SLXOI="}"#, "", Some("AAAAAAAAAAAAAAAAAAAAAA==")),
        (KeyType::Aes256, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "b64:lbFBRVMyNTYtR0NNX1NIQTI1NtkgNjY2ODdhYWRmODYyYmQ3NzZjOGZjMThiOGU5ZjhlMjDEEExv7LAd4oz0SaHZrX5LBufEDEKME1ow1CDfUFrqv8QgJuy7Sw+jVqz99TK1HV851LT3K4mwwDv46TB2ngWkAJQ=", "", Some("AAAAAAAAAAAAAAAAAAAAAA==")),
        (KeyType::ChaCha20, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "b64:lbJYQ0hBQ0hBMjAtUE9MWTEzMDXZIDY2Njg3YWFkZjg2MmJkNzc2YzhmYzE4YjhlOWY4ZTIwxBBAr+aptD4x2+qfOhiErbnkxAxYs8RmNC1JJXD1hiHEIJ2KqM0jjkME7ndx8nyVseesN83Np0rM5ejVUun+fNFu", "", Some("AAAAAAAAAAAAAAAAAAAAAA==")),
        (KeyType::Aes256, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "b64:zwdDgHeRlIFRnJ7+DIhs/ka7GFK2CFSfDELqg1VCyTQzZ58o7MAdupMLk3ZjlMo2ZUDwldL2o41nAWDc", "", Some("AAAAAAAAAAAAAAAAAAAAAA==")),
        (KeyType::Aes256, "dDHbTWgo+Yh3u804SYB5OyVMy6RiLeJYBQth1f6KlEU=", "b64:s2gmfQHeGdlyL8x1yEWSACUV3GrSoz3t160hugMgzKWgyqesXDVUJ5Dw5Mt076rR1PNiU9X4YjLH14D8a81t2r2xsz4gVZac", "AAAAAAAAAAAAAAAAAAAAAA==", Some("CLcJoykFCWZDkEIiUq9bJRqwCwW9ZDvdgu8EMA==")),
        (KeyType::ChaCha20, "dDHbTWgo+Yh3u804SYB5OyVMy6RiLeJYBQth1f6KlEU=", "b64:gO4woRIswAJdjUjW7z2ApsSQxJlwB24yjLrmH4eI7sB0uh5nfEJfk9ybTPFft5FRFaZCVBmzhx7OJs9n0WWtxH3sySIxecIK", "AAAAAAAAAAAAAAAAAAAAAA==", Some("CLcJoykFCWZDkEIiUq9bJRqwCwW9ZDvdgu8EMA==")),
        // An algorithm KES does not know.
        (KeyType::Aes256, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"AES-256-GCM","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#, "", None),
        // Wrong iv and nonce lengths.
        (KeyType::Aes256, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"EjOY4JKqjIrPmQ5z1KSR8zlhggY=","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#, "", None),
        (KeyType::ChaCha20, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"SXAbms731/c=","bytes":"cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE="}"#, "", None),
        (KeyType::Aes256, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"efY+4kYF9n8=","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#, "", None),
        // Not authentic.
        (KeyType::Aes256, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"QTza1g5oX3f9cGJMbY1xJwWPj1F7R2VnNl6XpFKYQy0="}"#, "", None),
        (KeyType::ChaCha20, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"8/kHMnCMs3h9NZ2a","bytes":"TTi8pkO+Jh1JWAHvPxZeUk/iVoBPUCE4ZSVGBy3fW2s="}"#, "", None),
        // Not JSON (a missing comma).
        (KeyType::Aes256, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", r#"{"aead":"AES-256-GCM-HMAC-SHA-256" "iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#, "", None),
    ];

    fn bytes(text: &str) -> Vec<u8> {
        match text.strip_prefix("b64:") {
            Some(b64) => STANDARD.decode(b64).unwrap(),
            None => text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn kes_published_vectors_open_in_every_form_and_refusals_are_refused() {
        for (i, (kind, key, ciphertext, aad, plaintext)) in VECTORS.iter().enumerate() {
            let key: [u8; 32] = STANDARD.decode(key).unwrap().try_into().unwrap();
            let aad = STANDARD.decode(aad).unwrap();
            let opened = Ciphertext::open_kes(*kind, &key, &bytes(ciphertext), &aad);
            match plaintext {
                Some(p) => assert_eq!(
                    STANDARD.encode(opened.unwrap().as_slice()),
                    *p,
                    "vector {i}"
                ),
                None => assert_eq!(opened, Err(Error::InvalidCiphertext), "vector {i}"),
            }
        }
    }

    /// The envelope's algorithm must be known but the key's type decides: an AES envelope
    /// around a ChaCha20 ciphertext opens under the ChaCha20 key, as in KES.
    #[test]
    fn the_key_type_decides_not_the_envelope() {
        let zero = [0u8; 32];
        let chacha = r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"8/kHMnCMs3h9NZ2a","bytes":"cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE="}"#;
        let opened = Ciphertext::open_kes(KeyType::ChaCha20, &zero, chacha.as_bytes(), b"");
        assert_eq!(opened.unwrap().as_slice(), &[0u8; 16]);
    }

    /// An envelope's iv and nonce must each have their length: the same bytes with four of
    /// the sealed part moved into the iv (20 + 12) are refused, as KES refuses them, though
    /// the binary form they join into opens.
    #[test]
    fn iv_and_nonce_lengths_are_checked_each() {
        let iv = STANDARD.decode("xLxIN3tSCkg2xMafuvwUwg==").unwrap();
        let nonce = STANDARD.decode("gu0mGwUkwcvMEoi5").unwrap();
        let sealed = STANDARD
            .decode("WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc=")
            .unwrap();
        let envelope = |sealed: &[u8], iv: &[u8], nonce: &[u8]| {
            format!(
                r#"{{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"{}","nonce":"{}","bytes":"{}"}}"#,
                STANDARD.encode(iv),
                STANDARD.encode(nonce),
                STANDARD.encode(sealed)
            )
        };
        let open =
            |text: String| Ciphertext::open_kes(KeyType::Aes256, &[0; 32], text.as_bytes(), b"");
        assert!(open(envelope(&sealed, &iv, &nonce)).is_ok());
        let cut = sealed.len() - 4;
        let long_iv = [&sealed[cut..], iv.as_slice()].concat();
        assert_eq!(
            open(envelope(&sealed[..cut], &long_iv, &nonce)),
            Err(Error::InvalidCiphertext)
        );
    }

    /// Every prefix of a MessagePack envelope is refused without a panic, and so is one with
    /// a trailing byte.
    #[test]
    fn truncated_or_padded_msgpack_is_refused() {
        let full = bytes(VECTORS[3].2);
        for cut in 0..full.len() {
            assert!(Ciphertext::open_kes(KeyType::Aes256, &[0; 32], &full[..cut], b"").is_err());
        }
        let padded = [full.as_slice(), &[0]].concat();
        assert!(Ciphertext::open_kes(KeyType::Aes256, &[0; 32], &padded, b"").is_err());
    }
}
