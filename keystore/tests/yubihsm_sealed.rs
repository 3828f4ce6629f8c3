//! A keystore sealed by a YubiHSM 2 (the `yubihsm` crate's MockHsm: no device is reachable
//! here) is created, reopened ("restart"), and refuses another device.

mod common;

use std::sync::Arc;

use minkms_hsm::{BackendSet, SealingBackend, YubiHsm};
use minkms_keystore::{Command, KeyMaterial, KeyType, Keystore, Timestamp};

use common::generate;
use yubihsm::{Capability, Client, Connector, Credentials, Domain};

const HMAC_KEY: u16 = 0x0100;

fn device() -> Connector {
    let connector = Connector::mockhsm();
    let admin = Client::open(connector.clone(), Credentials::default(), true).unwrap();
    admin
        .generate_hmac_key(
            HMAC_KEY,
            "minkms".into(),
            Domain::DOM1,
            Capability::SIGN_HMAC,
            yubihsm::hmac::Algorithm::Sha256,
        )
        .unwrap();
    connector
}

fn set(connector: Connector) -> BackendSet {
    let backend: Arc<dyn SealingBackend> =
        Arc::new(YubiHsm::open(connector, 1, b"password", HMAC_KEY).unwrap());
    BackendSet::single(backend)
}

#[test]
fn a_yubihsm_sealed_keystore_restarts_and_serves_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let connector = device();
    let (ct, pt) = {
        let ks = Keystore::open_or_create(dir.path(), &set(connector.clone())).unwrap();
        ks.apply(&Command::CreateEnclave {
            name: "e".into(),
            at: Timestamp::now(),
            by: String::new(),
        })
        .unwrap();
        ks.apply(&Command::CreateKey {
            enclave: "e".into(),
            name: "k".into(),
            kind: KeyType::Aes256,
            material: KeyMaterial::generate(),
            add_version: false,
            imported: false,
            at: Timestamp::now(),
            by: String::new(),
        })
        .unwrap();
        let dk = generate(&ks.state(), "e", "k", 0, b"", 32).unwrap();
        (dk.ciphertext, dk.plaintext.to_vec())
    };
    let ks = Keystore::open_or_create(dir.path(), &set(connector)).unwrap();
    assert!(ks.info().unsealed_by.starts_with("yubihsm:"));
    assert_eq!(*ks.state().decrypt("e", "k", 0, &ct, b"").unwrap(), pt);
    drop(ks);
    // Another device (another HMAC key) cannot open it.
    let other = set(device());
    let err = Keystore::open_or_create(dir.path(), &other)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("failed to unseal root encryption key with HSM"),
        "{err}"
    );
}
