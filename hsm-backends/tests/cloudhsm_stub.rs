//! CloudHSM discovery against a loopback stub of the CloudHSM v2 API (awsJson1.1 over HTTP):
//! the SDK's real HTTP stack, AWS's response shapes, no AWS account. The stub keeps what it
//! was sent, so the tests check the request too: the cluster filter and the SigV4 scope.
#![cfg(feature = "cloudhsm")]

use minkms_hsm::cloudhsm::{describe_cluster_with_env, ClusterHealth, ClusterRef};
use minkms_hsm::HsmError;

use minkms_testkit::CloudHsmStub;

/// Credentials as the environment would give them (the process environment is not touched:
/// tests run in parallel).
fn with_credentials(name: &str) -> Option<String> {
    match name {
        "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".into()),
        "AWS_SECRET_ACCESS_KEY" => Some("test-secret".into()),
        _ => None,
    }
}

fn cluster(stub: &CloudHsmStub) -> ClusterRef {
    ClusterRef {
        cluster_id: "cluster-abc".into(),
        region: Some("us-east-1".into()),
        endpoint: Some(stub.endpoint.clone()),
    }
}

fn describe(stub: &CloudHsmStub) -> Result<ClusterHealth, HsmError> {
    describe_cluster_with_env(&cluster(stub), &with_credentials)
}

fn answering(body: &'static str) -> CloudHsmStub {
    CloudHsmStub::start(200, body)
}

const ACTIVE: &str = r#"{"Clusters":[{"ClusterId":"cluster-abc","State":"ACTIVE","Hsms":[
  {"HsmId":"hsm-1","EniIp":"10.0.0.5","State":"ACTIVE","AvailabilityZone":"us-east-1a","ClusterId":"cluster-abc","SubnetId":"subnet-1"},
  {"HsmId":"hsm-2","EniIp":"10.0.1.5","State":"DEGRADED","AvailabilityZone":"us-east-1b","ClusterId":"cluster-abc","SubnetId":"subnet-2"}]}]}"#;

#[test]
fn active_cluster_is_described_with_its_hsms() {
    let stub = answering(ACTIVE);
    let health = describe(&stub).unwrap();
    assert_eq!(health.state, "ACTIVE");
    assert_eq!(health.hsms.len(), 2);
    assert_eq!(health.hsms[0].eni_ip, "10.0.0.5");
    assert_eq!(
        health.to_string(),
        "CloudHSM cluster cluster-abc ACTIVE, 1/2 HSMs ACTIVE"
    );
    assert_eq!(stub.requests().len(), 1);
}

/// The one request asks for this cluster only and is signed for CloudHSM in the configured
/// region with the given access key (SigV4: `Credential=KEY/DATE/REGION/SERVICE/aws4_request`).
#[test]
fn the_request_filters_on_the_cluster_and_is_signed_for_its_region() {
    let stub = answering(ACTIVE);
    describe(&stub).unwrap();
    let request = &stub.requests()[0];
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"Filters": {"clusterIds": ["cluster-abc"]}}),
        "{}",
        request.body
    );
    let auth = request.header("authorization").expect("a signed request");
    let credential = auth
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("not SigV4: {auth}"));
    let scope: Vec<&str> = credential.split('/').collect();
    assert_eq!(scope.len(), 5, "{credential}");
    assert_eq!(scope[0], "AKIDEXAMPLE");
    assert_eq!(scope[1].len(), 8, "a yyyymmdd date: {credential}");
    assert!(scope[1].bytes().all(|b| b.is_ascii_digit()), "{credential}");
    assert_eq!(&scope[2..], ["us-east-1", "cloudhsm", "aws4_request"]);
    assert!(
        auth.contains("SignedHeaders=") && auth.contains("Signature="),
        "{auth}"
    );
    assert!(
        !auth.contains("test-secret") && !request.body.contains("test-secret"),
        "the secret key travels"
    );
    assert!(
        request.header("x-amz-date").is_some(),
        "{:?}",
        request.headers
    );
}

#[test]
fn degraded_cluster_is_unavailable_with_a_clear_message() {
    let stub =
        answering(r#"{"Clusters":[{"ClusterId":"cluster-abc","State":"DEGRADED","Hsms":[]}]}"#);
    let err = describe(&stub).unwrap_err();
    assert!(matches!(err, HsmError::Unavailable(_)), "{err}");
    assert!(
        err.to_string().contains("cluster-abc DEGRADED") && err.to_string().contains("not ACTIVE"),
        "{err}"
    );
}

/// A deleted cluster, or one being deleted, will not come back: a configuration error (the
/// node says so and does not retry forever as it does for a degraded one).
#[test]
fn deleted_and_deleting_clusters_are_config_errors() {
    for (body, state) in [
        (
            r#"{"Clusters":[{"ClusterId":"cluster-abc","State":"DELETED","Hsms":[]}]}"#,
            "DELETED",
        ),
        (
            r#"{"Clusters":[{"ClusterId":"cluster-abc","State":"DELETE_IN_PROGRESS","Hsms":[]}]}"#,
            "DELETE_IN_PROGRESS",
        ),
    ] {
        let err = describe(&answering(body)).unwrap_err();
        assert!(matches!(err, HsmError::Config(_)), "{state}: {err}");
        assert!(
            err.to_string().contains(&format!(
                "cluster-abc {state}, 0/0 HSMs ACTIVE: the cluster is being deleted or gone"
            )),
            "{err}"
        );
    }
}

#[test]
fn unknown_cluster_is_a_config_error() {
    let err = describe(&answering(r#"{"Clusters":[]}"#)).unwrap_err();
    assert!(matches!(err, HsmError::Config(_)), "{err}");
    assert!(
        err.to_string()
            .contains("cluster-abc not found in region us-east-1"),
        "{err}"
    );
    // Another cluster in the answer is not this one.
    let err = describe(&answering(
        r#"{"Clusters":[{"ClusterId":"cluster-other","State":"ACTIVE","Hsms":[]}]}"#,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("cluster-abc not found"), "{err}");
}

/// AWS's own not-found error for a malformed or foreign cluster id.
#[test]
fn resource_not_found_is_a_config_error_naming_the_cluster() {
    let stub = CloudHsmStub::start(
        400,
        r#"{"__type":"CloudHsmResourceNotFoundException","Message":"no such cluster"}"#,
    );
    let err = describe(&stub).unwrap_err();
    assert!(matches!(err, HsmError::Config(_)), "{err}");
    assert_eq!(
        err.to_string(),
        HsmError::Config("CloudHSM cluster cluster-abc: no such cluster".into()).to_string()
    );
}

/// Without credentials nothing is sent: the error names the variables to set.
#[test]
fn missing_credentials_are_a_config_error_and_nothing_is_sent() {
    let stub = answering(ACTIVE);
    for env in [
        &(|_: &str| None) as &dyn Fn(&str) -> Option<String>,
        &|name: &str| (name == "AWS_ACCESS_KEY_ID").then(|| "AKIDEXAMPLE".into()),
    ] {
        let err = describe_cluster_with_env(&cluster(&stub), env).unwrap_err();
        assert!(matches!(err, HsmError::Config(_)), "{err}");
        assert!(
            err.to_string()
                .contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set"),
            "{err}"
        );
    }
    // No region configured and none in the environment.
    let mut no_region = cluster(&stub);
    no_region.region = None;
    let err = describe_cluster_with_env(&no_region, &with_credentials).unwrap_err();
    assert!(err.to_string().contains("AWS_REGION is not set"), "{err}");
    assert!(stub.requests().is_empty(), "{:?}", stub.requests());
}

#[test]
fn throttling_is_retried_then_reported_as_unavailable() {
    let stub = CloudHsmStub::start(
        400,
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    );
    let err = describe(&stub).unwrap_err();
    assert!(matches!(err, HsmError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_eq!(stub.requests().len(), 2, "the SDK retries throttling once");
}

#[test]
fn access_denied_is_an_authentication_error() {
    let stub = CloudHsmStub::start(
        400,
        r#"{"__type":"CloudHsmAccessDeniedException","Message":"denied"}"#,
    );
    let err = describe(&stub).unwrap_err();
    assert!(matches!(err, HsmError::Authentication(_)), "{err}");
}
