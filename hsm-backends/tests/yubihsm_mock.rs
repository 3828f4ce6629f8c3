//! The YubiHSM backend against the `yubihsm` crate's MockHsm (a software model of the device;
//! no real YubiHSM 2 is reachable here).
#![cfg(feature = "yubihsm")]

use minkms_hsm::{HsmError, SealingBackend, YubiHsm};
use secrecy::ExposeSecret;
use yubihsm::{Capability, Client, Connector, Credentials, Domain};

const HMAC_KEY: u16 = 0x0100;

/// A fresh mock device with one HMAC-SHA256 key, and the default auth key 1 / "password".
fn mock_with_hmac_key() -> Connector {
    let connector = Connector::mockhsm();
    let admin = Client::open(connector.clone(), Credentials::default(), true).unwrap();
    admin
        .generate_hmac_key(
            HMAC_KEY,
            "minkms".into(),
            Domain::DOM1,
            Capability::SIGN_HMAC | Capability::VERIFY_HMAC,
            yubihsm::hmac::Algorithm::Sha256,
        )
        .unwrap();
    connector
}

#[test]
fn seals_unseals_and_derives_on_the_mock() {
    let connector = mock_with_hmac_key();
    let hsm = YubiHsm::open(connector.clone(), 1, b"password", HMAC_KEY).unwrap();
    assert!(
        hsm.id().starts_with("yubihsm:") && hsm.id().ends_with("/0x0100"),
        "{}",
        hsm.id()
    );
    let blob = hsm.seal(b"root key", b"ctx").unwrap();
    assert_eq!(
        hsm.unseal(&blob, b"ctx").unwrap().expose_secret(),
        b"root key"
    );
    assert!(matches!(
        hsm.unseal(&blob, b"other"),
        Err(HsmError::InvalidCiphertext)
    ));
    let x = *hsm.derive("x").unwrap().expose_secret();
    assert_ne!(x, *hsm.derive("y").unwrap().expose_secret());
    // A second session on the same device (a restart) opens the blob and derives the same.
    let again = YubiHsm::open(connector, 1, b"password", HMAC_KEY).unwrap();
    assert_eq!(
        again.unseal(&blob, b"ctx").unwrap().expose_secret(),
        b"root key"
    );
    assert_eq!(x, *again.derive("x").unwrap().expose_secret());
}

#[test]
fn another_device_cannot_unseal() {
    let a = YubiHsm::open(mock_with_hmac_key(), 1, b"password", HMAC_KEY).unwrap();
    let b = YubiHsm::open(mock_with_hmac_key(), 1, b"password", HMAC_KEY).unwrap();
    let blob = a.seal(b"root key", b"ctx").unwrap();
    let relabeled =
        minkms_hsm::SealedBlob::new(b.id(), blob.nonce().to_vec(), blob.ciphertext().to_vec())
            .unwrap();
    assert!(matches!(
        b.unseal(&relabeled, b"ctx"),
        Err(HsmError::InvalidCiphertext)
    ));
}

#[test]
fn wrong_password_is_an_authentication_error() {
    let err = YubiHsm::open(mock_with_hmac_key(), 1, b"wrong", HMAC_KEY).unwrap_err();
    assert!(matches!(err, HsmError::Authentication(_)), "{err}");
    assert!(!err.to_string().contains("wrong"));
}

#[test]
fn missing_hmac_key_is_a_config_error() {
    let err = YubiHsm::open(Connector::mockhsm(), 1, b"password", HMAC_KEY).unwrap_err();
    assert!(matches!(err, HsmError::Config(_)), "{err}");
}

#[test]
fn unreachable_connector_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let connector = YubiHsm::http_connector(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = YubiHsm::open(connector, 1, b"password", HMAC_KEY).unwrap_err();
    assert!(matches!(err, HsmError::Unavailable(_)), "{err}");
    assert!(YubiHsm::http_connector("not a url").is_err());
}
