//! CloudHSM discovery against a loopback stub of the CloudHSM v2 API (awsJson1.1 over HTTP):
//! the SDK's real HTTP stack, AWS's response shapes, no AWS account.
#![cfg(feature = "cloudhsm")]

use std::sync::atomic::Ordering;

use minkms_hsm::cloudhsm::{describe_cluster, ClusterRef};
use minkms_hsm::HsmError;

use minkms_testkit::cloudhsm_api_stub as stub;

fn cluster(endpoint: String) -> ClusterRef {
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test-secret");
    ClusterRef {
        cluster_id: "cluster-abc".into(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint),
    }
}

const ACTIVE: &str = r#"{"Clusters":[{"ClusterId":"cluster-abc","State":"ACTIVE","Hsms":[
  {"HsmId":"hsm-1","EniIp":"10.0.0.5","State":"ACTIVE","AvailabilityZone":"us-east-1a","ClusterId":"cluster-abc","SubnetId":"subnet-1"},
  {"HsmId":"hsm-2","EniIp":"10.0.1.5","State":"DEGRADED","AvailabilityZone":"us-east-1b","ClusterId":"cluster-abc","SubnetId":"subnet-2"}]}]}"#;

#[test]
fn active_cluster_is_described_with_its_hsms() {
    let (endpoint, count) = stub(200, ACTIVE);
    let health = describe_cluster(&cluster(endpoint)).unwrap();
    assert_eq!(health.state, "ACTIVE");
    assert_eq!(health.hsms.len(), 2);
    assert_eq!(health.hsms[0].eni_ip, "10.0.0.5");
    assert_eq!(
        health.to_string(),
        "CloudHSM cluster cluster-abc ACTIVE, 1/2 HSMs ACTIVE"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn degraded_cluster_is_unavailable_with_a_clear_message() {
    let (endpoint, _) = stub(
        200,
        r#"{"Clusters":[{"ClusterId":"cluster-abc","State":"DEGRADED","Hsms":[]}]}"#,
    );
    let err = describe_cluster(&cluster(endpoint)).unwrap_err();
    assert!(matches!(err, HsmError::Unavailable(_)), "{err}");
    assert!(
        err.to_string().contains("cluster-abc DEGRADED") && err.to_string().contains("not ACTIVE"),
        "{err}"
    );
}

#[test]
fn unknown_cluster_is_a_config_error() {
    let (endpoint, _) = stub(200, r#"{"Clusters":[]}"#);
    let err = describe_cluster(&cluster(endpoint)).unwrap_err();
    assert!(matches!(err, HsmError::Config(_)), "{err}");
    assert!(
        err.to_string()
            .contains("cluster-abc not found in region us-east-1"),
        "{err}"
    );
}

#[test]
fn throttling_is_retried_then_reported_as_unavailable() {
    let (endpoint, count) = stub(
        400,
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    );
    let err = describe_cluster(&cluster(endpoint)).unwrap_err();
    assert!(matches!(err, HsmError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "the SDK retries throttling once"
    );
}

#[test]
fn access_denied_is_an_authentication_error() {
    let (endpoint, _) = stub(
        400,
        r#"{"__type":"CloudHsmAccessDeniedException","Message":"denied"}"#,
    );
    let err = describe_cluster(&cluster(endpoint)).unwrap_err();
    assert!(matches!(err, HsmError::Authentication(_)), "{err}");
}
