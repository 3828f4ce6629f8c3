//! Bring your own key from a PKCS#11 HSM: a key generated on a SoftHSM2 token, extractable only
//! by wrapping, leaves it as two `C_WrapKey` calls (RSA-OAEP of a fresh AES key under the
//! enclave's wrapping key, then that AES key's `CKM_AES_KEY_WRAP_PAD` of the key) and imports
//! into minkms with `import-key --wrapped` as the same key.
//!
//! SoftHSM2 (2.6) does RSA-OAEP with SHA-1 only, so the file is imported with `--hash SHA1`;
//! SHA-256 files are covered by the server's own tests.

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use minkms_softhsm_tests::softhsm2;
use minkms_testkit::{runtime, soft_hsm_key, Node};

/// One DER element: (its content, what follows it).
fn der(bytes: &[u8]) -> (&[u8], &[u8]) {
    let (len, head) = if bytes[1] < 0x80 {
        (usize::from(bytes[1]), 2)
    } else {
        let n = usize::from(bytes[1] & 0x7f);
        let len = bytes[2..2 + n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, 2 + n)
    };
    (&bytes[head..head + len], &bytes[head + len..])
}

/// The modulus and public exponent of a DER SubjectPublicKeyInfo of an RSA key.
fn rsa_components(spki: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (spki, _) = der(spki);
    let (_algorithm, rest) = der(spki);
    let (bits, _) = der(rest);
    let (rsa, _) = der(&bits[1..]); // a BIT STRING starts with its count of unused bits
    let (n, rest) = der(rsa);
    let (e, _) = der(rest);
    let strip = |v: &[u8]| {
        v.iter()
            .skip_while(|b| **b == 0)
            .copied()
            .collect::<Vec<_>>()
    };
    (strip(n), strip(e))
}

#[test]
fn a_key_generated_on_a_token_is_wrapped_out_and_imported_as_the_same_key() {
    let Some(hsm) = softhsm2() else { return };
    hsm.token("byok");
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    node.cli(&["add-enclave", "e"]);
    let pem = node.cli(&["wrapping-key", "-e", "e"]);
    let spki = {
        use base64::Engine as _;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    };
    let (modulus, exponent) = rsa_components(&spki);
    assert_eq!(modulus.len(), 512, "an RSA-4096 modulus");

    let session = hsm.session("byok");
    let aes = |extra: &[Attribute]| {
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(false),
            Attribute::Sensitive(true),
            Attribute::Extractable(true),
        ];
        template.extend_from_slice(extra);
        template
    };
    // The key to bring over: made on the token, sensitive (its value never readable), leaves
    // only wrapped.
    let key = session
        .generate_key(&Mechanism::AesKeyGen, &aes(&[Attribute::Sign(true)]))
        .unwrap();
    let value = session.get_attributes(key, &[cryptoki::object::AttributeType::Value]);
    assert!(
        value.is_err() || value.unwrap().is_empty(),
        "a sensitive key's value is not readable"
    );
    // A fresh AES key, also on the token, that wraps it.
    let transport = session
        .generate_key(&Mechanism::AesKeyGen, &aes(&[Attribute::Wrap(true)]))
        .unwrap();
    // The enclave's public key, imported into the session.
    let wrapping = session
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(modulus),
            Attribute::PublicExponent(exponent),
            Attribute::Wrap(true),
            Attribute::Token(false),
        ])
        .unwrap();
    let oaep = PkcsOaepParams::new(
        MechanismType::SHA1,
        PkcsMgfType::MGF1_SHA1,
        PkcsOaepSource::empty(),
    );
    let block = session
        .wrap_key(&Mechanism::RsaPkcsOaep(oaep), wrapping, transport)
        .unwrap();
    let kwp = session
        .wrap_key(&Mechanism::AesKeyWrapPad, transport, key)
        .unwrap();
    assert_eq!((block.len(), kwp.len()), (512, 40));
    let file = tmp.path().join("wrapped.bin");
    std::fs::write(&file, [block, kwp].concat()).unwrap();
    let file = file.to_str().unwrap();
    node.cli(&[
        "import-key",
        "-e",
        "e",
        "from-token",
        "--wrapped",
        file,
        "--hash",
        "SHA1",
    ]);

    // The same material, learnt through a wrap under a key whose value the test knows, imported
    // in plain under another name: both keys give the same MAC.
    let known = [0x5au8; 32];
    let known_kek = session
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(known.to_vec()),
            Attribute::Wrap(true),
            Attribute::Token(false),
        ])
        .unwrap();
    let exported = session
        .wrap_key(&Mechanism::AesKeyWrapPad, known_kek, key)
        .unwrap();
    let material = aes_kw::KekAes256::from(known)
        .unwrap_with_padding_vec(&exported)
        .unwrap();
    assert_eq!(material.len(), 32);
    node.cli(&["import-key", "-e", "e", "in-plain", &{
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&material)
    }]);
    let root = node.root();
    runtime().block_on(async {
        let a = root.mac("e", "from-token", 0, b"message").await.unwrap();
        let b = root.mac("e", "in-plain", 0, b"message").await.unwrap();
        assert_eq!(a.mac, b.mac);
    });
    // The SHA-1 file given as SHA-256 does not open, and makes nothing.
    let out = node.cli_as(
        &node.root_api_key,
        &["import-key", "-e", "e", "wrong-hash", "--wrapped", file],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not open"),
        "{out:?}"
    );
}
