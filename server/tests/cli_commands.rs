//! The CLI's enclave, key, policy and identity commands, each checked by its effect through
//! the API (not by its own output): import-key, add-policy, get-policy, stat-policy,
//! set-policy, get-identity, ls-identity, rm-key (a version and --all), rm-identity,
//! rm-policy, rm-enclave.

use base64::Engine as _;
use minkms_client::Error;
use minkms_testkit::{field, runtime, soft_hsm_key, Node};

/// `hmac.new(hmac.new(bytes([0x11]*32), b"minkms/v1/key/mac", sha256).digest(),
/// b"the quick brown fox", sha256).hexdigest()` in Python 3.
const MAC_OF_FOX: &str = "c6bcc95a37f8940d33132780bb2dc0b40d727f272fc06aa3a3ec6c969f86d246";

fn status_of<T>(r: Result<T, Error>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(Error::Api { status, .. }) => status,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn enclave_key_policy_and_identity_commands_do_what_they_say() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let c = node.root();
    let rt = runtime();
    let e = ["--enclave", "e1"];
    // `COMMAND --enclave e1 ARGS...`
    let with = |args: &[&'static str]| [&args[..1], &e[..], &args[1..]].concat();
    node.cli(&["add-enclave", "e1"]);

    // import-key: the key is the given bytes (its MAC is the known one).
    let material = base64::engine::general_purpose::STANDARD.encode([0x11u8; 32]);
    node.cli(&[&["import-key"][..], &e, &["imp", material.as_str()]].concat());
    let mac = rt
        .block_on(c.mac("e1", "imp", 0, b"the quick brown fox"))
        .unwrap();
    assert_eq!(hex::encode(mac.mac), MAC_OF_FOX);

    // add-policy from a file; get-policy prints it back, stat-policy names it.
    let file = tmp.path().join("p.json");
    std::fs::write(&file, r#"{"allow": {"KEY:ENCRYPT": ["imp"]}}"#).unwrap();
    let path = file.to_str().unwrap();
    node.cli(&[&["add-policy"][..], &e, &["pol", path]].concat());
    let stored = rt.block_on(c.get_policy("e1", "pol")).unwrap();
    assert_eq!(
        stored.allow.keys().collect::<Vec<_>>(),
        vec!["KEY:ENCRYPT"],
        "{stored:?}"
    );
    assert!(stored.deny.is_empty());
    let printed: serde_json::Value =
        serde_json::from_str(&node.cli(&with(&["get-policy", "pol"]))).unwrap();
    assert_eq!(printed["allow"]["KEY:ENCRYPT"], serde_json::json!(["imp"]));
    assert_eq!(
        field(&node.cli(&with(&["stat-policy", "pol"])), "Name"),
        "pol"
    );

    // set-policy: the identity gets it, and may encrypt with imp but do nothing else.
    let added = node.cli(&with(&["add-identity"]));
    let (id, key) = (field(&added, "Identity"), field(&added, "API Key"));
    node.cli(&[&["set-policy"][..], &e, &["pol", id.as_str()]].concat());
    let status = rt.block_on(c.identity_status("e1", &id)).unwrap();
    assert_eq!(status.policy, "pol");
    assert_eq!(
        field(
            &node.cli(&[&["get-identity"][..], &e, &[id.as_str()]].concat()),
            "Policy"
        ),
        "pol"
    );
    assert!(node.cli(&with(&["ls-identity"])).contains(&id));
    let user = node.client(Some(&key));
    assert_eq!(
        status_of(rt.block_on(user.encrypt("e1", "imp", b"x", b""))),
        200
    );
    assert_eq!(
        status_of(rt.block_on(user.generate_key("e1", "imp", b"", 32))),
        403
    );

    // rm-key: one version, then every version.
    node.cli(&with(&["add-key", "imp"]));
    node.cli(&with(&["rm-key", "imp", "--version", "1"]));
    assert_eq!(status_of(rt.block_on(c.key_status("e1", "imp", 1))), 404);
    assert_eq!(
        rt.block_on(c.key_status("e1", "imp", 0)).unwrap().version,
        2
    );
    node.cli(&with(&["rm-key", "imp", "--all"]));
    assert_eq!(status_of(rt.block_on(c.key_status("e1", "imp", 0))), 404);

    // rm-identity: gone, and its API key with it.
    node.cli(&[&["rm-identity"][..], &e, &[id.as_str()]].concat());
    assert_eq!(status_of(rt.block_on(c.identity_status("e1", &id))), 404);
    assert_eq!(status_of(rt.block_on(user.list_keys("e1", "", "", 0))), 403);

    // rm-policy, rm-enclave; a second rm-enclave fails and says why.
    node.cli(&with(&["rm-policy", "pol"]));
    assert_eq!(status_of(rt.block_on(c.get_policy("e1", "pol"))), 404);
    node.cli(&["rm-enclave", "e1"]);
    assert_eq!(status_of(rt.block_on(c.enclave_status("e1"))), 404);
    let again = node.cli_as(&node.root_api_key, &["rm-enclave", "e1"]);
    assert_eq!(again.status.code(), Some(1));
    // What was not found is named, before the server's own words.
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("enclave 'e1': enclave does not exist"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    node.cli(&["add-enclave", "e2"]);
    for (args, said) in [
        (
            &["stat-key", "--enclave", "e2", "nokey"][..],
            "key 'nokey' in enclave 'e2': key does not exist",
        ),
        (
            &["encrypt", "--enclave", "e2", "nokey", "aGk="][..],
            "key 'nokey' in enclave 'e2': key does not exist",
        ),
        (
            &["stat-policy", "--enclave", "e2", "nopol"][..],
            "policy 'nopol' in enclave 'e2': policy does not exist",
        ),
        (
            &["stat-key", "--enclave", "gone", "k"][..],
            "key 'k' in enclave 'gone': enclave does not exist",
        ),
    ] {
        let out = node.cli_as(&node.root_api_key, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
}

/// A command without an API key, without a server, or with a key the server does not know
/// says what is wrong and what to do, and which server answered.
#[test]
fn a_missing_api_key_or_server_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let run = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(minkms_testkit::bin());
        cmd.args(["ls", "-k"])
            .env_remove("MINIO_KMS_SERVER")
            .env_remove("MINIO_KMS_API_KEY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let no_key = "no API key: set MINIO_KMS_API_KEY or --api-key";
    let stderr = run(&[("MINIO_KMS_SERVER", &node.endpoint)]);
    assert!(stderr.contains(no_key), "{stderr}");
    // Empty counts as unset.
    let stderr = run(&[
        ("MINIO_KMS_SERVER", &node.endpoint),
        ("MINIO_KMS_API_KEY", ""),
    ]);
    assert!(stderr.contains(no_key), "{stderr}");
    // No server: nothing is dialled, not even localhost.
    let stderr = run(&[("MINIO_KMS_API_KEY", &node.root_api_key)]);
    assert!(
        stderr.contains("no server: set MINIO_KMS_SERVER or --server"),
        "{stderr}"
    );
    let stderr = run(&[
        ("MINIO_KMS_SERVER", ""),
        ("MINIO_KMS_API_KEY", &node.root_api_key),
    ]);
    assert!(stderr.contains("no server"), "{stderr}");
    // No enclave for a command that acts in one.
    let out = std::process::Command::new(minkms_testkit::bin())
        .args(["ls-key", "-k"])
        .env("MINIO_KMS_SERVER", &node.endpoint)
        .env("MINIO_KMS_API_KEY", &node.root_api_key)
        .env_remove("MINIO_KMS_ENCLAVE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no enclave: set MINIO_KMS_ENCLAVE or --enclave"),
        "{stderr}"
    );
    // A key the server does not know: its message, after the server's name.
    let unknown = minkms_client::ApiKey::generate().to_secret_string();
    let stderr = run(&[
        ("MINIO_KMS_SERVER", &node.endpoint),
        ("MINIO_KMS_API_KEY", &unknown),
    ]);
    assert!(
        stderr.contains(&format!(
            "{}: access denied: insufficient permissions",
            node.endpoint
        )),
        "{stderr}"
    );
}
