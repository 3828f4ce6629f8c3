//! Packaging: the systemd unit's ExecStart, run with the variables of its environment file
//! (as systemd would: this machine runs no systemd), starts a working node; the other files
//! say what they must.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use minkms_testkit::{bin, free_port, soft_hsm_key};

fn packaging(file: &str) -> String {
    std::fs::read_to_string(minkms_testkit::repo_root().join("packaging").join(file)).unwrap()
}

#[test]
fn the_systemd_unit_starts_a_node_with_its_environment_file() {
    let unit = packaging("systemd/minkms.service");
    assert!(unit.contains("EnvironmentFile=/etc/default/minkms"));
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    assert_eq!(
        exec,
        "/usr/local/bin/minkms server $MINIO_KMS_OPTS $MINIO_KMS_VOLUME"
    );

    // The environment file, filled in as an operator would (config left out: none exists here).
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = packaging("systemd/minkms.env")
        .replace(
            "MINIO_KMS_HSM_KEY=\n",
            &format!("MINIO_KMS_HSM_KEY={}\n", soft_hsm_key()),
        )
        .replace("/var/lib/minkms", tmp.path().join("kms").to_str().unwrap())
        .replace(
            "--host HOSTNAME:7373 --config /etc/minkms/config.yaml",
            &format!("--addr 127.0.0.1:{port} --host localhost:{port}"),
        );
    for var in ["MINIO_KMS_HSM_KEY=", "MINIO_KMS_VOLUME=", "MINIO_KMS_OPTS="] {
        assert!(env.lines().any(|l| l.starts_with(var)), "{var} missing");
    }
    let env_file = tmp.path().join("minkms.env");
    std::fs::write(&env_file, env).unwrap();

    // systemd's EnvironmentFile semantics for these simple lines equal the shell's `set -a; .`.
    let exec = exec.replace("/usr/local/bin/minkms", bin().to_str().unwrap());
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -a; . {}; set +a; exec {exec}",
            env_file.display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut banner = String::new();
    while Instant::now() < deadline {
        match lines.next() {
            Some(Ok(line)) => {
                banner.push_str(&line);
                banner.push('\n');
                if line.starts_with("=> Server is up") {
                    break;
                }
            }
            _ => break,
        }
    }
    // `systemctl reload` (log rotation) runs ExecReload: the node keeps running.
    let reload = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecReload="))
        .expect("an ExecReload line")
        .replace("$MAINPID", &child.id().to_string());
    let reloaded = Command::new("bash")
        .arg("-c")
        .arg(&reload)
        .status()
        .unwrap();
    assert!(reloaded.success(), "{reload}");
    std::thread::sleep(Duration::from_millis(300));
    let after_reload = child.try_wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(banner.contains("=> Server is up"), "{banner}");
    assert_eq!(after_reload, None, "the node exited on reload");
    assert!(
        banner.contains(&format!("Node 0: localhost:{port} <-")),
        "--host from MINIO_KMS_OPTS:\n{banner}"
    );
    assert!(
        tmp.path().join("kms").join("kms.db").exists(),
        "state in MINIO_KMS_VOLUME"
    );

    // systemd's own checker, offline, on the unit pointed at this binary and env file
    // (admin/test.sh installs it; the user need not exist for `verify`).
    let verified = tmp.path().join("minkms.service");
    std::fs::write(
        &verified,
        unit.replace("/usr/local/bin/minkms", bin().to_str().unwrap())
            .replace("/etc/default/minkms", env_file.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&verified)
        .output()
        .expect("systemd-analyze (admin/test.sh installs systemd)");
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn container_and_kubernetes_files_wire_the_same_variables() {
    let docker = packaging("Dockerfile");
    assert!(
        docker.contains("minkms server --addr :7373 $MINIO_KMS_OPTS \\\"$MINIO_KMS_VOLUME\\\""),
        "{docker}"
    );
    let k8s = packaging("kubernetes/minkms.yaml");
    for needle in [
        "kind: StatefulSet",
        "kind: Service",
        "clusterIP: None",
        "secretRef: {name: minkms-hsm}",
        "/v1/health/ready",
        "--host $(POD_NAME).minkms-hl:7373",
    ] {
        assert!(k8s.contains(needle), "{needle} missing from the manifests");
    }
    let script = minkms_testkit::repo_root().join("packaging/install.sh");
    assert!(
        Command::new("bash")
            .arg("-n")
            .arg(&script)
            .status()
            .unwrap()
            .success(),
        "install.sh does not parse"
    );
    let install = packaging("install.sh");
    assert!(
        install.contains("minkms --soft-hsm") && install.contains("chmod 0640 /etc/default/minkms")
    );
    // Without systemd as PID 1 it says what it installed and how to start the node.
    assert!(
        install.contains("[ -d /run/systemd/system ]")
            && install.contains("systemd is not running here")
    );
}
