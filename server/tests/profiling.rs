//! `/v1/debug/pprof` as kms-go calls it (`StartProfiling`, `ProfilingStatus`, `StopProfiling`)
//! and `minkms profile`: the root records a CPU profile of a node and gets a zip archive whose
//! `cpu.pprof` is a pprof profile with samples; nobody else may.

use std::io::Read as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use minkms_client::wire::ProfileStatusResponse;
use minkms_testkit::{runtime, soft_hsm_key, Node};
use prost::Message as _;

/// The samples of the `cpu.pprof` in `archive`.
fn samples_in(archive: &[u8]) -> usize {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let mut entry = zip.by_name("cpu.pprof").unwrap();
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    let profile =
        <pprof::protos::Profile as pprof::protos::Message>::decode(bytes.as_slice()).unwrap();
    assert!(!profile.sample_type.is_empty(), "not a CPU profile");
    profile.sample.len()
}

async fn call(
    c: &minkms_client::Client,
    host: &str,
    method: Method,
    path: &str,
) -> minkms_client::RawResponse {
    c.send_to(host, method, path, Bytes::new()).await.unwrap()
}

#[test]
fn the_root_records_a_cpu_profile_and_others_may_not() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let root = node.root();
    let stranger = node.client(Some(&minkms_client::ApiKey::generate().to_secret_string()));
    let host = root.endpoints()[0].clone();
    let path = "/v1/debug/pprof";
    runtime().block_on(async {
        for method in [Method::POST, Method::GET, Method::DELETE] {
            let r = call(&stranger, &host, method.clone(), "/v1/debug/pprof?cpu=true").await;
            assert_eq!(r.status, 403, "{method}");
        }
        let idle = ProfileStatusResponse::decode(call(&root, &host, Method::GET, path).await.body)
            .unwrap();
        assert!(!idle.cpu && idle.started.is_none());
        assert_eq!(
            call(&root, &host, Method::POST, "/v1/debug/pprof?cpu=true")
                .await
                .status,
            200
        );
        let again = call(&root, &host, Method::POST, "/v1/debug/pprof?cpu=true").await;
        assert_eq!(again.status, 409, "{:?}", again.body);
        let running =
            ProfileStatusResponse::decode(call(&root, &host, Method::GET, path).await.body)
                .unwrap();
        assert!(running.cpu && running.started.is_some() && !running.heap);
        // Work for the profiler to see.
        root.create_enclave("e").await.unwrap();
        root.create_key("e", "k", "", false).await.unwrap();
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            let jobs: Vec<_> = (0..16)
                .map(|_| root.generate_key("e", "k", b"", 32))
                .collect();
            for job in jobs {
                job.await.unwrap();
            }
        }
        let stopped = call(&root, &host, Method::DELETE, path).await;
        assert_eq!(stopped.status, 200);
        assert_eq!(stopped.headers["content-type"], "application/zip");
        assert!(
            samples_in(&stopped.body) > 0,
            "no samples after 1.5 s of load"
        );
        let after = ProfileStatusResponse::decode(call(&root, &host, Method::GET, path).await.body)
            .unwrap();
        assert!(!after.cpu);
        assert_eq!(call(&root, &host, Method::DELETE, path).await.status, 404);
    });
    // The CLI: one command, a file.
    let file = tmp.path().join("profile.zip");
    node.cli(&["profile", "--seconds", "1", file.to_str().unwrap()]);
    let archive = std::fs::read(&file).unwrap();
    samples_in(&archive);
}
