//! A node on "CloudHSM": the PKCS#11 half runs on a real SoftHSM2 token standing in for AWS's
//! library, the control plane on a loopback stub of the CloudHSM v2 API. No AWS account is
//! reachable here.

use std::time::Duration;

use minkms_softhsm_tests::{softhsm2, write_config, SoftHsm2, PIN_ENV};
use minkms_testkit::{CloudHsmStub, Node};

const ACTIVE: &str = r#"{"Clusters":[{"ClusterId":"cluster-abc","State":"ACTIVE","Hsms":[{"HsmId":"hsm-1","EniIp":"10.0.0.5","State":"ACTIVE"}]}]}"#;
const DEGRADED: &str = r#"{"Clusters":[{"ClusterId":"cluster-abc","State":"DEGRADED","Hsms":[]}]}"#;

fn config(hsm: &SoftHsm2, token: &str, endpoint: &str) -> String {
    format!(
        "  cloudhsm:\n    cluster_id: cluster-abc\n    region: us-east-1\n    endpoint: {endpoint}\n    module: {}\n    token: {token}\n    pin:\n      env: {PIN_ENV}\n    key: minkms-seal\n    hmac_key: minkms-hmac\n    generate_key: true\n",
        hsm.module.display()
    )
}

fn env(hsm: &SoftHsm2) -> Vec<(&'static str, String)> {
    let mut env = hsm.env();
    env.push(("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".into()));
    env.push(("AWS_SECRET_ACCESS_KEY", "test-secret".into()));
    env
}

#[test]
fn a_cloudhsm_node_reports_its_cluster_in_stat() {
    let Some(hsm) = softhsm2() else { return };
    hsm.token("cloud");
    let stub = CloudHsmStub::start(200, ACTIVE);
    let endpoint = stub.endpoint.clone();
    let tmp = tempfile::tempdir().unwrap();
    let path = write_config(tmp.path(), "config.yaml", &config(&hsm, "cloud", &endpoint));
    let env = env(&hsm);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let node = Node::launch(
        &tmp.path().join("kms"),
        &["--config", path.to_str().unwrap()],
        &env,
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(
        node.stdout()
            .contains("HSM            cloudhsm:cloud/minkms-seal"),
        "{}",
        node.stdout()
    );
    // The health report is refreshed in the background right after unsealing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stat = loop {
        let stat = node.cli(&["stat"]);
        if stat.contains("ACTIVE") || std::time::Instant::now() > deadline {
            break stat;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(stat.contains("HSM         cloudhsm:cloud/minkms-seal (CloudHSM cluster cluster-abc ACTIVE, 1/1 HSMs ACTIVE)"), "{stat}");
    assert!(stub.requests().len() >= 2, "checked at boot and for status");
}

#[test]
fn a_cloudhsm_cluster_that_is_not_active_keeps_the_node_sealed() {
    let Some(hsm) = softhsm2() else { return };
    hsm.token("cloud-degraded");
    let endpoint = CloudHsmStub::start(200, DEGRADED).endpoint;
    let tmp = tempfile::tempdir().unwrap();
    let path = write_config(
        tmp.path(),
        "config.yaml",
        &config(&hsm, "cloud-degraded", &endpoint),
    );
    let env = env(&hsm);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut node = Node::spawn(
        &tmp.path().join("kms"),
        &["--config", path.to_str().unwrap()],
        &env,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !node.logs().contains("cannot unseal yet") {
        assert!(
            std::time::Instant::now() < deadline,
            "no retry logged:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        node.logs().contains(
            "CloudHSM cluster cluster-abc DEGRADED, 0/0 HSMs ACTIVE: the cluster is not ACTIVE"
        ),
        "{}",
        node.logs()
    );
    assert!(
        node.wait_up(Duration::from_millis(500)).is_err(),
        "a sealed node prints no banner"
    );
}
