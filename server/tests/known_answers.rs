//! Known answers through a running node: a key imported from known bytes is that key. It
//! opens a KES-format ciphertext made elsewhere, the node's own ciphertexts open under it with
//! the AEAD crates alone (docs/formats.md §2, nothing of minkms' code), and its MAC is the
//! value Python's `hmac` computes.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use minkms_testkit::{runtime, soft_hsm_key, Node};
use sha2::Sha256;

/// The key of `keystore/testdata/kes-aes256-vector.hex`.
const KEY: [u8; 32] = [0x11; 32];

/// `hmac.new(hmac.new(bytes([0x11]*32), b"minkms/v1/key/mac", sha256).digest(),
/// b"the quick brown fox", sha256).hexdigest()` in Python 3.
const MAC_OF_FOX: &str = "c6bcc95a37f8940d33132780bb2dc0b40d727f272fc06aa3a3ec6c969f86d246";

/// A node with enclave `e` holding key `known` imported from [`KEY`] (and its directory).
fn node_with_known_key() -> (tempfile::TempDir, Node) {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let c = node.root();
    runtime().block_on(async {
        c.create_enclave("e").await.unwrap();
        c.import_key("e", "known", "AES256", &KEY).await.unwrap();
    });
    (tmp, node)
}

#[test]
fn an_imported_key_is_the_given_key() {
    let (_tmp, node) = node_with_known_key();
    let c = node.root();
    runtime().block_on(async {
        // A ciphertext in KES's untagged form, made outside minkms (plaintext "kes", associated
        // data "ctx"), opens.
        let kes = hex::decode(include_str!("../../keystore/testdata/kes-aes256-vector.hex").trim())
            .unwrap();
        let opened = c.decrypt("e", "known", 0, &kes, b"ctx").await.unwrap();
        assert_eq!(opened.plaintext, b"kes");

        // The node's own ciphertext opens under the known key by the documented layout.
        let sealed = c.encrypt("e", "known", b"hello", b"{}").await.unwrap();
        let ct = sealed.ciphertext;
        assert_eq!((ct[0], &ct[1..5]), (0x01, &1u32.to_be_bytes()[..]));
        let (iv, nonce, body) = (&ct[5..21], &ct[21..33], &ct[33..]);
        let mut sub = <Hmac<Sha256> as Mac>::new_from_slice(&KEY).unwrap();
        sub.update(iv);
        let sub = sub.finalize().into_bytes();
        let aad = [&ct[..5], b"{}".as_slice()].concat();
        let plain = Aes256Gcm::new_from_slice(&sub)
            .unwrap()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .expect("the node's ciphertext opens under the imported key");
        assert_eq!(plain, b"hello");
    });
}

#[test]
fn a_mac_is_the_known_value_and_changes_with_message_and_version() {
    let (_tmp, node) = node_with_known_key();
    let c = node.root();
    runtime().block_on(async {
        let mac = c
            .mac("e", "known", 0, b"the quick brown fox")
            .await
            .unwrap();
        assert_eq!((mac.version, hex::encode(&mac.mac)), (1, MAC_OF_FOX.into()));
        let other = c
            .mac("e", "known", 0, b"the quick brown fix")
            .await
            .unwrap();
        assert_ne!(other.mac, mac.mac);
        // A new version (random material) gives another MAC; version 1 still gives the known one.
        c.create_key("e", "known", "", true).await.unwrap();
        let v2 = c
            .mac("e", "known", 0, b"the quick brown fox")
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_ne!(v2.mac, mac.mac);
        let v1 = c
            .mac("e", "known", 1, b"the quick brown fox")
            .await
            .unwrap();
        assert_eq!(hex::encode(&v1.mac), MAC_OF_FOX);
    });
}
