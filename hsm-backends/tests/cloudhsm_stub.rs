//! CloudHSM discovery against a loopback stub of the CloudHSM v2 API (awsJson1.1 over HTTP):
//! the SDK's real HTTP stack, AWS's response shapes, no AWS account.
#![cfg(feature = "cloudhsm")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use minkms_hsm::cloudhsm::{describe_cluster, ClusterRef};
use minkms_hsm::HsmError;

/// Serves `status` + `body` to every request; returns the endpoint and a request counter.
fn stub(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut target = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if let Some(v) = lower.strip_prefix("x-amz-target:") {
                    target = v.trim().to_string();
                }
            }
            let mut request = vec![0u8; length];
            let _ = reader.read_exact(&mut request);
            assert_eq!(target, "baldrapiservice.describeclusters");
            let request: serde_json::Value = serde_json::from_slice(&request).unwrap();
            assert_eq!(request["Filters"]["clusterIds"][0], "cluster-abc");
            seen.fetch_add(1, Ordering::SeqCst);
            let reason = if status == 200 { "OK" } else { "Bad Request" };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (endpoint, count)
}

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
