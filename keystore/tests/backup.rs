//! Backup files at the keystore level: a round trip keeps everything and the cluster id of the
//! target; every damaged, truncated, foreign or misversioned file is refused before anything
//! is written; group commits plan each command against the ones before it.

mod common;

use std::sync::Arc;

use minkms_hsm::{BackendSet, SealingBackend, SoftHsm};
use minkms_keystore::{Command, Error, KeyMaterial, KeyType, Keystore, Timestamp};

use common::encrypt;

fn hsm(key: &str) -> BackendSet {
    let backend: Arc<dyn SealingBackend> = Arc::new(SoftHsm::parse(key).unwrap());
    BackendSet::single(backend)
}

fn key(enclave: &str, name: &str) -> Command {
    Command::CreateKey {
        enclave: enclave.into(),
        name: name.into(),
        kind: KeyType::Aes256,
        material: KeyMaterial::generate(),
        add_version: false,
        imported: false,
        at: Timestamp::now(),
        by: "test".into(),
    }
}

fn enclave(name: &str) -> Command {
    Command::CreateEnclave {
        name: name.into(),
        at: Timestamp::now(),
        by: "test".into(),
    }
}

fn filled(dir: &std::path::Path, hsm_key: &str) -> Keystore {
    let ks = Keystore::open_or_create(dir, &hsm(hsm_key)).unwrap();
    let outcomes = ks
        .apply_all(&[
            enclave("e"),
            key("e", "k1"),
            key("e", "k1"),
            key("e", "k2"),
            key("nope", "k"),
        ])
        .unwrap();
    assert_eq!(outcomes[0], Ok(()));
    assert_eq!(outcomes[1], Ok(()));
    // Planned against the state the first create left: the second create of k1 conflicts.
    assert_eq!(outcomes[2], Err(Error::KeyExists));
    assert_eq!(outcomes[3], Ok(()));
    assert_eq!(outcomes[4], Err(Error::EnclaveNotFound));
    assert_eq!(ks.commit_index(), 1, "one group commit counts once");
    ks
}

#[test]
fn a_backup_restores_everything_onto_a_fresh_keystore_and_keeps_its_cluster_id() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm_key = SoftHsm::generate_key();
    let source = filled(&tmp.path().join("a"), &hsm_key);
    let (_, ct) = encrypt(&source.state(), "e", "k2", 0, b"data", b"ad").unwrap();
    let file = source.backup().unwrap();

    let target = Keystore::open_or_create(&tmp.path().join("b"), &hsm(&hsm_key)).unwrap();
    let own_id = target.info().cluster_id;
    let mut seen = None;
    let commit = target
        .restore(&file, &hsm(&hsm_key), |c| {
            seen = Some(c);
            Ok(b"replication".to_vec())
        })
        .unwrap();
    assert_eq!(seen, Some(commit));
    assert_eq!(commit, 2, "the backup's commit plus one");
    assert_eq!(target.commit_index(), 2);
    assert_eq!(target.info().cluster_id, own_id);
    assert_eq!(
        target.replication().unwrap().as_deref(),
        Some(&b"replication"[..])
    );
    let pt = target.state().decrypt("e", "k2", 0, &ct, b"ad").unwrap();
    assert_eq!(&pt[..], b"data");
    assert!(target.state().key_info("e", "k1", 0).is_ok());
    // And after a restart.
    drop(target);
    let reopened = Keystore::open_or_create(&tmp.path().join("b"), &hsm(&hsm_key)).unwrap();
    assert!(reopened.state().key_info("e", "k2", 0).is_ok());
}

#[test]
fn damaged_truncated_foreign_and_future_backups_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm_key = SoftHsm::generate_key();
    let file = filled(&tmp.path().join("a"), &hsm_key).backup().unwrap();
    let target = Keystore::open_or_create(&tmp.path().join("b"), &hsm(&hsm_key)).unwrap();
    let mut cases: Vec<(String, Vec<u8>, &str)> = vec![
        ("empty".into(), Vec::new(), "not a minkms backup"),
        ("header only".into(), file[..10].to_vec(), "truncated"),
        (
            "truncated".into(),
            file[..file.len() - 1].to_vec(),
            "truncated",
        ),
        (
            "trailing".into(),
            [&file[..], b"x"].concat(),
            "trailing data",
        ),
        (
            "future".into(),
            [&file[..4], &[0, 2], &file[6..]].concat(),
            "format version 2",
        ),
        // Found by the backup_file fuzz target: a length near u64::MAX overflowed.
        (
            "huge length".into(),
            [&file[..6], &[0xff; 8], &file[14..]].concat(),
            "damaged",
        ),
    ];
    // One bit flipped anywhere after the header: refused, whichever check notices.
    for i in (14..file.len()).step_by(7) {
        let mut f = file.clone();
        f[i] ^= 1 << (i % 8);
        cases.push((format!("bit {i}"), f, "invalid backup"));
    }
    let foreign = filled(&tmp.path().join("c"), &SoftHsm::generate_key())
        .backup()
        .unwrap();
    cases.push(("foreign".into(), foreign, "cannot unseal the root key"));
    for (name, bytes, message) in cases {
        let err = target
            .restore(&bytes, &hsm(&hsm_key), |_| {
                panic!("{name}: must not get this far")
            })
            .expect_err(&name);
        let err = err.to_string();
        // A flipped bit is caught by whichever check meets it first: the framing, the sealed
        // root key, or the MAC.
        let refused = err.contains(message)
            || (message == "invalid backup"
                && (err.contains("invalid") || err.contains("cannot unseal")));
        assert!(refused, "{name}: {err}");
        assert_eq!(target.commit_index(), 0, "{name}");
        assert!(
            target.state().list_enclaves("", "", 10).items.is_empty(),
            "{name}"
        );
    }
}

/// An enclave's import wrapping key: the first one committed stays (a second made at the same
/// time changes nothing), a backup carries it, and deleting the enclave deletes it.
#[test]
fn wrapping_keys_keep_the_first_travel_in_backups_and_go_with_their_enclave() {
    use minkms_keystore::WrappingPrivateKey;
    let tmp = tempfile::tempdir().unwrap();
    let hsm_key = SoftHsm::generate_key();
    let source = filled(&tmp.path().join("a"), &hsm_key);
    let wrapping = |enclave: &str| Command::CreateWrappingKey {
        enclave: enclave.into(),
        private_key: WrappingPrivateKey::generate().unwrap(),
        at: Timestamp::now(),
        by: "test".into(),
    };
    assert_eq!(source.state().wrapping_key("e").unwrap(), None);
    let outcomes = source
        .apply_all(&[wrapping("e"), wrapping("e"), wrapping("nope")])
        .unwrap();
    assert_eq!(outcomes[..2], [Ok(()), Ok(())]);
    assert_eq!(outcomes[2], Err(Error::EnclaveNotFound));
    let first = source.state().wrapping_key("e").unwrap().unwrap();
    source.apply_all(&[wrapping("e")]).unwrap();
    assert_eq!(source.state().wrapping_key("e").unwrap().unwrap(), first);

    let file = source.backup().unwrap();
    let target = Keystore::open_or_create(&tmp.path().join("b"), &hsm(&hsm_key)).unwrap();
    target
        .restore(&file, &hsm(&hsm_key), |_| Ok(b"replication".to_vec()))
        .unwrap();
    assert_eq!(target.state().wrapping_key("e").unwrap().unwrap(), first);
    drop(target);
    let reopened = Keystore::open_or_create(&tmp.path().join("b"), &hsm(&hsm_key)).unwrap();
    assert_eq!(reopened.state().wrapping_key("e").unwrap().unwrap(), first);

    reopened
        .apply_all(&[Command::DeleteEnclave { name: "e".into() }, enclave("e")])
        .unwrap();
    assert_eq!(reopened.state().wrapping_key("e").unwrap(), None);
    drop(reopened);
    let again = Keystore::open_or_create(&tmp.path().join("b"), &hsm(&hsm_key)).unwrap();
    assert_eq!(again.state().wrapping_key("e").unwrap(), None);
}
