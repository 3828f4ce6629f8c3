//! The keystore against a real redb file: persistence, sealing, versions, and bad input.

mod common;

use std::sync::Arc;

use minkms_hsm::{BackendSet, SealingBackend, SoftHsm};
use minkms_keystore::{
    Command, Error, KeyMaterial, KeyType, Keystore, Privilege, Timestamp, DB_FILE,
    MAX_DATA_KEY_LEN, MAX_LIST_LIMIT, MAX_SEALS_PER_SUB_KEY,
};

use common::{encrypt, generate};

const ROOT: &str = "h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0";
const USER: &str = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn hsm(key: &str) -> BackendSet {
    let backend: Arc<dyn SealingBackend> = Arc::new(SoftHsm::parse(key).unwrap());
    BackendSet::single(backend)
}

fn create_enclave(ks: &Keystore, name: &str) -> Result<(), Error> {
    ks.apply(&Command::CreateEnclave {
        name: name.into(),
        at: Timestamp::now(),
        by: ROOT.into(),
    })
}

fn create_key(ks: &Keystore, enclave: &str, name: &str, add_version: bool) -> Result<(), Error> {
    ks.apply(&Command::CreateKey {
        enclave: enclave.into(),
        name: name.into(),
        kind: KeyType::Aes256,
        material: KeyMaterial::generate(),
        add_version,
        imported: false,
        at: Timestamp::now(),
        by: ROOT.into(),
    })
}

#[test]
fn state_survives_a_restart_with_the_same_hsm_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = SoftHsm::generate_key();
    let (ct, dek) = {
        let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
        assert!(ks.info().created);
        create_enclave(&ks, "enclave-1").unwrap();
        create_key(&ks, "enclave-1", "key-1", false).unwrap();
        ks.apply(&Command::CreatePolicy {
            enclave: "enclave-1".into(),
            name: "p1".into(),
            policy_json: r#"{"allow":{"KEY:GENERATE":["key-*"]}}"#.into(),
            at: Timestamp::now(),
            by: ROOT.into(),
        })
        .unwrap();
        ks.apply(&Command::CreateIdentity {
            enclave: "enclave-1".into(),
            identity: USER.into(),
            privilege: Privilege::User,
            parent: String::new(),
            tags: Default::default(),
            at: Timestamp::now(),
            by: ROOT.into(),
        })
        .unwrap();
        ks.apply(&Command::AssignPolicy {
            enclave: "enclave-1".into(),
            identity: USER.into(),
            policy: "p1".into(),
        })
        .unwrap();
        let dk = generate(&ks.state(), "enclave-1", "key-1", 0, b"{}", 32).unwrap();
        assert_eq!(ks.commit_index(), 5);
        (dk.ciphertext, dk.plaintext.to_vec())
    };
    let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
    assert!(!ks.info().created);
    assert_eq!(ks.commit_index(), 5);
    let state = ks.state();
    assert_eq!(
        *state.decrypt("enclave-1", "key-1", 0, &ct, b"{}").unwrap(),
        dek
    );
    assert_eq!(state.identity_info("enclave-1", USER).unwrap().policy, "p1");
    let principal = state.principal("enclave-1", USER).unwrap().unwrap();
    assert_eq!(principal.privilege, Privilege::User);
    assert_eq!(state.enclave_of(USER), Some("enclave-1"));
    assert_eq!(state.enclave_of(ROOT), None);
    assert!(principal.policy.unwrap().allows_some("KEY:GENERATE"));
}

#[test]
fn restart_with_another_hsm_key_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
        create_enclave(&ks, "e").unwrap();
    }
    let before = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    let err = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to unseal root encryption key with HSM: invalid ciphertext"
    );
    assert_eq!(std::fs::read(dir.path().join(DB_FILE)).unwrap(), before);
}

#[test]
fn no_key_material_or_names_of_secrets_reach_the_file_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let key = SoftHsm::generate_key();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
    create_enclave(&ks, "e").unwrap();
    let material = KeyMaterial::from_slice(&[0x5a; 32]).unwrap();
    ks.apply(&Command::CreateKey {
        enclave: "e".into(),
        name: "k".into(),
        kind: KeyType::Aes256,
        material,
        add_version: false,
        imported: true,
        at: Timestamp::now(),
        by: ROOT.into(),
    })
    .unwrap();
    drop(ks);
    let file = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    assert!(
        !file.windows(32).any(|w| w == [0x5a; 32]),
        "imported key material on disk in plaintext"
    );
    assert!(
        !file.windows(8).any(|w| w == &key.as_bytes()[11..19]),
        "HSM key on disk"
    );
}

#[test]
fn new_versions_keep_old_ciphertexts_readable() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    create_key(&ks, "e", "k", false).unwrap();
    let (v1, ct1) = encrypt(&ks.state(), "e", "k", 0, b"one", b"").unwrap();
    assert_eq!(create_key(&ks, "e", "k", false), Err(Error::KeyExists));
    create_key(&ks, "e", "k", true).unwrap();
    let (v2, ct2) = encrypt(&ks.state(), "e", "k", 0, b"two", b"").unwrap();
    assert_eq!((v1, v2), (1, 2));
    let state = ks.state();
    assert_eq!(&**state.decrypt("e", "k", 0, &ct1, b"").unwrap(), b"one");
    assert_eq!(&**state.decrypt("e", "k", 0, &ct2, b"").unwrap(), b"two");
    assert_eq!(&**state.decrypt("e", "k", 1, &ct1, b"").unwrap(), b"one");
    assert_eq!(
        state.decrypt("e", "k", 2, &ct1, b""),
        Err(Error::InvalidCiphertext)
    );
    assert_eq!(state.key_versions("e", "k").unwrap().len(), 2);
    drop(state);
    // Deleting the latest version leaves the first; numbers are never reused.
    ks.apply(&Command::DeleteKey {
        enclave: "e".into(),
        name: "k".into(),
        version: 0,
        all: false,
    })
    .unwrap();
    assert_eq!(ks.state().key_info("e", "k", 0).unwrap().version, 1);
    create_key(&ks, "e", "k", true).unwrap();
    assert_eq!(ks.state().key_info("e", "k", 0).unwrap().version, 3);
    assert_eq!(
        ks.state().decrypt("e", "k", 0, &ct2, b""),
        Err(Error::InvalidCiphertext)
    );
}

#[test]
fn refused_writes_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    let commit = ks.commit_index();
    assert_eq!(create_enclave(&ks, "e"), Err(Error::EnclaveExists));
    assert!(matches!(
        create_enclave(&ks, "bad name"),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        create_key(&ks, "e", &"x".repeat(81), false),
        Err(Error::Invalid(_))
    ));
    assert_eq!(
        create_key(&ks, "nope", "k", false),
        Err(Error::EnclaveNotFound)
    );
    assert_eq!(
        ks.apply(&Command::DeleteKey {
            enclave: "e".into(),
            name: "k".into(),
            version: 0,
            all: true
        }),
        Err(Error::KeyNotFound)
    );
    assert_eq!(
        ks.apply(&Command::DeletePolicy {
            enclave: "e".into(),
            name: "p".into()
        }),
        Err(Error::PolicyNotFound)
    );
    assert_eq!(
        ks.apply(&Command::AssignPolicy {
            enclave: "e".into(),
            identity: USER.into(),
            policy: "p".into()
        }),
        Err(Error::IdentityNotFound)
    );
    assert!(matches!(
        ks.apply(&Command::CreatePolicy {
            enclave: "e".into(),
            name: "p".into(),
            policy_json: "{".into(),
            at: Timestamp::now(),
            by: ROOT.into()
        }),
        Err(Error::Invalid(_))
    ));
    assert_eq!(ks.commit_index(), commit);
    assert_eq!(ks.state().key_count("e").unwrap(), 0);
}

#[test]
fn deleting_an_enclave_deletes_everything_in_it_durably() {
    let dir = tempfile::tempdir().unwrap();
    let key = SoftHsm::generate_key();
    {
        let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
        create_enclave(&ks, "e").unwrap();
        create_key(&ks, "e", "k", false).unwrap();
        ks.apply(&Command::DeleteEnclave { name: "e".into() })
            .unwrap();
        create_enclave(&ks, "e").unwrap();
    }
    let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
    assert_eq!(ks.state().key_count("e").unwrap(), 0);
}

#[test]
fn listing_pages_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    for i in 0..5 {
        create_key(&ks, "e", &format!("a-{i}"), false).unwrap();
    }
    create_key(&ks, "e", "b", false).unwrap();
    let state = ks.state();
    let p1 = state.list_keys("e", "a-", "", 2, |_| true).unwrap();
    assert_eq!(
        p1.items.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["a-0", "a-1"]
    );
    assert_eq!(p1.continue_at, "a-2");
    let p3 = state.list_keys("e", "a-", "a-4", 2, |_| true).unwrap();
    assert_eq!(p3.items.len(), 1);
    assert_eq!(p3.continue_at, "");
    let filtered = state.list_keys("e", "", "", 0, |n| n == "b").unwrap();
    assert_eq!(filtered.items.len(), 1);
}

/// A data directory whose kms.db is as a crash leaves it (never closed, so redb needs a repair
/// on the next open), holding enclave `e` and what `fill` wrote.
fn crashed(key: &str, fill: impl FnOnce(&Keystore)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(key)).unwrap();
    create_enclave(&ks, "e").unwrap();
    fill(&ks);
    let crashed = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join(DB_FILE), crashed.path().join(DB_FILE)).unwrap();
    crashed
}

#[test]
fn after_a_crash_a_wrong_hsm_key_still_changes_nothing_and_the_right_one_recovers() {
    let key = SoftHsm::generate_key();
    let crashed = crashed(&key, |ks| create_key(ks, "e", "k", false).unwrap());
    let before = std::fs::read(crashed.path().join(DB_FILE)).unwrap();
    assert!(Keystore::open_or_create(crashed.path(), &hsm(&SoftHsm::generate_key())).is_err());
    assert!(
        std::fs::read(crashed.path().join(DB_FILE)).unwrap() == before,
        "kms.db changed"
    );
    let files = || -> Vec<_> {
        std::fs::read_dir(crashed.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    };
    assert_eq!(files(), [DB_FILE], "the repaired copy is deleted");
    let inode = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(crashed.path().join(DB_FILE))
            .unwrap()
            .ino()
    };
    let crashed_inode = inode();
    let ks = Keystore::open_or_create(crashed.path(), &hsm(&key)).unwrap();
    assert_eq!(ks.state().key_count("e").unwrap(), 1);
    // Repaired once: the copy took kms.db's place, kms.db was not repaired again in place.
    assert_eq!(files(), [DB_FILE], "the repaired copy became kms.db");
    assert_ne!(inode(), crashed_inode, "the repaired copy became kms.db");
    create_key(&ks, "e", "k2", false).unwrap();
    drop(ks);
    let ks = Keystore::open_or_create(crashed.path(), &hsm(&key)).unwrap();
    assert_eq!(ks.state().key_count("e").unwrap(), 2);
}

/// A crashed database whose repaired copy cannot be made (no room, or something in its way)
/// fails the start with a message that says what was being done, and changes nothing.
#[test]
fn after_a_crash_a_copy_that_cannot_be_made_is_a_clear_error() {
    let key = SoftHsm::generate_key();
    let crashed = crashed(&key, |_| {});
    let before = std::fs::read(crashed.path().join(DB_FILE)).unwrap();
    // A directory where the copy goes: it cannot be removed or written over.
    std::fs::create_dir(crashed.path().join("kms.db.repair")).unwrap();
    let err = Keystore::open_or_create(crashed.path(), &hsm(&key))
        .expect_err("the copy cannot be made")
        .to_string();
    assert!(
        err.starts_with("kms.db was not closed cleanly: cannot copy it to kms.db.repair"),
        "{err}"
    );
    assert!(std::fs::read(crashed.path().join(DB_FILE)).unwrap() == before);
}

fn create_identity(
    ks: &Keystore,
    enclave: &str,
    identity: &str,
    parent: &str,
) -> Result<(), Error> {
    ks.apply(&Command::CreateIdentity {
        enclave: enclave.into(),
        identity: identity.into(),
        privilege: Privilege::User,
        parent: parent.into(),
        tags: Default::default(),
        at: Timestamp::now(),
        by: ROOT.into(),
    })
}

const SVC: &str = "h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const SVC2: &str = "h1:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";

#[test]
fn service_accounts_are_one_level_deep_and_identities_live_in_one_enclave() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    create_enclave(&ks, "f").unwrap();
    create_identity(&ks, "e", USER, "").unwrap();
    create_identity(&ks, "e", SVC, USER).unwrap();
    assert!(
        matches!(create_identity(&ks, "e", SVC2, SVC), Err(Error::Invalid(_))),
        "no chains"
    );
    assert!(
        matches!(
            create_identity(&ks, "e", USER, USER),
            Err(Error::Invalid(_))
        ),
        "no self-parent"
    );
    create_identity(&ks, "e", SVC2, "").unwrap();
    assert!(
        matches!(
            create_identity(&ks, "e", USER, SVC2),
            Err(Error::Invalid(_))
        ),
        "a parent cannot become a child"
    );
    assert!(
        matches!(create_identity(&ks, "f", USER, ""), Err(Error::Invalid(_))),
        "one enclave per identity"
    );
    assert_eq!(
        create_identity(
            &ks,
            "e",
            "h1:DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD",
            "h1:EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE"
        ),
        Err(Error::IdentityNotFound)
    );
    // Deleting the parent deletes its service accounts.
    ks.apply(&Command::DeleteIdentity {
        enclave: "e".into(),
        identity: USER.into(),
    })
    .unwrap();
    assert_eq!(
        ks.state().identity_info("e", SVC),
        Err(Error::IdentityNotFound)
    );
    assert!(ks.state().identity_info("e", SVC2).is_ok());
}

#[test]
fn deleting_a_policy_unassigns_it() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    create_identity(&ks, "e", USER, "").unwrap();
    let policy = |name: &str| Command::CreatePolicy {
        enclave: "e".into(),
        name: name.into(),
        policy_json: r#"{"allow":{"KEY:GENERATE":["*"]}}"#.into(),
        at: Timestamp::now(),
        by: ROOT.into(),
    };
    ks.apply(&policy("p")).unwrap();
    ks.apply(&Command::AssignPolicy {
        enclave: "e".into(),
        identity: USER.into(),
        policy: "p".into(),
    })
    .unwrap();
    ks.apply(&Command::DeletePolicy {
        enclave: "e".into(),
        name: "p".into(),
    })
    .unwrap();
    ks.apply(&policy("p")).unwrap();
    assert_eq!(ks.state().identity_info("e", USER).unwrap().policy, "");
    assert!(
        ks.state()
            .principal("e", USER)
            .unwrap()
            .unwrap()
            .policy
            .is_none(),
        "a new policy of the same name is not granted"
    );
}

#[test]
fn the_last_sealed_root_key_cannot_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    let hsms = hsm(&SoftHsm::generate_key());
    let ks = Keystore::open_or_create(dir.path(), &hsms).unwrap();
    assert_eq!(ks.sealed_by().unwrap(), ["hsm:minio:soft"]);
    assert_eq!(
        ks.remove_sealed_key("hsm:minio:soft"),
        Err(Error::Conflict(
            "HSM hsm:minio:soft holds the last sealed root encryption key: it cannot be removed"
                .into()
        ))
    );
    assert_eq!(
        ks.remove_sealed_key("pkcs11:x/y"),
        Err(Error::NoSealedKey("pkcs11:x/y".into()))
    );
    assert_eq!(
        Error::NoSealedKey("pkcs11:x/y".into()).to_string(),
        "HSM pkcs11:x/y has no sealed root encryption key"
    );
    // The same HSM again: a conflict without overwrite, replaced with it.
    let soft = hsms.backends()[0].as_ref();
    assert_eq!(
        ks.add_sealed_key(soft, false),
        Err(Error::Conflict(
            "HSM hsm:minio:soft already has a sealed root encryption key".into()
        ))
    );
    assert_eq!(ks.add_sealed_key(soft, true), Ok(()));
}

#[test]
fn a_service_account_holds_no_policy_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    create_identity(&ks, "e", USER, "").unwrap();
    create_identity(&ks, "e", SVC, "").unwrap();
    ks.apply(&Command::CreatePolicy {
        enclave: "e".into(),
        name: "p".into(),
        policy_json: r#"{"allow":{"KEY:GENERATE":["*"]}}"#.into(),
        at: Timestamp::now(),
        by: ROOT.into(),
    })
    .unwrap();
    ks.apply(&Command::AssignPolicy {
        enclave: "e".into(),
        identity: SVC.into(),
        policy: "p".into(),
    })
    .unwrap();
    // Overwritten as a service account of USER: the old assignment must not linger.
    create_identity(&ks, "e", SVC, USER).unwrap();
    assert_eq!(ks.state().identity_info("e", SVC).unwrap().policy, "");
    assert!(
        ks.state()
            .principal("e", SVC)
            .unwrap()
            .unwrap()
            .policy
            .is_none(),
        "acts with its parent's (none)"
    );
}

#[test]
fn the_replication_state_is_sealed_on_disk() {
    // It holds whole commands (the open slot, the last applied entry), key material included.
    let tmp = tempfile::tempdir().unwrap();
    let key = SoftHsm::generate_key();
    let ks = Keystore::open_or_create(tmp.path(), &hsm(&key)).unwrap();
    let marker = b"replication-state-marker-0123456789".to_vec();
    ks.persist_replication(&marker).unwrap();
    assert_eq!(ks.replication().unwrap(), Some(marker.clone()));
    let mut later = marker.clone();
    later.extend_from_slice(b"-after-apply");
    ks.apply_at(1, None, &later).unwrap().unwrap();
    assert_eq!(ks.replication().unwrap(), Some(later.clone()));
    drop(ks);
    let db = std::fs::read(tmp.path().join(DB_FILE)).unwrap();
    assert!(!db.windows(marker.len()).any(|w| w == &marker[..]));
    let ks = Keystore::open_or_create(tmp.path(), &hsm(&key)).unwrap();
    assert_eq!(ks.replication().unwrap(), Some(later));
}

#[test]
fn a_fork_stays_fenced_across_restarts_until_it_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let key = SoftHsm::generate_key();
    let old = {
        let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
        assert_eq!(ks.info().forked_from, None);
        let old = ks.info().cluster_id;
        let new = ks.reset_cluster(b"replication").unwrap();
        assert_ne!(new, old);
        assert_eq!(ks.info().forked_from, Some(old));
        old
    };
    let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
    assert_eq!(ks.info().forked_from, Some(old));
    assert!(ks.accept_fork().unwrap());
    assert_eq!(ks.info().forked_from, None);
    assert!(!ks.accept_fork().unwrap());
    drop(ks);
    let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
    assert_eq!(ks.info().forked_from, None);
}

/// Each command names the enclave it changes (the read gate holds that enclave's reads).
#[test]
fn every_command_names_its_enclave() {
    let at = Timestamp::now();
    let by = || "t".to_string();
    let commands = [
        Command::CreateEnclave {
            name: "e1".into(),
            at,
            by: by(),
        },
        Command::DeleteEnclave { name: "e2".into() },
        Command::CreateKey {
            enclave: "e3".into(),
            name: "k".into(),
            kind: KeyType::Aes256,
            material: KeyMaterial::generate(),
            add_version: false,
            imported: false,
            at,
            by: by(),
        },
        Command::DeleteKey {
            enclave: "e4".into(),
            name: "k".into(),
            version: 0,
            all: true,
        },
        Command::CreatePolicy {
            enclave: "e5".into(),
            name: "p".into(),
            policy_json: "{}".into(),
            at,
            by: by(),
        },
        Command::DeletePolicy {
            enclave: "e6".into(),
            name: "p".into(),
        },
        Command::AssignPolicy {
            enclave: "e7".into(),
            identity: USER.into(),
            policy: "p".into(),
        },
        Command::CreateIdentity {
            enclave: "e8".into(),
            identity: USER.into(),
            privilege: Privilege::User,
            parent: String::new(),
            tags: Default::default(),
            at,
            by: by(),
        },
        Command::DeleteIdentity {
            enclave: "e9".into(),
            identity: USER.into(),
        },
    ];
    let named: Vec<&str> = commands.iter().map(Command::enclave).collect();
    assert_eq!(
        named,
        ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"]
    );
}

/// Key types by their wire names, both ways; the empty name is the server's choice (AES256).
#[test]
fn key_types_by_wire_name() {
    for (kind, name) in [(KeyType::Aes256, "AES256"), (KeyType::ChaCha20, "ChaCha20")] {
        assert_eq!(kind.as_str(), name);
        assert_eq!(KeyType::parse(name), Ok(kind));
    }
    assert_eq!(KeyType::parse(""), Ok(KeyType::Aes256));
    assert!(KeyType::parse("AES128").is_err());
}

/// Timestamps are the wall clock (a record's creation time), not a default.
#[test]
fn timestamps_are_the_current_time() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let now = Timestamp::now();
    assert!(now.secs >= before && now.secs <= before + 5, "{now:?}");
}

/// A key's own material is what seals and MACs: a known key gives the MAC Python's `hmac`
/// computes (docs/formats.md §4.3), and a ciphertext of one key does not open under another.
#[test]
fn each_key_uses_its_own_material() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    ks.apply(&Command::CreateKey {
        enclave: "e".into(),
        name: "known".into(),
        kind: KeyType::Aes256,
        material: KeyMaterial::from_slice(&[0x11; 32]).unwrap(),
        add_version: false,
        imported: true,
        at: Timestamp::now(),
        by: ROOT.into(),
    })
    .unwrap();
    let (version, mac) = ks.state().mac("e", "known", 0, b"hello").unwrap();
    assert_eq!(
        (version, hex::encode(mac)),
        (
            1,
            "376cb670ac39e44c23926d4390f48d86ecbe823214c1f481add5f902ed5b03db".to_string()
        )
    );
    create_key(&ks, "e", "k1", false).unwrap();
    create_key(&ks, "e", "k2", false).unwrap();
    let state = ks.state();
    let (_, sealed) = encrypt(&state, "e", "k1", 0, b"secret", b"").unwrap();
    assert_eq!(
        &*state.decrypt("e", "k1", 0, &sealed, b"").unwrap(),
        b"secret"
    );
    assert_eq!(
        state
            .decrypt("e", "k2", 0, &sealed, b"")
            .map(|p| p.to_vec()),
        Err(Error::InvalidCiphertext)
    );
    assert_ne!(
        state.mac("e", "k1", 0, b"m").unwrap().1,
        state.mac("e", "k2", 0, b"m").unwrap().1
    );
}

/// Privileges by their wire strings, both ways; "" is User, anything else is refused.
#[test]
fn privileges_by_wire_name() {
    for p in [Privilege::SysAdmin, Privilege::Admin, Privilege::User] {
        assert_eq!(Privilege::parse(p.as_str()), Ok(p));
    }
    assert_eq!(
        [Privilege::SysAdmin, Privilege::Admin, Privilege::User].map(Privilege::as_str),
        ["SysAdmin", "Admin", "User"]
    );
    assert_eq!(Privilege::parse(""), Ok(Privilege::User));
    assert!(Privilege::parse("Root").is_err());
}

/// Deleting a key's only version deletes the key: it is not found and not listed.
#[test]
fn deleting_the_last_version_deletes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    create_key(&ks, "e", "k", false).unwrap();
    create_key(&ks, "e", "k", true).unwrap();
    let delete = |version| Command::DeleteKey {
        enclave: "e".into(),
        name: "k".into(),
        version,
        all: false,
    };
    ks.apply(&delete(2)).unwrap();
    assert_eq!(ks.state().key_info("e", "k", 0).unwrap().version, 1);
    ks.apply(&delete(1)).unwrap();
    assert_eq!(
        ks.state().key_info("e", "k", 0).err(),
        Some(Error::KeyNotFound)
    );
    let page = ks.state().list_keys("e", "", "", 0, |_| true).unwrap();
    assert!(page.items.is_empty(), "{:?}", page.items.len());
    // Gone for good: the name can be created again, starting over at version 1.
    create_key(&ks, "e", "k", false).unwrap();
    assert_eq!(ks.state().key_info("e", "k", 0).unwrap().version, 1);
}

/// The metrics' view: enclaves and their key counts.
#[test]
fn enclaves_are_counted_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    for e in ["a", "b"] {
        create_enclave(&ks, e).unwrap();
    }
    create_key(&ks, "a", "k1", false).unwrap();
    create_key(&ks, "a", "k2", false).unwrap();
    let state = ks.state();
    assert_eq!(state.enclave_count(), 2);
    assert_eq!(
        state.enclave_key_counts(),
        [("a".to_string(), 2), ("b".to_string(), 0)]
    );
}

/// Data keys: 32 bytes by default, any length up to the limit, refused beyond; the ciphertext
/// opens to the plaintext handed out.
#[test]
fn data_keys_have_the_asked_length_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    create_key(&ks, "e", "k", false).unwrap();
    let state = ks.state();
    for (asked, got) in [
        (0, 32),
        (1, 1),
        (64, 64),
        (MAX_DATA_KEY_LEN, MAX_DATA_KEY_LEN),
    ] {
        let dk = generate(&state, "e", "k", 0, b"ctx", asked).unwrap();
        assert_eq!(dk.plaintext.len(), got);
        let opened = state.decrypt("e", "k", 0, &dk.ciphertext, b"ctx").unwrap();
        assert_eq!(&*opened, &*dk.plaintext);
    }
    assert!(matches!(
        generate(&state, "e", "k", 0, b"", MAX_DATA_KEY_LEN + 1),
        Err(Error::Invalid(_))
    ));
}

/// The IV and the nonce of a ciphertext (docs/formats.md §2).
fn iv_and_nonce(ciphertext: &[u8]) -> (&[u8], &[u8]) {
    (&ciphertext[5..21], &ciphertext[21..33])
}

/// The messages of one request under one key version share a sub-key: one IV, a nonce each,
/// and each ciphertext opens on its own. Another version, another request, or a sub-key that
/// has sealed its most get a fresh IV.
#[test]
fn a_request_shares_one_sub_key_per_key_version() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    create_key(&ks, "e", "k", false).unwrap();
    create_key(&ks, "e", "k", true).unwrap();
    let state = ks.state();
    let mut sealer = state.sealer();
    let mut sealed = Vec::new();
    // One data key buffer for the batch, as a request uses it.
    let mut dk = minkms_keystore::DataKey::default();
    for i in 0..4u8 {
        sealer.generate(&mut dk, "e", "k", 0, &[i], 32).unwrap();
        assert_eq!(dk.version, 2);
        sealed.push((vec![i], dk.plaintext.to_vec(), dk.ciphertext.clone()));
    }
    let mut ct = vec![0xff; 7];
    assert_eq!(
        sealer.encrypt(&mut ct, "e", "k", 2, b"message", b"ad"),
        Ok(2)
    );
    sealed.push((b"ad".to_vec(), b"message".to_vec(), ct));
    let iv = iv_and_nonce(&sealed[0].2).0.to_vec();
    let mut nonces = std::collections::HashSet::new();
    for (ad, plaintext, ct) in &sealed {
        assert_eq!(iv_and_nonce(ct).0, iv);
        assert!(
            nonces.insert(iv_and_nonce(ct).1.to_vec()),
            "a nonce repeated"
        );
        assert_eq!(
            &**state.decrypt("e", "k", 0, ct, ad).unwrap(),
            &plaintext[..]
        );
    }
    // Version 1, then version 2 again: each a sub-key of its own.
    let mut old = Vec::new();
    assert_eq!(sealer.encrypt(&mut old, "e", "k", 1, b"old", b""), Ok(1));
    assert_ne!(iv_and_nonce(&old).0, iv);
    let mut again = Vec::new();
    sealer
        .encrypt(&mut again, "e", "k", 2, b"new", b"")
        .unwrap();
    assert_ne!(iv_and_nonce(&again).0, iv);
    assert_ne!(iv_and_nonce(&again).0, iv_and_nonce(&old).0);
    // Another request.
    let (_, other) = encrypt(&state, "e", "k", 2, b"new", b"").unwrap();
    assert_ne!(iv_and_nonce(&other).0, iv_and_nonce(&again).0);
    // A sub-key seals at most MAX_SEALS_PER_SUB_KEY messages.
    let mut sealer = state.sealer();
    let mut ct = Vec::new();
    let ivs: Vec<Vec<u8>> = (0..=MAX_SEALS_PER_SUB_KEY)
        .map(|_| {
            sealer.encrypt(&mut ct, "e", "k", 0, b"x", b"").unwrap();
            iv_and_nonce(&ct).0.to_vec()
        })
        .collect();
    let first = &ivs[0];
    assert!(ivs[..MAX_SEALS_PER_SUB_KEY as usize]
        .iter()
        .all(|iv| iv == first));
    assert_ne!(ivs.last().unwrap(), first);
}

/// KES's untagged ciphertexts open only under imported versions, and under the version asked
/// for (0: any imported one).
#[test]
fn kes_ciphertexts_open_only_under_imported_versions() {
    let kes = hex::decode(include_str!("../testdata/kes-aes256-vector.hex").trim()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    let key =
        |name: &str, imported: bool, add_version: bool, material: KeyMaterial| Command::CreateKey {
            enclave: "e".into(),
            name: name.into(),
            kind: KeyType::Aes256,
            material,
            add_version,
            imported,
            at: Timestamp::now(),
            by: ROOT.into(),
        };
    let known = || KeyMaterial::from_slice(&[0x11; 32]).unwrap();
    ks.apply(&key("imported", true, false, known())).unwrap();
    ks.apply(&key("imported", false, true, KeyMaterial::generate()))
        .unwrap();
    ks.apply(&key("generated", false, false, known())).unwrap();
    let state = ks.state();
    let open = |name: &str, version: u32| {
        state
            .decrypt("e", name, version, &kes, b"ctx")
            .map(|p| p.to_vec())
    };
    assert_eq!(open("imported", 0), Ok(b"kes".to_vec()));
    assert_eq!(open("imported", 1), Ok(b"kes".to_vec()));
    assert_eq!(open("imported", 2), Err(Error::InvalidCiphertext));
    assert_eq!(open("imported", 3), Err(Error::KeyNotFound));
    // The same material, not imported: the KES form is not accepted.
    assert_eq!(open("generated", 0), Err(Error::InvalidCiphertext));
}

/// `rm-key --all` removes a key with every version.
#[test]
fn deleting_all_versions_deletes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    create_key(&ks, "e", "k", false).unwrap();
    create_key(&ks, "e", "k", true).unwrap();
    ks.apply(&Command::DeleteKey {
        enclave: "e".into(),
        name: "k".into(),
        version: 0,
        all: true,
    })
    .unwrap();
    assert_eq!(
        ks.state().key_info("e", "k", 1).err(),
        Some(Error::KeyNotFound)
    );
    assert_eq!(
        ks.state().key_versions("e", "k").err(),
        Some(Error::KeyNotFound)
    );
}

/// Policies go to ordinary users only: not to an Admin, not to a service account.
#[test]
fn policies_are_assigned_to_ordinary_users_only() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    ks.apply(&Command::CreatePolicy {
        enclave: "e".into(),
        name: "p".into(),
        policy_json: r#"{"allow":{"KEY:GENERATE":["*"]}}"#.into(),
        at: Timestamp::now(),
        by: ROOT.into(),
    })
    .unwrap();
    let admin = "h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    let service = "h1:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
    for (identity, privilege, parent) in [
        (USER, Privilege::User, ""),
        (admin, Privilege::Admin, ""),
        (service, Privilege::User, USER),
    ] {
        ks.apply(&Command::CreateIdentity {
            enclave: "e".into(),
            identity: identity.into(),
            privilege,
            parent: parent.into(),
            tags: Default::default(),
            at: Timestamp::now(),
            by: ROOT.into(),
        })
        .unwrap();
    }
    let assign = |identity: &str| {
        ks.apply(&Command::AssignPolicy {
            enclave: "e".into(),
            identity: identity.into(),
            policy: "p".into(),
        })
    };
    assert_eq!(assign(USER), Ok(()));
    for refused in [admin, service] {
        assert!(
            matches!(assign(refused), Err(Error::Invalid(_))),
            "{refused}"
        );
    }
}

/// A page holds at most `MAX_LIST_LIMIT` items, whatever limit is asked for.
#[test]
fn pages_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    let keys: Vec<Command> = (0..MAX_LIST_LIMIT + 3)
        .map(|i| Command::CreateKey {
            enclave: "e".into(),
            name: format!("k{i:05}"),
            kind: KeyType::Aes256,
            material: KeyMaterial::generate(),
            add_version: false,
            imported: false,
            at: Timestamp::now(),
            by: ROOT.into(),
        })
        .collect();
    assert!(ks.apply_all(&keys).unwrap().iter().all(Result::is_ok));
    for asked in [0, MAX_LIST_LIMIT + 1, usize::MAX] {
        let page = ks.state().list_keys("e", "", "", asked, |_| true).unwrap();
        assert_eq!(page.items.len(), MAX_LIST_LIMIT, "asked {asked}");
        assert_eq!(page.continue_at, format!("k{MAX_LIST_LIMIT:05}"));
    }
    let page = ks.state().list_keys("e", "", "", 2, |_| true).unwrap();
    assert_eq!((page.items.len(), page.continue_at.as_str()), (2, "k00002"));
}

/// An identity's status says whether it is a service account, and which it has.
#[test]
fn identities_show_their_service_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    let service = "h1:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
    for (identity, parent) in [(USER, ""), (service, USER)] {
        ks.apply(&Command::CreateIdentity {
            enclave: "e".into(),
            identity: identity.into(),
            privilege: Privilege::User,
            parent: parent.into(),
            tags: Default::default(),
            at: Timestamp::now(),
            by: ROOT.into(),
        })
        .unwrap();
    }
    let state = ks.state();
    let user = state.identity_info("e", USER).unwrap();
    assert_eq!(
        (user.is_service_account, user.service_accounts),
        (false, vec![service.to_string()])
    );
    let svc = state.identity_info("e", service).unwrap();
    assert_eq!(
        (svc.is_service_account, svc.service_accounts),
        (true, vec![])
    );
}

/// `check` tells whether a write fits without applying it.
#[test]
fn check_judges_a_write_without_applying_it() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    create_enclave(&ks, "e").unwrap();
    let commit = ks.commit_index();
    let again = Command::CreateEnclave {
        name: "e".into(),
        at: Timestamp::now(),
        by: ROOT.into(),
    };
    assert_eq!(ks.check(&again), Err(Error::EnclaveExists));
    let fresh = Command::CreateEnclave {
        name: "f".into(),
        at: Timestamp::now(),
        by: ROOT.into(),
    };
    assert_eq!(ks.check(&fresh), Ok(()));
    assert_eq!(ks.commit_index(), commit);
    assert_eq!(ks.state().enclave_count(), 1, "checked, not applied");
}

/// A joining node installs a member's snapshot: it then holds that cluster's keys and id.
#[test]
fn an_installed_snapshot_is_the_members_state() {
    let key = SoftHsm::generate_key();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let member = Keystore::open_or_create(a.path(), &hsm(&key)).unwrap();
    create_enclave(&member, "e").unwrap();
    create_key(&member, "e", "k", false).unwrap();
    let (_, sealed) = encrypt(&member.state(), "e", "k", 0, b"data", b"").unwrap();
    let joining = Keystore::open_or_create(b.path(), &hsm(&key)).unwrap();
    assert_ne!(joining.info().cluster_id, member.info().cluster_id);
    joining
        .install(&member.export().unwrap(), &hsm(&key), b"replication")
        .unwrap();
    assert_eq!(joining.info().cluster_id, member.info().cluster_id);
    assert_eq!(
        &*joining.state().decrypt("e", "k", 0, &sealed, b"").unwrap(),
        b"data"
    );
    assert_eq!(
        joining.replication().unwrap().as_deref(),
        Some(&b"replication"[..])
    );
}

/// A node that leaves its cluster with its state becomes a fork of it until the operator
/// accepts that.
#[test]
fn a_reset_node_is_a_fork_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    assert_eq!(ks.forked_from(), None);
    let old = ks.info().cluster_id;
    let new = ks.reset_cluster(b"replication").unwrap();
    assert_ne!(new, old);
    assert_eq!(ks.forked_from(), Some(old));
    assert_eq!(ks.accept_fork(), Ok(true));
    assert_eq!(ks.forked_from(), None);
}

/// A keystore's debug form shows its info (cluster id) and nothing of its keys.
#[test]
fn a_keystore_debugs_as_its_info_only() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&SoftHsm::generate_key())).unwrap();
    let shown = format!("{ks:?}");
    assert!(shown.starts_with("Keystore { info: "), "{shown}");
    assert!(shown.contains(&ks.info().cluster_id.to_string()), "{shown}");
    assert!(shown.ends_with(", .. }"), "{shown}");
}

/// A database of an unknown format (a later version's) is refused, and left as it was
/// (docs/formats.md §6).
#[test]
fn a_database_of_an_unknown_format_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let key = SoftHsm::generate_key();
    drop(Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap());
    let path = dir.path().join(DB_FILE);
    {
        // The format marker as a later version would write it (the `meta` table, key `format`).
        const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("format", &[2u8][..])
            .unwrap();
        txn.commit().unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap_err();
    assert!(err.to_string().ends_with("has an unknown format"), "{err}");
    assert!(
        std::fs::read(&path).unwrap() == before,
        "the database changed"
    );
}

/// The root identity of each start is kept, across restarts, so that a start whose
/// communication HSM (and root API key) changed can say so; a start with the same one says
/// nothing.
#[test]
fn a_changed_root_identity_is_reported_once_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let key = SoftHsm::generate_key();
    let a = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let b = "h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    {
        let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
        assert_eq!(ks.note_root_identity(a).unwrap(), None, "a first start");
        assert_eq!(ks.note_root_identity(a).unwrap(), None, "the same identity");
    }
    let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
    assert_eq!(ks.note_root_identity(b).unwrap().as_deref(), Some(a));
    assert_eq!(ks.note_root_identity(b).unwrap(), None);
}

/// The identity → enclave lookup follows every change: creation, deletion of the identity,
/// of its parent (its service accounts go too), of its enclave, and creation elsewhere
/// afterwards; the one-enclave rule holds through it.
#[test]
fn the_enclave_of_an_identity_follows_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let key = SoftHsm::generate_key();
    let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
    let id = |c: char| format!("h1:{}", c.to_string().repeat(43));
    let enclave = |name: &str| Command::CreateEnclave {
        name: name.into(),
        at: Timestamp::now(),
        by: ROOT.into(),
    };
    let identity = |enclave: &str, who: &str, parent: &str| Command::CreateIdentity {
        enclave: enclave.into(),
        identity: who.into(),
        privilege: Privilege::User,
        parent: parent.into(),
        tags: Default::default(),
        at: Timestamp::now(),
        by: ROOT.into(),
    };
    let (a, b, c) = (id('A'), id('B'), id('C'));
    ks.apply(&enclave("e1")).unwrap();
    ks.apply(&enclave("e2")).unwrap();
    ks.apply(&identity("e1", &a, "")).unwrap();
    ks.apply(&identity("e1", &b, &a)).unwrap();
    ks.apply(&identity("e2", &c, "")).unwrap();
    let of = |who: &str| ks.state().enclave_of(who).map(str::to_string);
    assert_eq!(
        (of(&a), of(&b), of(&c)),
        (Some("e1".into()), Some("e1".into()), Some("e2".into()))
    );
    assert_eq!(
        ks.apply(&identity("e2", &a, "")),
        Err(Error::Invalid(
            "invalid identity: it belongs to another enclave".into()
        ))
    );
    ks.apply(&identity("e1", &a, "")).unwrap(); // replacing it in its own enclave is fine
    ks.apply(&Command::DeleteIdentity {
        enclave: "e1".into(),
        identity: a.clone(),
    })
    .unwrap();
    assert_eq!(
        (of(&a), of(&b)),
        (None, None),
        "its service account went with it"
    );
    ks.apply(&identity("e2", &a, "")).unwrap();
    assert_eq!(of(&a), Some("e2".into()));
    ks.apply(&Command::DeleteEnclave { name: "e2".into() })
        .unwrap();
    assert_eq!((of(&a), of(&c)), (None, None));
    ks.apply(&identity("e1", &c, "")).unwrap();
    drop(ks);
    // Loaded from disk, the lookup is the same.
    let ks = Keystore::open_or_create(dir.path(), &hsm(&key)).unwrap();
    let state = ks.state();
    assert_eq!(
        (
            state.enclave_of(&a),
            state.enclave_of(&b),
            state.enclave_of(&c)
        ),
        (None, None, Some("e1"))
    );
}
