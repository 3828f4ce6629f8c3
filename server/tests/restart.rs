//! Restarts: the same HSM key keeps everything; another key is refused and changes nothing.

use std::process::Command;

use minkms_client::wire::{CreateIdentityRequest, CreatePolicyRequest, Rule, RuleSet};
use minkms_testkit::{bin, field, runtime, soft_hsm_key, Node};

#[test]
fn restart_with_the_same_hsm_key_keeps_every_enclave_identity_policy_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kms0");
    let key = soft_hsm_key();
    let node = Node::start(&dir, &key);
    let rt = runtime();
    let user = minkms_client::ApiKey::generate();
    let (cluster_id, gen) = rt.block_on(async {
        let root = node.root();
        root.create_enclave("enclave-1").await.unwrap();
        root.create_key("enclave-1", "key-1", "", false)
            .await
            .unwrap();
        root.create_key("enclave-1", "key-1", "", true)
            .await
            .unwrap();
        let allow = [(
            "KEY:GENERATE".to_string(),
            RuleSet {
                rules: [("key-*".to_string(), Rule {})].into(),
            },
        )]
        .into();
        root.create_policy(
            "enclave-1",
            &CreatePolicyRequest {
                name: "gen".into(),
                allow,
                deny: Default::default(),
            },
        )
        .await
        .unwrap();
        root.create_identity(
            "enclave-1",
            &CreateIdentityRequest {
                identity: user.identity().to_string(),
                privilege: "User".into(),
                is_service_account: false,
                tags: Default::default(),
            },
        )
        .await
        .unwrap();
        root.assign_policy("enclave-1", "gen", user.identity().as_str())
            .await
            .unwrap();
        let gen = root
            .generate_key("enclave-1", "key-1", b"ctx", 32)
            .await
            .unwrap();
        (field(&node.stdout(), "Cluster        ID"), gen)
    });
    let root_api_key = node.root_api_key.clone();
    node.kill();

    let node = Node::start(&dir, &key);
    assert_eq!(
        node.root_api_key, root_api_key,
        "the root API key is derived from the HSM key"
    );
    assert_eq!(field(&node.stdout(), "Cluster        ID"), cluster_id);
    rt.block_on(async {
        let root = node.root();
        assert_eq!(
            root.enclave_status("enclave-1").await.unwrap().name,
            "enclave-1"
        );
        assert_eq!(
            root.key_status("enclave-1", "key-1", 0)
                .await
                .unwrap()
                .version,
            2
        );
        assert_eq!(
            root.decrypt("enclave-1", "key-1", 0, &gen.ciphertext, b"ctx")
                .await
                .unwrap()
                .plaintext,
            gen.plaintext
        );
        assert_eq!(
            root.policy_status("enclave-1", "gen").await.unwrap().name,
            "gen"
        );
        assert_eq!(
            root.identity_status("enclave-1", user.identity().as_str())
                .await
                .unwrap()
                .policy,
            "gen"
        );
        // The user's API key still works, as its policy says.
        let as_user = node.client(Some(&user.to_secret_string()));
        assert!(as_user
            .generate_key("enclave-1", "key-1", b"", 32)
            .await
            .is_ok());
        assert_eq!(
            as_user
                .key_status("enclave-1", "key-1", 0)
                .await
                .unwrap_err()
                .status(),
            Some(403)
        );
    });
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names
}

/// A node that crashed reads its sealed root key from a repaired copy of kms.db (so that a
/// wrong HSM key changes nothing). The copy is made beside kms.db and becomes kms.db once
/// unsealed: a temp directory that cannot hold it (a small tmpfs, or none at all) does not
/// keep the node from starting, and nothing is left behind.
#[test]
fn a_node_that_crashed_restarts_without_the_temp_directory_and_leaves_no_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kms0");
    let key = soft_hsm_key();
    let node = Node::start(&dir, &key);
    runtime().block_on(async {
        let root = node.root();
        root.create_enclave("e").await.unwrap();
        root.create_key("e", "k", "", false).await.unwrap();
    });
    node.kill();
    let files_before = files_in(&dir);

    let no_temp = tmp.path().join("no-such-directory");
    let env = [
        ("MINIO_KMS_HSM_KEY", key.as_str()),
        ("TMPDIR", no_temp.to_str().unwrap()),
    ];
    let node = Node::launch(&dir, &[], &env, std::time::Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("a crashed node must restart: {}", e.stderr));
    runtime().block_on(async {
        let status = node.root().key_status("e", "k", 0).await.unwrap();
        assert_eq!(status.version, 1);
    });
    assert_eq!(files_in(&dir), files_before, "no copy of kms.db is left");
    // Repaired once, for good: the next start after another crash finds a consistent file.
    node.kill();
    let node = Node::launch(&dir, &[], &env, std::time::Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("a node that crashed twice must restart: {}", e.stderr));
    runtime().block_on(async { node.root().enclave_status("e").await.unwrap() });
}

#[test]
fn restart_with_another_hsm_key_fails_with_the_seed_message_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kms0");
    let node = Node::start(&dir, &soft_hsm_key());
    runtime().block_on(async { node.root().create_enclave("e").await.unwrap() });
    node.kill();
    let db = dir.join("kms.db");
    let before = std::fs::read(&db).unwrap();
    let files_before = files_in(&dir);

    let err = Node::try_start(&dir, &soft_hsm_key()).expect_err("must not start");
    assert_eq!(err.code, Some(1));
    assert!(
        err.stderr
            .contains("failed to unseal root encryption key with HSM: invalid ciphertext"),
        "{}",
        err.stderr
    );
    assert!(std::fs::read(&db).unwrap() == before, "kms.db changed");
    assert_eq!(files_in(&dir), files_before);
}

#[test]
fn a_missing_or_malformed_hsm_key_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["server", "--addr", "127.0.0.1:0"])
        .arg(tmp.path())
        .env_remove("MINIO_KMS_HSM_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no HSM configured: set MINIO_KMS_HSM_KEY")
    );
    let out = Command::new(bin())
        .args(["server", "--addr", "127.0.0.1:0"])
        .arg(tmp.path())
        .env("MINIO_KMS_HSM_KEY", "hsm:aes256:c2VjcmV0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must be 32 bytes"), "{stderr}");
    assert!(!stderr.contains("c2VjcmV0"), "the key must not be echoed");
    // What kind of error it is, said once, then where.
    assert!(
        stderr.contains("invalid HSM configuration: MINIO_KMS_HSM_KEY: "),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("invalid HSM configuration").count(),
        1,
        "{stderr}"
    );
    assert!(!tmp.path().join("kms.db").exists());
}

#[test]
fn identity_command_prints_the_root_api_key_of_an_hsm_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let node = Node::start(&tmp.path().join("kms0"), &key);
    let out = Command::new(bin())
        .args(["identity", &key])
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert_eq!(field(&out, "API Key"), node.root_api_key);
    let out = Command::new(bin())
        .args(["identity", &node.root_api_key])
        .output()
        .unwrap();
    let id = field(&String::from_utf8(out.stdout).unwrap(), "Identity");
    assert_eq!(
        id,
        minkms_client::ApiKey::parse(&node.root_api_key)
            .unwrap()
            .identity()
            .as_str()
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::launch(
        &tmp.path().join("kms"),
        &["--log-format", "json"],
        &[("MINIO_KMS_HSM_KEY", &soft_hsm_key())],
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    let logs = node.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
}

#[test]
fn completions_and_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(bin())
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for sub in ["add-enclave", "stat-key", "ls-hsm", "server"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let out = Command::new(bin()).arg("man").output().unwrap();
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.contains(".TH minkms 1") && page.contains("add\\-enclave"),
        "{page}"
    );
}

/// The completions and man pages shipped in `packaging/` are what this binary generates
/// (`admin/gen-docs.sh` regenerates them).
#[test]
fn the_shipped_completions_and_man_pages_are_current() {
    let packaging = minkms_testkit::repo_root().join("packaging");
    let stale = "stale: run ./admin/gen-docs.sh and commit packaging/";
    for (shell, file) in [
        ("bash", "minkms.bash"),
        ("zsh", "_minkms"),
        ("fish", "minkms.fish"),
    ] {
        let out = Command::new(bin())
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let shipped = std::fs::read(packaging.join("completions").join(file)).unwrap();
        assert!(out.stdout == shipped, "completions/{file} {stale}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("man")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = |dir: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let generated = names(tmp.path());
    assert_eq!(
        generated,
        names(&packaging.join("man")),
        "man pages {stale}"
    );
    assert!(generated.contains(&"minkms-add-enclave.1".to_string()) && generated.len() > 30);
    for name in &generated {
        let page = std::fs::read(tmp.path().join(name)).unwrap();
        let shipped = std::fs::read(packaging.join("man").join(name)).unwrap();
        assert!(page == shipped, "man/{name} {stale}");
    }
    let reference = Command::new(bin())
        .arg("config-reference")
        .output()
        .unwrap();
    assert!(reference.status.success());
    let shipped = std::fs::read(packaging.join("../docs/config.md")).unwrap();
    assert!(
        reference.stdout == shipped,
        "docs/config.md stale: run ./admin/gen-docs.sh"
    );
    let text = String::from_utf8(reference.stdout).unwrap();
    for key in [
        "`tls.certs[].cert`",
        "`hsm.pkcs11[].pin.env`",
        "`hsm.minio.minkms.auth.file`",
        "`limits.request_timeout`",
        "`audit.path`",
        "`log.format`",
    ] {
        assert!(
            text.contains(key),
            "{key} missing from the reference:\n{text}"
        );
    }
    let reference = Command::new(bin()).arg("cli-reference").output().unwrap();
    assert!(reference.status.success());
    let shipped = std::fs::read(packaging.join("../docs/cli.md")).unwrap();
    assert!(
        reference.stdout == shipped,
        "docs/cli.md stale: run ./admin/gen-docs.sh"
    );
}

#[test]
fn dev_mode_refuses_an_existing_database() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kms");
    Node::start(&dir, &soft_hsm_key()).kill();
    let err = Node::launch(&dir, &["--dev"], &[], std::time::Duration::from_secs(20))
        .expect_err("must refuse");
    assert_eq!(err.code, Some(1));
    assert!(
        err.stderr
            .contains("--dev generates a throwaway HSM key and cannot open the existing database"),
        "{}",
        err.stderr
    );
}

/// Output into a pipe that is already closed (`minkms ... | head`) ends the command quietly,
/// with status 0, instead of a panic.
#[test]
fn a_closed_stdout_pipe_is_not_a_panic() {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; (sleep 0.3; {} identity) | true",
            bin().display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// A node given `--host` and no `--addr` listens on the port it is known by, so that peers
/// dialling `--host` find it; a `--host` nobody could dial is refused at start.
#[test]
fn a_node_listens_on_the_port_of_its_host_and_refuses_a_host_without_one() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let port = minkms_testkit::free_port();
    let host = format!("127.0.0.1:{port}");
    let node = Node::launch(
        &tmp.path().join("kms0"),
        &["--host", &host],
        &[("MINIO_KMS_HSM_KEY", &key)],
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(node.endpoint, host);
    // A client dialling the host finds the node.
    runtime()
        .block_on(node.root().create_enclave("reached"))
        .unwrap();
    drop(node);
    for bad in [
        "node0",
        "node0:",
        "node0:0",
        "node0:http",
        ":7373",
        "a:b:7373",
    ] {
        let failure = Node::launch(
            &tmp.path().join(format!("bad-{}", bad.len())),
            &["--host", bad],
            &[("MINIO_KMS_HSM_KEY", &key)],
            std::time::Duration::from_secs(30),
        )
        .unwrap_err();
        assert_eq!(failure.code, Some(1), "{bad}");
        assert!(
            failure
                .stderr
                .contains(&format!("invalid --host '{bad}': expected HOST:PORT")),
            "{bad}: {}",
            failure.stderr
        );
    }
}

/// What users read stands on its own: help, man pages, README and docs name no design note
/// outside this repository and no "seed" document, and every Markdown file they link to
/// exists here.
#[test]
fn help_man_pages_and_docs_cite_nothing_outside_the_repository() {
    let root = minkms_testkit::repo_root();
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut add_dir = |dir: &std::path::Path, ext: &str| {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) == Some(ext) {
                let text = std::fs::read_to_string(&path).unwrap();
                texts.push((path.display().to_string(), text));
            }
        }
    };
    add_dir(&root.join("docs"), "md");
    add_dir(&root.join("packaging/man"), "1");
    for file in ["README.md", "SECURITY.md"] {
        let path = root.join(file);
        texts.push((file.into(), std::fs::read_to_string(path).unwrap()));
    }
    let help = Command::new(bin()).arg("cli-reference").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    // Options backed by the environment are optional and show no dangling `=` (nor any
    // value from the environment of whoever generated the page).
    assert!(!help.contains("=]"), "an [env: NAME=] in the help");
    assert!(
        !help
            .lines()
            .any(|l| l.trim_start().starts_with("Usage:") && l.contains("--enclave")),
        "--enclave shown as required"
    );
    texts.push(("minkms --help".into(), help));
    let outside = [
        "API.md",
        "CLI.md",
        "ARCHITECTURE.md",
        "SEALING.md",
        "REPLICATION.md",
        "KES-API.md",
        "STYLE.md",
        "HSM-NOTES.md",
        "PERF-NOTES.md",
        "shared/",
    ];
    // "seed 001", "seeds 003/004", "the seeds": the documents the product was modelled on.
    let seed_doc = |line: &str| {
        let line = line.to_lowercase();
        ["seed 00", "seeds 00", "the seeds", "seed document"]
            .iter()
            .any(|s| line.contains(s))
    };
    let mut found = Vec::new();
    for (name, text) in &texts {
        for (n, line) in text.lines().enumerate() {
            for cite in outside {
                // Our own files of the same name (docs/…) are fine; the design notes are not.
                let ours = ["docs/", "SECURITY.md"]
                    .iter()
                    .any(|p| line.contains(&format!("{p}{cite}")));
                if line.contains(cite) && !ours {
                    found.push(format!("{name}:{}: {cite}: {line}", n + 1));
                }
            }
            if seed_doc(line) {
                found.push(format!("{name}:{}: seed: {line}", n + 1));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// `minkms version` prints this binary's version and commit even with no server or a server
/// that cannot be reached; a node's `/version` names the same commit.
#[test]
fn version_names_the_commit_and_works_without_a_server() {
    let run = |server: Option<&str>| {
        let mut cmd = Command::new(bin());
        cmd.args(["version", "-k", "--json"])
            .env_remove("MINIO_KMS_SERVER")
            .env_remove("MINIO_KMS_API_KEY");
        if let Some(s) = server {
            cmd.env("MINIO_KMS_SERVER", s);
        }
        let out = cmd.output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), json)
    };
    let (code, alone) = run(None);
    assert_eq!(code, Some(0));
    let commit = alone["commit"].as_str().unwrap().to_string();
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit}"
    );
    assert!(alone["server"].is_null());
    let dead = format!("127.0.0.1:{}", minkms_testkit::free_port());
    let (code, unreachable) = run(Some(&dead));
    assert_eq!(code, Some(1));
    assert_eq!(unreachable["client"], alone["client"]);
    assert!(
        unreachable["server"]["error"]
            .as_str()
            .unwrap()
            .contains(&dead),
        "{unreachable}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let (code, both) = run(Some(&node.endpoint));
    assert_eq!(code, Some(0));
    assert_eq!(both["server"]["commit"], commit.as_str());
}

/// `--dev` without DIR makes a data directory under the system temp directory, names it in
/// the banner, and keeps it after the node stops, as the help and the banner say: a restart
/// with the printed HSM key opens it again.
#[test]
fn dev_mode_names_its_data_directory_and_keeps_it() {
    use std::io::BufRead as _;
    let mut child = Command::new(bin())
        .args(["server", "--dev", "--addr", "127.0.0.1:0"])
        .env_remove("MINIO_KMS_HSM_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("=> Server is up") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let data = field(&banner, "Data");
    assert!(
        data.ends_with("(kept after the node stops: delete it when done)"),
        "{banner}"
    );
    let dir = std::path::PathBuf::from(data.split(" (kept").next().unwrap());
    assert!(dir.starts_with(std::env::temp_dir()), "{}", dir.display());
    assert!(dir.join("kms.db").exists(), "{}", dir.display());
    std::fs::remove_dir_all(&dir).unwrap();
}
