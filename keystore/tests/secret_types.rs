//! Secrets hygiene: key material is zeroized on drop and never printed by `Debug`.

use minkms_hsm::{SealingBackend, Secret32, SoftHsm};
use minkms_keystore::{Command, KeyMaterial, KeyType, Timestamp};
use zeroize::ZeroizeOnDrop;

/// Compile-time proof that a type wipes itself on drop.
fn zeroized_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn key_types_are_zeroized_on_drop() {
    zeroized_on_drop::<KeyMaterial>();
    zeroized_on_drop::<minkms_keystore::WrappingPrivateKey>();
    zeroized_on_drop::<Secret32>();
    zeroized_on_drop::<secrecy::SecretSlice<u8>>();
    zeroized_on_drop::<zeroize::Zeroizing<Vec<u8>>>();
}

/// The AES key schedules inside the AES-GCM ciphers (the soft HSM's, the per-message sub-keys)
/// hold the key itself (the first round key is the key): they are wiped on drop too.
#[test]
fn aes_key_schedules_are_zeroized_on_drop() {
    zeroized_on_drop::<aes::Aes256>();
    zeroized_on_drop::<aes::Aes256Enc>();
}

#[test]
fn debug_output_never_shows_key_material() {
    let material = [0xA7u8; 32];
    let cmd = Command::CreateKey {
        enclave: "e".into(),
        name: "k".into(),
        kind: KeyType::Aes256,
        material: KeyMaterial::from_slice(&material).unwrap(),
        add_version: false,
        imported: true,
        // Fixed: the digits of the current time contain "167" now and then.
        at: Timestamp {
            secs: 1_800_000_000,
            nanos: 0,
        },
        by: String::new(),
    };
    let printed = format!("{cmd:?} {:?}", KeyMaterial::from_slice(&material).unwrap());
    for needle in ["167", "a7a7", "A7A7", "0xa7"] {
        assert!(
            !printed.contains(needle),
            "key material in Debug output: {printed}"
        );
    }
    assert!(printed.contains("redacted"));

    let key = SoftHsm::generate_key();
    let hsm = SoftHsm::parse(&key).unwrap();
    let secret = hsm.derive("x").unwrap();
    let blob = hsm.seal(&material, b"ctx").unwrap();
    let printed = format!("{hsm:?} {secret:?} {blob:?}");
    assert!(
        !printed.contains(&key[11..30]),
        "the HSM key in Debug output: {printed}"
    );
    assert!(
        !printed.contains("167"),
        "secret bytes in Debug output: {printed}"
    );
}

/// An import wrapping key's private half, alone or inside its command, prints as redacted.
#[test]
fn debug_output_never_shows_a_wrapping_private_key() {
    let key = minkms_keystore::WrappingPrivateKey::generate().unwrap();
    assert_eq!(format!("{key:?}"), "WrappingPrivateKey(<redacted>)");
    let cmd = Command::CreateWrappingKey {
        enclave: "e".into(),
        private_key: key,
        at: Timestamp::now(),
        by: String::new(),
    };
    let printed = format!("{cmd:?}");
    assert!(
        printed.contains("private_key: WrappingPrivateKey(<redacted>)"),
        "{printed}"
    );
}
