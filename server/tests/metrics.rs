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

/// A scrape taken once the HSM probe, which runs at start-up off the request path, has
/// reported (or after 20 s).
fn scrape_after_hsm_probe(client: &minkms_client::Client) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = scrape(client);
        if text.contains("minkms_hsm_up{") || std::time::Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
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
    assert!(sample(&text, "minkms_term ") >= 1.0, "{text}");
    assert_eq!(sample(&text, "minkms_writable "), 1.0);
    assert_eq!(sample(&text, "minkms_open_slot_age_seconds "), 0.0);
    assert!(
        !text.contains("minkms_peer_up{"),
        "a single node has no peers"
    );
    let text = scrape_after_hsm_probe(&root);
    assert_eq!(sample(&text, r#"minkms_hsm_up{hsm="hsm:minio:soft"}"#), 1.0);
    assert!(sample(&text, r#"minkms_hsm_probe_seconds{hsm="hsm:minio:soft"}"#) < 5.0);

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

/// `packaging/grafana/minkms.json` is a Grafana dashboard (the fields Grafana's schema needs,
/// panels on its 24-column grid, unique ids) whose every query names a metric a node serves.
#[test]
fn the_grafana_dashboard_parses_and_queries_only_served_metrics() {
    let path = minkms_testkit::repo_root().join("packaging/grafana/minkms.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(dash["title"].is_string() && dash["uid"].is_string());
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    let vars = dash["templating"]["list"].as_array().unwrap();
    let var_names: Vec<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    let mut ids = std::collections::HashSet::new();
    let mut exprs = Vec::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate panel id: {p}"
        );
        assert!(
            ["timeseries", "stat", "table", "gauge"].contains(&p["type"].as_str().unwrap()),
            "{p}"
        );
        let g = &p["gridPos"];
        let (x, w, h) = (
            g["x"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(g["y"].is_u64() && w > 0 && h > 0 && x + w <= 24, "{p}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{p}");
        for t in targets {
            assert!(t["refId"].is_string(), "{t}");
            let expr = t["expr"].as_str().unwrap().to_string();
            // Every $variable a query uses is defined ($__rate_interval is Grafana's own).
            for var in expr.split('$').skip(1) {
                let name: String = var
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    name.starts_with("__") || var_names.contains(&name.as_str()),
                    "{expr}"
                );
            }
            exprs.push(expr);
        }
    }

    // The metrics the queries name, against what a node serves to the root after a request.
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let root = node.root();
    runtime().block_on(async {
        root.create_enclave("e").await.unwrap();
    });
    let text = scrape_after_hsm_probe(&root);
    let served: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut named = 0;
    for expr in &exprs {
        for (i, _) in expr.match_indices("minkms_") {
            let name: String = expr[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(served.contains(family), "{name} is not served:\n{text}");
            named += 1;
        }
    }
    assert!(named >= exprs.len());
}

/// `minkms identity KEY --pem` gives curl the root's view: the root-only series appear with
/// its certificate and not without.
#[test]
fn curl_with_the_pem_of_the_root_key_sees_the_root_series() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    runtime().block_on(async { node.root().create_enclave("tenant").await.unwrap() });
    let pem = std::process::Command::new(minkms_testkit::bin())
        .args(["identity", &node.root_api_key, "--pem"])
        .output()
        .unwrap();
    assert!(pem.status.success());
    let text = String::from_utf8(pem.stdout).unwrap();
    assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"), "{text}");
    assert!(text.contains("-----BEGIN PRIVATE KEY-----\n"));
    let file = tmp.path().join("root.pem");
    std::fs::write(&file, &text).unwrap();
    let curl = |cert: bool| {
        let mut c = std::process::Command::new("curl");
        c.args(["-sk", "--fail"]);
        if cert {
            c.arg("--cert").arg(&file);
        }
        let out = c
            .arg(format!("https://{}/v1/health/metrics", node.endpoint))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(curl(true).contains(r#"minkms_keys{enclave="tenant"} 0"#));
    assert!(!curl(false).contains("tenant"));
}
