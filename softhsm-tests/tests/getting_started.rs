//! A new operator follows `docs/getting-started.md`: its shell blocks run as written, in order,
//! in one shell, with three changes: other ports (the document's 7373–7375 may be taken), a
//! wait for each banner where the document sleeps two seconds, and the banner's API key where
//! the document says `k1:...`. Building, installing packages and the object store's settings
//! are left out. The outputs the document promises are checked, and so are the claims of its
//! prose: a stopped node refuses writes with the message quoted, a node without its PIN
//! refuses to start with the message quoted.

use std::process::Command;

use minkms_softhsm_tests::softhsm2;
use minkms_testkit::{bin, free_port};

/// The `sh` blocks of the document, each with the heading it is under.
fn blocks(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut heading, mut code, mut inside) = (String::new(), String::new(), false);
    for line in doc.lines() {
        if inside {
            if line.starts_with("```") {
                out.push((heading.clone(), std::mem::take(&mut code)));
                inside = false;
            } else {
                code.push_str(line);
                code.push('\n');
            }
        } else if line == "```sh" {
            inside = true;
        } else if line.starts_with('#') || line.starts_with("**3.") {
            heading = line.to_string();
        }
    }
    out
}

#[test]
fn getting_started_runs_as_written() {
    if softhsm2().is_none() {
        return;
    }
    let doc_path = minkms_testkit::repo_root().join("docs/getting-started.md");
    let doc = std::fs::read_to_string(doc_path).unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let home = tempfile::tempdir().unwrap();
    let bin_dir = bin().parent().unwrap().to_path_buf();
    let mut script = String::from(
        "set -euo pipefail\n\
         unset MINIO_KMS_SERVER MINIO_KMS_API_KEY MINIO_KMS_HSM_KEY MINIO_KMS_ENCLAVE MINIO_KMS_CA\n\
         cd \"$HOME\"\n\
         trap 'rc=$?; kill $(jobs -p) 2>/dev/null; [ $rc -eq 0 ] || tail -n 30 \"$HOME\"/dev.log \"$HOME\"/minkms-demo/*.log >&2; exit $rc' EXIT\n\
         banner() { for f in \"$@\"; do for _ in $(seq 600); do grep -q 'Server is up' \"$f\" 2>/dev/null && break; sleep 0.05; done; grep -q 'Server is up' \"$f\"; done; }\n",
    );
    let mut sleeps = 0;
    for (n, (heading, code)) in blocks(&doc).into_iter().enumerate() {
        if code.contains("MINIO_KMS_SSE_KEY") {
            continue; // the object store's environment, not commands
        }
        script.push_str(&format!("echo '== {n} {}'\n", heading.replace('\'', "")));
        for line in code.lines() {
            let line = line
                .replace("7373", &ports[0].to_string())
                .replace("7374", &ports[1].to_string())
                .replace("7375", &ports[2].to_string());
            let command = line.split('#').next().unwrap_or("").trim_end().to_string();
            let line = if heading.starts_with("## 1.") {
                // Building is the test's own business: only the version check runs.
                if !line.starts_with("minkms ") {
                    continue;
                }
                line
            } else if command == "minkms server --dev" {
                format!(
                    "minkms server --dev --addr 127.0.0.1:{} > dev.out 2> dev.log &\nbanner dev.out",
                    ports[0]
                )
            } else if command.starts_with("export MINIO_KMS_API_KEY=k1:...") {
                "export MINIO_KMS_API_KEY=$(awk '/^API Key/ {print $3}' dev.out)".into()
            } else if command.starts_with("sudo apt-get install") {
                continue;
            } else if command == "sleep 2" {
                sleeps += 1;
                match sleeps {
                    1 => "banner node0.out".into(),
                    _ => "banner node1.out node2.out".into(),
                }
            } else {
                line
            };
            script.push_str(&line);
            script.push('\n');
        }
        if heading.starts_with("## 2.") && code.contains("keygen") {
            // "Stop the server with Ctrl-C."
            script.push_str("kill -INT %1; wait %1 || true\n");
        }
    }
    assert_eq!(
        sleeps, 2,
        "the document's start-up changed: update this test"
    );
    // §3.6: stop node 1; writes are refused, naming it.
    script.push_str(&format!(
        "echo '== prose 3.6'\nkill %2; wait %2 || true\n\
         for _ in $(seq 100); do\n\
           if out=$(minkms add-key -k --enclave demo after-the-loss 2>&1); then echo \"written: $out\"; exit 1; fi\n\
           case \"$out\" in *'is down'*) break;; esac; sleep 0.1\n\
         done\n\
         echo \"$out\"\n\
         echo '== prose 3.7'\n\
         if (unset MINKMS_PKCS11_PIN; minkms server --addr 127.0.0.1:{} --config config.yaml node1 > again.out 2> again.log); then exit 1; fi\n\
         cat again.log\n",
        ports[1]
    ));
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("HOME", home.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the document's commands failed:\n{stdout}\n{stderr}\n--- script\n{script}"
    );
    // Everything printed under the blocks whose marker names `name`.
    let section = |name: &str| {
        let mut text = String::new();
        let mut keep = false;
        for line in stdout.lines() {
            if let Some(marker) = line.strip_prefix("== ") {
                keep = marker.contains(name);
            } else if keep {
                text.push_str(line);
                text.push('\n');
            }
        }
        assert!(!text.is_empty(), "nothing under {name} in:\n{stdout}");
        text
    };
    // §1: the version.
    assert!(section("## 1.").contains("minkms "), "{stdout}");
    // §2: one node, an enclave, a key, a data key.
    let one = section("## 2.");
    assert!(one.contains("All [1/1] nodes are up"), "{one}");
    assert!(
        one.contains("Plaintext") && one.contains("Ciphertext"),
        "{one}"
    );
    // §3.3: the same root API key three times.
    let started = section("**3.3");
    let keys: Vec<&str> = started
        .lines()
        .filter(|l| l.starts_with("API Key"))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    // §3.4: three nodes, one leader, two followers, the same commit.
    let stat = section("**3.4");
    assert!(stat.contains("All [3/3] nodes are up"), "{stat}");
    assert_eq!(stat.matches("State       Leader").count(), 1, "{stat}");
    assert_eq!(stat.matches("State       Follower").count(), 2, "{stat}");
    // §3.5: the key from another node; the metrics, and the root's.
    let used = section("**3.5");
    assert!(used.contains("my-key"), "{used}");
    assert!(used.contains("minkms_commit"), "{used}");
    assert!(
        stdout.contains("minkms_hsm_up") && stdout.contains("minkms_keys"),
        "{stdout}"
    );
    // §4: an identity for the object store, with its API key printed once.
    assert!(section("## 4.").contains("k1:"), "{stdout}");
    // The prose: what a stopped node and a missing PIN say.
    let lost = section("prose 3.6");
    assert!(
        lost.contains(&format!(
            "not all nodes available: node 1 (127.0.0.1:{}) is down",
            ports[1]
        )),
        "{lost}"
    );
    let no_pin = section("prose 3.7");
    assert!(
        no_pin.contains("invalid HSM configuration: hsm.pkcs11 token 'minkms' pin: environment variable MINKMS_PKCS11_PIN is not set"),
        "{no_pin}"
    );
}
