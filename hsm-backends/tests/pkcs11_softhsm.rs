//! The PKCS#11 backend against a real SoftHSM2 token.
//!
//! One SoftHSM configuration per test process (SoftHSM reads it once, at `C_Initialize`), one
//! token per test, found by label. Without the module the tests fail under `CI=true` and are
//! skipped loudly elsewhere (`admin/test.sh` installs `softhsm2`).
#![cfg(feature = "pkcs11")]

use std::path::PathBuf;
use std::sync::OnceLock;

use minkms_hsm::{HsmError, Pkcs11Config, Pkcs11Hsm, SealMechanism, SealedBlob, SealingBackend};
use secrecy::{ExposeSecret, SecretString};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The module path, with this process's own token directory; `None` (skip) outside CI when
/// SoftHSM2 is not installed.
fn softhsm() -> Option<PathBuf> {
    static CONF: OnceLock<Option<PathBuf>> = OnceLock::new();
    CONF.get_or_init(|| {
        let module =
            PathBuf::from(std::env::var("TEST_PKCS11_MODULE").unwrap_or_else(|_| MODULE.into()));
        if !module.exists() {
            minkms_testkit::not_run(
                "the PKCS#11 backend tests",
                &format!(
                    "SoftHSM2 module {} not found (apt-get install softhsm2)",
                    module.display()
                ),
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap().keep();
        std::fs::create_dir(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.display()
            ),
        )
        .unwrap();
        // Set before this process loads the module: SoftHSM reads it once, at C_Initialize.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        Some(module)
    })
    .clone()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn token(label: &str) -> Option<Pkcs11Config> {
    let module = softhsm()?;
    Pkcs11Hsm::init_token(&module, label, &secret("so-pin-1234"), &secret("1234")).unwrap();
    Some(Pkcs11Config {
        module,
        token: label.into(),
        serial: None,
        pin: secret("1234"),
        key: "minkms-seal".into(),
        hmac_key: Some("minkms-hmac".into()),
        generate_key: true,
        mechanism: SealMechanism::AesGcm,
    })
}

#[test]
fn seals_unseals_and_derives_on_softhsm() {
    let Some(config) = token("seal-round-trip") else {
        return;
    };
    let hsm = Pkcs11Hsm::open(config.clone(), "pkcs11").unwrap();
    assert_eq!(hsm.id(), "pkcs11:seal-round-trip/minkms-seal");
    let blob = hsm.seal(b"root encryption key", b"ctx").unwrap();
    assert_eq!(blob.nonce().len(), 12);
    assert_eq!(
        hsm.unseal(&blob, b"ctx").unwrap().expose_secret(),
        b"root encryption key"
    );
    assert!(matches!(
        hsm.unseal(&blob, b"other"),
        Err(HsmError::InvalidCiphertext)
    ));
    // Tampered blobs are refused, whatever byte changed.
    let bytes = blob.to_bytes();
    for i in [bytes.len() - 1, bytes.len() - 20, bytes.len() - 40] {
        let mut t = bytes.clone();
        t[i] ^= 1;
        let b = SealedBlob::from_bytes(&t).unwrap();
        assert!(
            matches!(hsm.unseal(&b, b"ctx"), Err(HsmError::InvalidCiphertext)),
            "byte {i}"
        );
    }
    // Derive is deterministic, label-separated, and the same from a second handle (restart).
    let a = *hsm.derive("x").unwrap().expose_secret();
    assert_eq!(a, *hsm.derive("x").unwrap().expose_secret());
    assert_ne!(a, *hsm.derive("y").unwrap().expose_secret());
    let again = Pkcs11Hsm::open(
        Pkcs11Config {
            generate_key: false,
            ..config
        },
        "pkcs11",
    )
    .unwrap();
    assert_eq!(a, *again.derive("x").unwrap().expose_secret());
    assert_eq!(
        again.unseal(&blob, b"ctx").unwrap().expose_secret(),
        b"root encryption key"
    );
}

#[test]
fn wrong_module_path_is_a_config_error() {
    let Some(mut config) = token("wrong-module") else {
        return;
    };
    config.module = "/nonexistent/libpkcs11.so".into();
    let err = Pkcs11Hsm::open(config, "pkcs11").unwrap_err();
    assert!(matches!(err, HsmError::Config(_)), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/libpkcs11.so"),
        "{err}"
    );
}

#[test]
fn unknown_token_label_is_named_in_the_error() {
    let Some(mut config) = token("known-token") else {
        return;
    };
    config.token = "no-such-token".into();
    let err = Pkcs11Hsm::open(config, "pkcs11").unwrap_err().to_string();
    assert!(err.contains("no token labelled 'no-such-token'"), "{err}");
}

#[test]
fn wrong_pin_is_an_authentication_error() {
    let Some(mut config) = token("wrong-pin") else {
        return;
    };
    config.pin = secret("9999");
    let err = Pkcs11Hsm::open(config, "pkcs11").unwrap_err();
    assert!(matches!(err, HsmError::Authentication(_)), "{err}");
    assert!(
        !err.to_string().contains("9999"),
        "the PIN must not be in the error"
    );
}

#[test]
fn missing_key_label_without_generate_is_an_error_naming_module_token_and_label() {
    let Some(mut config) = token("missing-key") else {
        return;
    };
    config.generate_key = false;
    let err = Pkcs11Hsm::open(config, "pkcs11").unwrap_err().to_string();
    assert!(
        err.contains("minkms-seal") && err.contains("missing-key") && err.contains("libsofthsm2"),
        "{err}"
    );
}

#[test]
fn duplicate_key_labels_are_refused() {
    let Some(config) = token("duplicate-labels") else {
        return;
    };
    // The first open creates the key; a second AES key of the same label is made by hand.
    drop(Pkcs11Hsm::open(config.clone(), "pkcs11").unwrap());
    add_aes_key(&config, "minkms-seal");
    let err = Pkcs11Hsm::open(
        Pkcs11Config {
            generate_key: false,
            ..config
        },
        "pkcs11",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("2 keys are labelled 'minkms-seal'"), "{err}");
}

#[test]
fn a_key_without_hmac_cannot_communicate() {
    let Some(mut config) = token("no-hmac") else {
        return;
    };
    config.hmac_key = None;
    let hsm = Pkcs11Hsm::open(config, "pkcs11").unwrap();
    let err = hsm.derive("x").unwrap_err().to_string();
    assert!(err.contains("no hmac_key"), "{err}");
}

/// Creates an AES key on the token directly through cryptoki (the module is shared with the
/// backend: SoftHSM tolerates a second `C_Initialize` as "already initialized").
fn add_aes_key(config: &Pkcs11Config, label: &str) {
    add_key(config, label, false);
}

/// [`add_aes_key`], or with `wrap_only` a key that may wrap and unwrap but not encrypt.
fn add_key(config: &Pkcs11Config, label: &str, wrap_only: bool) {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::Attribute;
    session(config)
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Encrypt(!wrap_only),
                Attribute::Decrypt(!wrap_only),
                Attribute::Wrap(wrap_only),
                Attribute::Unwrap(wrap_only),
                Attribute::ValueLen(32.into()),
                Attribute::Label(label.as_bytes().to_vec()),
            ],
        )
        .unwrap();
}

/// A logged-in session of the test's own on the token of `config`.
fn session(config: &Pkcs11Config) -> cryptoki::session::Session {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    let ctx = Pkcs11::new(&config.module).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim() == config.token)
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    let _ = session.login(
        UserType::User,
        Some(&AuthPin::new(config.pin.expose_secret().into())),
    );
    session
}

/// The usage attributes of the key labelled `label`: encrypt, decrypt, wrap, unwrap, sign,
/// verify.
fn usage(config: &Pkcs11Config, label: &str) -> [bool; 6] {
    use cryptoki::object::{Attribute, AttributeType};
    let s = session(config);
    let found = s
        .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .unwrap();
    let [key] = found.as_slice() else {
        panic!("{} keys labelled {label}", found.len())
    };
    let types = [
        AttributeType::Encrypt,
        AttributeType::Decrypt,
        AttributeType::Wrap,
        AttributeType::Unwrap,
        AttributeType::Sign,
        AttributeType::Verify,
    ];
    let values = s.get_attributes(*key, &types).unwrap();
    let mut out = [false; 6];
    for (slot, value) in out.iter_mut().zip(values) {
        *slot = match value {
            Attribute::Encrypt(b)
            | Attribute::Decrypt(b)
            | Attribute::Wrap(b)
            | Attribute::Unwrap(b)
            | Attribute::Sign(b)
            | Attribute::Verify(b) => b,
            other => panic!("{other:?}"),
        };
    }
    out
}

/// Keys `generate_key` makes may do what their mechanism needs and nothing else.
#[test]
fn generated_keys_allow_only_what_their_mechanism_needs() {
    let Some(config) = token("usage") else {
        return;
    };
    for (mechanism, seal, hmac) in [
        (SealMechanism::AesGcm, "gcm-seal", "gcm-hmac"),
        (SealMechanism::AesKwp, "kwp-seal", "kwp-hmac"),
    ] {
        Pkcs11Hsm::open(
            Pkcs11Config {
                key: seal.into(),
                hmac_key: Some(hmac.into()),
                mechanism,
                ..config.clone()
            },
            "pkcs11",
        )
        .unwrap();
        let gcm = mechanism == SealMechanism::AesGcm;
        //                             encrypt decrypt wrap   unwrap  sign   verify
        assert_eq!(
            usage(&config, seal),
            [gcm, gcm, !gcm, !gcm, false, false],
            "{seal}"
        );
        assert_eq!(
            usage(&config, hmac),
            [false, false, false, false, true, true],
            "{hmac}"
        );
    }
}

/// A key that may only wrap (`CKA_ENCRYPT=false`, `CKA_WRAP=true`) seals with `aes-kwp`; the
/// blob records it, opens only for its context and not when altered; with `aes-gcm` the same
/// key is refused with a message naming the fix.
#[test]
fn a_wrap_only_key_seals_with_aes_kwp_and_is_refused_for_aes_gcm() {
    let Some(config) = token("wraponly") else {
        return;
    };
    add_key(&config, "wrap-only", true);
    let wrap_only = |mechanism| Pkcs11Config {
        key: "wrap-only".into(),
        hmac_key: None,
        generate_key: false,
        mechanism,
        ..config.clone()
    };
    let kwp = Pkcs11Hsm::open(wrap_only(SealMechanism::AesKwp), "pkcs11").unwrap();
    let blob = kwp.seal(b"the root key", b"ctx").unwrap();
    assert_eq!(blob.mechanism(), SealMechanism::AesKwp);
    let bytes = blob.to_bytes();
    let parsed = SealedBlob::from_bytes(&bytes).unwrap();
    assert_eq!(
        kwp.unseal(&parsed, b"ctx").unwrap().expose_secret(),
        b"the root key"
    );
    assert!(matches!(
        kwp.unseal(&parsed, b"other"),
        Err(HsmError::InvalidCiphertext)
    ));
    let header = bytes.len() - blob.ciphertext().len();
    for at in [header, header + 39, header + 40, bytes.len() - 1] {
        let mut altered = bytes.clone();
        altered[at] ^= 1;
        let altered = SealedBlob::from_bytes(&altered).unwrap();
        assert!(
            matches!(
                kwp.unseal(&altered, b"ctx"),
                Err(HsmError::InvalidCiphertext)
            ),
            "altered at {at}"
        );
    }
    let gcm = Pkcs11Hsm::open(wrap_only(SealMechanism::AesGcm), "pkcs11").unwrap();
    let err = gcm.seal(b"x", b"ctx").unwrap_err().to_string();
    assert!(
        err.contains("may not encrypt") && err.contains("mechanism: aes-kwp"),
        "{err}"
    );
    // The blob says how it was sealed: it opens whatever the configuration says now.
    assert_eq!(
        gcm.unseal(&parsed, b"ctx").unwrap().expose_secret(),
        b"the root key"
    );
    // A key generated for aes-kwp may wrap and not encrypt.
    let generated = Pkcs11Hsm::open(
        Pkcs11Config {
            key: "generated-wrap-only".into(),
            hmac_key: None,
            generate_key: true,
            mechanism: SealMechanism::AesKwp,
            ..config.clone()
        },
        "pkcs11",
    )
    .unwrap();
    let blob = generated.seal(b"k", b"c").unwrap();
    assert_eq!(generated.unseal(&blob, b"c").unwrap().expose_secret(), b"k");
    let err = Pkcs11Hsm::open(
        Pkcs11Config {
            key: "generated-wrap-only".into(),
            hmac_key: None,
            generate_key: false,
            mechanism: SealMechanism::AesGcm,
            ..config
        },
        "pkcs11",
    )
    .unwrap()
    .seal(b"x", b"c")
    .unwrap_err()
    .to_string();
    assert!(err.contains("may not encrypt"), "{err}");
}

/// A token that logged the application out (an HSM reset or failover does) leaves the
/// backend's pooled sessions public: private keys are then invisible. That is a lost login,
/// not a missing key: the backend logs in again and goes on, for both mechanisms.
#[test]
fn a_token_that_logged_out_is_logged_in_again() {
    let Some(config) = token("loggedout") else {
        return;
    };
    add_key(&config, "out-wrap", true);
    for (mechanism, key) in [
        (SealMechanism::AesGcm, "minkms-seal"),
        (SealMechanism::AesKwp, "out-wrap"),
    ] {
        // Keys made first, then a handle that makes none: a lost login must not read as a
        // missing key (nor, with generate_key, make a new one).
        Pkcs11Hsm::open(
            Pkcs11Config {
                key: key.into(),
                mechanism,
                ..config.clone()
            },
            "pkcs11",
        )
        .unwrap();
        let hsm = Pkcs11Hsm::open(
            Pkcs11Config {
                key: key.into(),
                mechanism,
                generate_key: false,
                ..config.clone()
            },
            "pkcs11",
        )
        .unwrap();
        let blob = hsm.seal(b"secret", b"c").unwrap();
        session(&config).logout().unwrap();
        let blob = hsm.seal(b"secret", b"c").map(|_| blob).unwrap();
        session(&config).logout().unwrap();
        assert_eq!(hsm.unseal(&blob, b"c").unwrap().expose_secret(), b"secret");
        session(&config).logout().unwrap();
        hsm.derive("x").unwrap();
    }
}
