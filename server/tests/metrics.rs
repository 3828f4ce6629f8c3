//! Prometheus metrics: request counters and latency by command and status, node gauges, and
//! per-enclave series only for the root.

use bytes::Bytes;
use minkms_testkit::{runtime, soft_hsm_key, Node};

fn scrape(client: &minkms_client::Client) -> String {
    runtime().block_on(async {
        let host = client.endpoints()[0].clone();
        let r = client
            .send_to(&host, http::Method::GET, "/v1/health/metrics", Bytes::new())
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        String::from_utf8(r.body.to_vec()).unwrap()
    })
}

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{text}"))
}

#[test]
fn metrics_count_requests_and_show_node_gauges() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let root = node.root();
    runtime().block_on(async {
        root.create_enclave("tenant").await.unwrap();
        root.create_key("tenant", "k", "", false).await.unwrap();
        for _ in 0..5 {
            root.generate_key("tenant", "k", b"", 32).await.unwrap();
        }
        assert!(root
            .generate_key("tenant", "missing", b"", 32)
            .await
            .is_err());
    });
    let text = scrape(&root);
    assert_eq!(
        sample(
            &text,
            r#"minkms_http_requests_total{command="KEY:GENERATE",status="200"}"#
        ),
        5.0
    );
    assert_eq!(
        sample(
            &text,
            r#"minkms_http_requests_total{command="KEY:GENERATE",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"minkms_http_request_duration_seconds_count{command="KEY:GENERATE"}"#
        ),
        6.0
    );
    assert!(text.contains(
        r#"minkms_http_request_duration_seconds_bucket{command="KEY:GENERATE",le="0.001"}"#
    ));
    assert_eq!(sample(&text, "minkms_commit "), 2.0);
    assert_eq!(sample(&text, "minkms_enclaves "), 1.0);
    assert_eq!(sample(&text, "minkms_sealed "), 0.0);
    assert_eq!(sample(&text, r#"minkms_node_role{role="Leader"}"#), 1.0);
    assert_eq!(
        sample(&text, r#"minkms_hsm_sealed_root_key{hsm="hsm:minio:soft"}"#),
        1.0
    );
    assert_eq!(sample(&text, r#"minkms_keys{enclave="tenant"}"#), 1.0);

    // Anyone may scrape, but enclave names are for the root only.
    let public = scrape(&node.client(None));
    assert!(public.contains("minkms_commit"));
    assert!(
        !public.contains("tenant"),
        "enclave names leaked:\n{public}"
    );
    assert!(
        !public.contains("hsm:minio:soft"),
        "HSM ids leaked:\n{public}"
    );
    assert_eq!(
        text.matches("# TYPE minkms_hsm_sealed_root_key").count(),
        1,
        "one family, once"
    );
}
