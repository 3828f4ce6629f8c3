//! The KES v1 API of a running node, spoken as MinIO's pinned KES client speaks it (docs/kes.md):
//! JSON bodies with standard base64, POST to the routes KES declares as PUT, `*` as `%2A`,
//! no `Accept` header, the client certificate of a `kes:v1:` API key. MinIO's whole KES call
//! sequence, the other endpoints, the errors KES's client matches on, a restricted identity, an
//! identity of another enclave, and data keys crossing between the KES API and the KMS protocol.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use minkms_client::wire::{CreateIdentityRequest, CreatePolicyRequest, Rule, RuleSet};
use minkms_client::{ApiKey, Client};
use minkms_testkit::{runtime, soft_hsm_key, Node};
use serde_json::{json, Value};

/// One answer: status, Content-Type, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    /// Asserts a KES error: its status, JSON Content-Type and exact message.
    fn is_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(self.content_type.as_deref(), Some("application/json"));
        assert_eq!(self.json(), json!({ "message": message }));
    }

    fn bytes(&self, member: &str) -> Vec<u8> {
        let v = self.json();
        let text = v[member]
            .as_str()
            .unwrap_or_else(|| panic!("no {member} in {v}"));
        STANDARD.decode(text).unwrap()
    }
}

/// A KES client: a `kes:v1:` API key's certificate (or none) and requests built as KES's
/// client builds them.
struct Kes {
    client: Client,
    endpoint: String,
}

impl Kes {
    fn new(node: &Node, kes_api_key: Option<&str>) -> Self {
        let key = kes_api_key.map(|k| ApiKey::parse_kes(k).unwrap().to_secret_string());
        Self {
            client: node.client(key.as_deref().map(|k| k.as_str())),
            endpoint: node.endpoint.clone(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("https://{}{path}", self.endpoint));
        let body = match body {
            Some(v) => {
                req = req.header("Content-Type", "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let resp = self
            .client
            .request(req.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        Answer {
            status: resp.status.as_u16(),
            content_type: resp
                .headers
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string()),
            body: resp.body,
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The JSON of MinIO's `kms.Context` for an object: `{"b":"b/o"}`.
const OBJECT_CONTEXT: &str = r#"{"bucket":"bucket/object"}"#;

#[test]
fn minio_kes_sequence_and_every_key_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let root_key = ApiKey::parse(&node.root_api_key).unwrap();
    runtime().block_on(async {
        node.root().create_enclave("default").await.unwrap();
        // MinIO holds the root's key in KES's form.
        let kes = Kes::new(&node, Some(&root_key.to_kes_string()));
        let key = "/v1/key";

        // Start-up: generate with an empty context finds no key, so MinIO creates it.
        let ctx = json!({ "context": b64(b"{}") });
        kes.call(
            "POST",
            &format!("{key}/generate/minio-key"),
            Some(ctx.clone()),
        )
        .await
        .is_error(404, "key does not exist");
        let created = kes
            .call("POST", &format!("{key}/create/minio-key"), None)
            .await;
        assert_eq!(
            (created.status, created.content_type, created.body.len()),
            (200, None, 0)
        );
        kes.call("POST", &format!("{key}/create/minio-key"), None)
            .await
            .is_error(400, "key already exists");
        assert_eq!(
            kes.call("PUT", &format!("{key}/create/other-key"), None)
                .await
                .status,
            200
        );

        // The every-10-s describe.
        let described = kes
            .call("GET", &format!("{key}/describe/minio-key"), None)
            .await;
        assert_eq!(described.status, 200);
        assert_eq!(described.content_type.as_deref(), Some("application/json"));
        let d = described.json();
        assert_eq!(d["name"], "minio-key");
        assert_eq!(d["algorithm"], "AES256");
        assert_eq!(d["created_by"], root_key.identity().to_hex());
        assert!(d["created_at"].as_str().unwrap().ends_with('Z'), "{d}");

        // SSE-S3: generate with the object's context, decrypt with the stored ciphertext
        // (and a version member KES's newer servers define, ignored).
        let ctx = json!({ "context": b64(OBJECT_CONTEXT.as_bytes()) });
        let dek = kes
            .call("POST", &format!("{key}/generate/minio-key"), Some(ctx))
            .await;
        assert_eq!(dek.status, 200, "{:?}", dek.body);
        let (plaintext, ciphertext) = (dek.bytes("plaintext"), dek.bytes("ciphertext"));
        assert_eq!(plaintext.len(), 32);
        let opened = kes
            .call(
                "POST",
                &format!("{key}/decrypt/minio-key"),
                Some(json!({
                    "ciphertext": b64(&ciphertext),
                    "context": b64(OBJECT_CONTEXT.as_bytes()),
                    "version": "v1",
                })),
            )
            .await;
        assert_eq!(opened.bytes("plaintext"), plaintext);
        kes.call(
            "POST",
            &format!("{key}/decrypt/minio-key"),
            Some(json!({ "ciphertext": b64(&ciphertext), "context": b64(b"{}") })),
        )
        .await
        .is_error(400, "decryption failed: ciphertext is not authentic");

        // SSE-KMS (the client's context with the bucket entry), the health check and
        // `mc admin kms key status`: generate, then decrypt with the same context.
        for context in [
            r#"{"bucket":"bucket/object","project":"x"}"#,
            r#"{"healthcheck":""}"#,
            r#"{"MinIO admin API":"KMSKeyStatusHandler"}"#,
        ] {
            let ctx = json!({ "context": b64(context.as_bytes()) });
            let g = kes
                .call("POST", &format!("{key}/generate/minio-key"), Some(ctx))
                .await;
            let open = json!({
                "ciphertext": b64(&g.bytes("ciphertext")),
                "context": b64(context.as_bytes()),
            });
            let o = kes
                .call("POST", &format!("{key}/decrypt/minio-key"), Some(open))
                .await;
            assert_eq!(o.bytes("plaintext"), g.bytes("plaintext"), "{context}");
        }

        // The data key opens through the KMS protocol with the context as associated data,
        // and one made through the KMS protocol opens through KES.
        let root = node.root();
        let via_kms = root
            .decrypt(
                "default",
                "minio-key",
                0,
                &ciphertext,
                OBJECT_CONTEXT.as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(via_kms.plaintext, plaintext);
        let made = root
            .generate_key("default", "minio-key", b"ctx", 32)
            .await
            .unwrap();
        let back = kes
            .call(
                "POST",
                &format!("{key}/decrypt/minio-key"),
                Some(json!({ "ciphertext": b64(&made.ciphertext), "context": b64(b"ctx") })),
            )
            .await;
        assert_eq!(back.bytes("plaintext"), made.plaintext);

        // An empty body, `{}` and a null context are one empty context.
        for body in [None, Some(json!({})), Some(json!({ "context": null }))] {
            let g = kes
                .call("POST", &format!("{key}/generate/minio-key"), body)
                .await;
            assert_eq!(g.status, 200);
            let open = json!({ "ciphertext": b64(&g.bytes("ciphertext")) });
            let o = kes
                .call("POST", &format!("{key}/decrypt/minio-key"), Some(open))
                .await;
            assert_eq!(o.bytes("plaintext"), g.bytes("plaintext"));
        }

        // Encrypt and decrypt.
        let sealed = kes
            .call(
                "POST",
                &format!("{key}/encrypt/minio-key"),
                Some(json!({ "plaintext": b64(b"config"), "context": b64(b"c") })),
            )
            .await;
        let open = json!({ "ciphertext": b64(&sealed.bytes("ciphertext")), "context": b64(b"c") });
        let o = kes
            .call("POST", &format!("{key}/decrypt/minio-key"), Some(open))
            .await;
        assert_eq!(o.bytes("plaintext"), b"config");

        // List: the bare path, `*` as `%2A`, and a prefix with a trailing `*`.
        for path in ["/v1/key/list", "/v1/key/list/%2A", "/v1/key/list/minio%2A"] {
            let listed = kes.call("GET", path, None).await;
            assert_eq!(listed.status, 200, "{path}");
            let names = listed.json()["names"].clone();
            assert!(
                names.as_array().unwrap().contains(&json!("minio-key")),
                "{path}: {names}"
            );
        }
        let listed = kes.call("GET", "/v1/key/list/other%2A", None).await.json();
        assert_eq!(listed, json!({ "names": ["other-key"] }));

        // HMAC (MinIO's root credentials): 32 bytes, the same after a rotation.
        let message = json!({ "message": b64(b"root access key") });
        let mac = kes
            .call(
                "PUT",
                &format!("{key}/hmac/minio-key"),
                Some(message.clone()),
            )
            .await;
        assert_eq!(mac.bytes("hmac").len(), 32);
        root.create_key("default", "minio-key", "", true)
            .await
            .unwrap();
        let again = kes
            .call("PUT", &format!("{key}/hmac/minio-key"), Some(message))
            .await;
        assert_eq!(again.bytes("hmac"), mac.bytes("hmac"));

        // Status, version and the API table.
        let status = kes.call("GET", "/v1/status", None).await.json();
        assert!(status["num_cpu"].as_u64().unwrap() >= 1, "{status}");
        assert!(status["uptime"].is_u64(), "{status}");
        assert_eq!(status["os"], std::env::consts::OS);
        let version = kes.call("GET", "/version", None).await.json();
        assert!(version["version"].is_string(), "{version}");
        let api = kes.call("GET", "/v1/api", None).await.json();
        assert_eq!(api.as_array().unwrap().len(), 22);

        // Delete removes every version.
        let deleted = kes
            .call("DELETE", &format!("{key}/delete/minio-key"), None)
            .await;
        assert_eq!((deleted.status, deleted.body.len()), (200, 0));
        kes.call("GET", &format!("{key}/describe/minio-key"), None)
            .await
            .is_error(404, "key does not exist");

        // Errors KES answers before anything else.
        kes.call("GET", &format!("{key}/create/k"), None)
            .await
            .is_error(405, "received method 'GET' expected 'PUT'");
        kes.call("POST", &format!("{key}/create/-bad-"), None)
            .await
            .is_error(
                400,
                "key name '-bad-' is empty, too long or contains invalid characters",
            );
        kes.call("GET", "/v1/key/list/a%2Ab", None).await.is_error(
            400,
            "listing pattern 'a*b' is empty, too long or is invalid",
        );
        kes.call(
            "POST",
            &format!("{key}/generate/other-key"),
            Some(json!({ "context": "!" })),
        )
        .await
        .is_error(400, "invalid request body");
    });
}

#[test]
fn kes_ciphertexts_under_an_imported_key_open_through_both_protocols() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let root_key = ApiKey::parse(&node.root_api_key).unwrap();
    runtime().block_on(async {
        node.root().create_enclave("default").await.unwrap();
        let kes = Kes::new(&node, Some(&root_key.to_kes_string()));
        let zero = json!({ "key": b64(&[0; 32]), "cipher": "AES256" });
        let imported = kes.call("POST", "/v1/key/import/old", Some(zero.clone())).await;
        assert_eq!(imported.status, 200, "{:?}", imported.body);
        kes.call("POST", "/v1/key/import/old", Some(zero))
            .await
            .is_error(400, "key already exists");
        kes.call("POST", "/v1/key/import/x", Some(json!({ "key": b64(&[0; 32]), "cipher": "DES" })))
            .await
            .is_error(406, "algorithm 'DES' is not supported");
        kes.call("POST", "/v1/key/import/x", Some(json!({ "key": b64(&[0; 16]), "cipher": "AES256" })))
            .await
            .is_error(406, "invalid key size for 'AES256'");
        // Refused imports leave nothing behind, and a body over KES's 1 MB limit is a bad one.
        kes.call("GET", "/v1/key/describe/x", None)
            .await
            .is_error(404, "key does not exist");
        let huge = json!({ "plaintext": b64(&vec![0; 800_000]) });
        kes.call("POST", "/v1/key/encrypt/old", Some(huge))
            .await
            .is_error(400, "invalid request body");

        // KES's own vectors (all-zero AES256 key, 16 zero bytes): JSON, MessagePack, binary.
        let forms: [Vec<u8>; 3] = [
            br#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#.to_vec(),
            STANDARD.decode("lbFBRVMyNTYtR0NNX1NIQTI1NtkgNjY2ODdhYWRmODYyYmQ3NzZjOGZjMThiOGU5ZjhlMjDEEExv7LAd4oz0SaHZrX5LBufEDEKME1ow1CDfUFrqv8QgJuy7Sw+jVqz99TK1HV851LT3K4mwwDv46TB2ngWkAJQ=").unwrap(),
            STANDARD.decode("zwdDgHeRlIFRnJ7+DIhs/ka7GFK2CFSfDELqg1VCyTQzZ58o7MAdupMLk3ZjlMo2ZUDwldL2o41nAWDc").unwrap(),
        ];
        let root = node.root();
        for form in &forms {
            let o = kes
                .call("POST", "/v1/key/decrypt/old", Some(json!({ "ciphertext": b64(form) })))
                .await;
            assert_eq!(o.bytes("plaintext"), [0; 16]);
            let via_kms = root.decrypt("default", "old", 0, form, b"").await.unwrap();
            assert_eq!(via_kms.plaintext, [0; 16]);
            // Tampered: each protocol's own error.
            let mut bad = form.clone();
            let at = bad.len() - 40;
            bad[at] ^= 1;
            kes.call("POST", "/v1/key/decrypt/old", Some(json!({ "ciphertext": b64(&bad) })))
                .await
                .is_error(400, "decryption failed: ciphertext is not authentic");
            let refused = root.decrypt("default", "old", 0, &bad, b"").await.unwrap_err();
            assert!(refused.to_string().contains("invalid ciphertext"), "{refused}");
        }
    });
}

#[test]
fn identities_act_in_their_own_enclave_within_their_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let (user, other_admin, stranger) =
        (ApiKey::generate(), ApiKey::generate(), ApiKey::generate());
    let root = node.root();
    runtime().block_on(async {
        let rules = |patterns: &[&str]| RuleSet {
            rules: patterns.iter().map(|p| (p.to_string(), Rule {})).collect(),
        };
        for e in ["default", "other"] {
            root.create_enclave(e).await.unwrap();
        }
        for k in ["app-1", "secret-1"] {
            root.create_key("default", k, "", false).await.unwrap();
        }
        root.create_policy(
            "default",
            &CreatePolicyRequest {
                name: "minio".into(),
                allow: [
                    ("KEY:GENERATE".to_string(), rules(&["app-*"])),
                    ("KEY:DECRYPT".to_string(), rules(&["app-*"])),
                    ("KEY:LIST".to_string(), rules(&["*"])),
                ]
                .into(),
                deny: [("KEY:LIST".to_string(), rules(&["secret-*"]))].into(),
            },
        )
        .await
        .unwrap();
        let identity = |key: &ApiKey, privilege: &str| CreateIdentityRequest {
            identity: key.identity().to_string(),
            privilege: privilege.into(),
            ..Default::default()
        };
        root.create_identity("default", &identity(&user, "User"))
            .await
            .unwrap();
        root.assign_policy("default", "minio", user.identity().as_str())
            .await
            .unwrap();
        root.create_identity("other", &identity(&other_admin, "Admin"))
            .await
            .unwrap();

        let as_user = Kes::new(&node, Some(&user.to_kes_string()));
        let g = as_user
            .call("POST", "/v1/key/generate/app-1", Some(json!({})))
            .await;
        assert_eq!(g.status, 200, "{:?}", g.body);
        as_user
            .call("POST", "/v1/key/generate/secret-1", Some(json!({})))
            .await
            .is_error(403, "not authorized: insufficient permissions");
        as_user
            .call("POST", "/v1/key/create/app-2", None)
            .await
            .is_error(403, "not authorized: insufficient permissions");
        // Authorization comes before the name check: nothing is learnt without access.
        as_user
            .call("POST", "/v1/key/create/-bad-", None)
            .await
            .is_error(403, "not authorized: insufficient permissions");
        let listed = as_user.call("GET", "/v1/key/list", None).await.json();
        assert_eq!(listed, json!({ "names": ["app-1"] }));
        assert_eq!(as_user.call("GET", "/v1/status", None).await.status, 200);
        // Itself, in the shape KES's client decodes.
        let me = as_user
            .call("GET", "/v1/identity/self/describe", None)
            .await
            .json();
        assert_eq!(me["identity"], user.identity().to_hex());
        assert_eq!(me["admin"], false);
        assert_eq!(me["policy"], "minio");
        assert_eq!(me["allow"]["/v1/key/generate/app-*"], json!({}));
        assert_eq!(me["deny"]["/v1/key/list/secret-*"], json!({}));

        // An Admin of another enclave acts there: the same key name is another key.
        let as_other = Kes::new(&node, Some(&other_admin.to_kes_string()));
        as_other
            .call("GET", "/v1/key/describe/app-1", None)
            .await
            .is_error(404, "key does not exist");
        assert_eq!(
            as_other
                .call("POST", "/v1/key/create/app-1", None)
                .await
                .status,
            200
        );
        let open = json!({ "ciphertext": b64(&g.bytes("ciphertext")) });
        as_other
            .call("POST", "/v1/key/decrypt/app-1", Some(open))
            .await
            .is_error(400, "decryption failed: ciphertext is not authentic");

        // A certificate in no enclave may do nothing, not even ask for the status.
        let as_stranger = Kes::new(&node, Some(&stranger.to_kes_string()));
        for (method, path) in [
            ("GET", "/v1/status"),
            ("POST", "/v1/key/create/k"),
            ("GET", "/v1/identity/self/describe"),
        ] {
            as_stranger
                .call(method, path, None)
                .await
                .is_error(403, "not authorized: insufficient permissions");
        }
        // No certificate: only the version, readiness and metrics answer.
        let anonymous = Kes::new(&node, None);
        anonymous
            .call("GET", "/v1/status", None)
            .await
            .is_error(400, "tls: client certificate is required");
        let ready = anonymous.call("GET", "/v1/ready", None).await;
        assert_eq!((ready.status, ready.body.len()), (200, 0));
        let metrics = anonymous.call("GET", "/v1/metrics", None).await;
        let text = String::from_utf8(metrics.body.to_vec()).unwrap();
        assert!(
            text.contains("kes_http_request_success{code=\"200\"}"),
            "{text}"
        );
        assert!(
            text.contains("kes_http_request_error{code=\"403\"}"),
            "{text}"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("kes_"), "{line}");
        }

        // The root reads policies and identities of its KES enclave, identities in hex.
        let kes = Kes::new(
            &node,
            Some(&ApiKey::parse(&node.root_api_key).unwrap().to_kes_string()),
        );
        let p = kes.call("GET", "/v1/policy/read/minio", None).await.json();
        assert_eq!(p["allow"]["/v1/key/decrypt/app-*"], json!({}));
        assert_eq!(
            kes.call("GET", "/v1/policy/list", None).await.json()["names"],
            json!(["minio"])
        );
        assert_eq!(
            kes.call("GET", "/v1/policy/describe/minio", None)
                .await
                .json()["name"],
            "minio"
        );
        kes.call("GET", "/v1/policy/describe/nope", None)
            .await
            .is_error(404, "policy does not exist");
        let hex = user.identity().to_hex();
        let d = kes
            .call("GET", &format!("/v1/identity/describe/{hex}"), None)
            .await
            .json();
        assert_eq!(
            (d["admin"].clone(), d["policy"].clone()),
            (json!(false), json!("minio"))
        );
        let listed = kes
            .call("GET", &format!("/v1/identity/list/{}%2A", &hex[..6]), None)
            .await
            .json();
        assert_eq!(listed["identities"], json!([hex]));
        kes.call("GET", "/v1/identity/describe/not-hex", None)
            .await
            .is_error(404, "identity does not exist");
        let me = kes
            .call("GET", "/v1/identity/self/describe", None)
            .await
            .json();
        assert_eq!(me["admin"], true);
    });
}

/// Reads from a log stream until `want` appears (or 10 s pass): what arrived.
async fn read_until(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    seen: &mut Vec<u8>,
    want: &str,
) -> String {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !String::from_utf8_lossy(seen).contains(want) {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            other => panic!(
                "{want} never came ({other:?}): {}",
                String::from_utf8_lossy(seen)
            ),
        }
    }
    String::from_utf8_lossy(seen).into_owned()
}

#[test]
fn the_log_streams_are_the_roots_and_show_requests_as_kes_does() {
    use tokio::io::AsyncWriteExt;
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let root_key = ApiKey::parse(&node.root_api_key).unwrap();
    let user = ApiKey::generate();
    runtime().block_on(async {
        let root = node.root();
        root.create_enclave("default").await.unwrap();
        root.create_identity(
            "default",
            &CreateIdentityRequest {
                identity: user.identity().to_string(),
                privilege: "Admin".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let as_user = Kes::new(&node, Some(&user.to_kes_string()));
        for path in ["/v1/log/audit", "/v1/log/error"] {
            as_user
                .call("GET", path, None)
                .await
                .is_error(403, "not authorized: insufficient permissions");
        }
        for path in ["/v1/log/audit", "/v1/log/error"] {
            let mut tls = minkms_testkit::tls_connect_as(
                &node.endpoint,
                &[b"http/1.1"],
                Some(&root_key),
                None,
            )
            .await
            .unwrap();
            let head = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", node.endpoint);
            tls.write_all(head.as_bytes()).await.unwrap();
            // Status and headers come at once, before any event.
            let mut seen = Vec::new();
            let head = read_until(&mut tls, &mut seen, "\r\n\r\n").await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert!(
                head.to_lowercase()
                    .contains("content-type: application/x-ndjson"),
                "{head}"
            );
            if path == "/v1/log/audit" {
                // A request of the user, on the KES API, shows in KES's shape.
                assert_eq!(as_user.call("GET", "/v1/status", None).await.status, 200);
                let text = read_until(&mut tls, &mut seen, "\"path\":\"/v1/status\"").await;
                let line = text.lines().find(|l| l.contains("/v1/status")).unwrap();
                let event: Value = serde_json::from_str(line.trim()).unwrap();
                assert_eq!(event["request"]["identity"], user.identity().to_hex());
                assert_eq!(event["request"]["ip"], "127.0.0.1");
                assert_eq!(event["response"]["code"], 200);
                assert!(event["time"].as_str().unwrap().ends_with('Z'), "{event}");
            }
        }
    });
}

#[test]
fn on_a_cluster_kes_reads_from_any_node_and_writes_through_the_leader() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, nodes) = minkms_testkit::cluster(tmp.path(), 3, &soft_hsm_key());
    let root = nodes[0].root_api_key.clone();
    let kes_key = ApiKey::parse(&root).unwrap().to_kes_string();
    runtime().block_on(async {
        nodes[0].root().create_enclave("default").await.unwrap();
        let kes: Vec<Kes> = nodes.iter().map(|n| Kes::new(n, Some(&kes_key))).collect();
        // Each node takes writes (a follower passes them on) and every node reads them at once.
        for (i, writer) in kes.iter().enumerate() {
            let name = format!("key-{i}");
            let created = writer
                .call("POST", &format!("/v1/key/create/{name}"), None)
                .await;
            assert_eq!(created.status, 200, "node {i}: {:?}", created.body);
            let dek = kes[(i + 1) % 3]
                .call(
                    "POST",
                    &format!("/v1/key/generate/{name}"),
                    Some(json!({ "context": b64(b"c") })),
                )
                .await;
            assert_eq!(dek.status, 200, "{:?}", dek.body);
            let open = json!({ "ciphertext": b64(&dek.bytes("ciphertext")), "context": b64(b"c") });
            let opened = kes[(i + 2) % 3]
                .call("POST", &format!("/v1/key/decrypt/{name}"), Some(open))
                .await;
            assert_eq!(opened.bytes("plaintext"), dek.bytes("plaintext"));
        }
        for k in &kes {
            let names = k.call("GET", "/v1/key/list", None).await.json();
            assert_eq!(names, json!({ "names": ["key-0", "key-1", "key-2"] }));
        }
    });
}

/// KES's binary ciphertext of `plaintext` under the AES256 key `key` (`AEAD ‖ iv ‖ nonce`,
/// sub-key HMAC-SHA256(key, iv)), made with the primitives alone, as a KES server made it.
fn kes_seal(key: &[u8; 32], plaintext: &[u8], context: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use hmac::Mac;
    let (iv, nonce) = ([0x42u8; 16], [0x24u8; 12]);
    let mut sub = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    sub.update(&iv);
    let sub = sub.finalize().into_bytes();
    let sealed = aes_gcm::Aes256Gcm::new_from_slice(&sub)
        .unwrap()
        .encrypt(
            aes_gcm::Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .unwrap();
    [sealed.as_slice(), &iv, &nonce].concat()
}

#[test]
fn import_kes_carries_a_key_store_and_a_policy_config_over() {
    use minkms_client::kes::{KesKeyVersion, KesSecretKey};
    use prost::Message;
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let (user, admin) = (ApiKey::generate(), ApiKey::generate());
    // A KES deployment: a filesystem key store in both of KES's file formats, and a config.
    let kes_dir = tmp.path().join("kes");
    let keys = kes_dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let minio_key = [0x5au8; 32];
    let version = KesKeyVersion {
        key: Some(KesSecretKey {
            key: minio_key.to_vec(),
            r#type: 1,
        }),
        hmac_key: Some(KesSecretKey {
            key: vec![1; 32],
            r#type: 1,
        }),
        created_at: None,
        created_by: admin.identity().to_hex(),
    };
    std::fs::write(keys.join("minio-key"), b64(&version.encode_to_vec())).unwrap();
    let legacy = json!({ "bytes": b64(&[0x11; 32]), "algorithm": "ChaCha20" });
    std::fs::write(keys.join("legacy-key"), legacy.to_string()).unwrap();
    std::fs::write(keys.join("not-a-key"), "garbage").unwrap();
    let config = format!(
        "address: 0.0.0.0:7373
admin:
  identity: {admin}
tls:
  key: ./private.key
  cert: ./public.crt
policy:
  MinIO-App:
    allow:
    - /v1/key/generate/minio-*
    - /v1/key/decrypt/minio-*
    - /v1/key/create/*
    - /v1/status
    deny:
    - /v1/key/decrypt/minio-secret*
    identities:
    - {user}
keystore:
  fs:
    path: ./keys
",
        admin = admin.identity().to_hex(),
        user = user.identity().to_hex(),
    );
    let config_file = kes_dir.join("kes-config.yml");
    std::fs::write(&config_file, config).unwrap();
    runtime()
        .block_on(node.root().create_enclave("default"))
        .unwrap();
    let out = node.cli_as(
        &node.root_api_key,
        &[
            "import-kes",
            "--enclave",
            "default",
            "--config",
            config_file.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("Imported key minio-key (AES256)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Imported key legacy-key (ChaCha20)"),
        "{stdout}"
    );
    assert!(stdout.contains("Created policy MinIO-App"), "{stdout}");
    assert!(stderr.contains("not-a-key"), "{stderr}");
    assert!(stderr.contains("/v1/status: no minkms command"), "{stderr}");

    runtime().block_on(async {
        // The migrated identity works with its KES API key, within its migrated policy.
        let as_user = Kes::new(&node, Some(&user.to_kes_string()));
        let stored = kes_seal(&minio_key, b"object key", b"ctx");
        let opened = as_user
            .call(
                "POST",
                "/v1/key/decrypt/minio-key",
                Some(json!({ "ciphertext": b64(&stored), "context": b64(b"ctx") })),
            )
            .await;
        assert_eq!(opened.bytes("plaintext"), b"object key");
        let g = as_user
            .call("POST", "/v1/key/generate/minio-key", Some(json!({})))
            .await;
        assert_eq!(g.status, 200);
        assert_eq!(
            as_user
                .call("POST", "/v1/key/create/minio-new", None)
                .await
                .status,
            200
        );
        as_user
            .call("POST", "/v1/key/generate/legacy-key", Some(json!({})))
            .await
            .is_error(403, "not authorized: insufficient permissions");
        as_user
            .call(
                "POST",
                "/v1/key/decrypt/minio-secret-1",
                Some(json!({ "ciphertext": b64(&stored) })),
            )
            .await
            .is_error(403, "not authorized: insufficient permissions");
        // KES's admin is an Admin of the enclave.
        let as_admin = Kes::new(&node, Some(&admin.to_kes_string()));
        let d = as_admin
            .call("GET", "/v1/key/describe/legacy-key", None)
            .await
            .json();
        assert_eq!(d["algorithm"], "ChaCha20");
        let p = as_admin
            .call("GET", "/v1/policy/read/MinIO-App", None)
            .await
            .json();
        assert_eq!(p["deny"], json!({ "/v1/key/decrypt/minio-secret*": {} }));
    });
    // Run again: what exists is left as it is and said so; nothing fails.
    let again = node.cli_as(
        &node.root_api_key,
        &[
            "import-kes",
            "--enclave",
            "default",
            "--keys",
            keys.to_str().unwrap(),
        ],
    );
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("key minio-key exists"));
}

/// The identity of `testdata/kes-client-rsa.crt` as `openssl x509 -pubkey -noout | openssl
/// pkey -pubin -outform DER | sha256sum` computes it.
const RSA_CLIENT_IDENTITY: &str =
    "a315b201fa7aafd6444d2fecbe837b2312525c9cbe654c89f66835defb3a2f42";

/// A KES call with a certificate and key from PEM (MinIO's `MINIO_KMS_KES_CERT_FILE` and
/// `MINIO_KMS_KES_KEY_FILE`): status and body.
async fn call_with_certificate(
    endpoint: &str,
    cert_pem: &[u8],
    key_pem: &[u8],
    path: &str,
) -> (u16, Value) {
    use http_body_util::BodyExt;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(cert_pem).unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem).unwrap();
    let mut tls =
        minkms_client::tls_client_config(&minkms_client::ServerTrust::Insecure, Some((cert, key)))
            .unwrap();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let client = minkms_client::https_client(tls, &minkms_client::Transport::default());
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("https://{endpoint}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[test]
fn rsa_and_ecdsa_client_certificates_are_kes_identities() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    let ecdsa = rcgen::generate_simple_self_signed(vec!["kes-client".to_string()]).unwrap();
    let ecdsa_identity = minkms_client::Identity::from_spki(&ecdsa.key_pair.public_key_der());
    let rsa_identity = minkms_client::Identity::from_hex(RSA_CLIENT_IDENTITY).unwrap();
    runtime().block_on(async {
        let root = node.root();
        root.create_enclave("default").await.unwrap();
        for identity in [&rsa_identity, &ecdsa_identity] {
            root.create_identity(
                "default",
                &CreateIdentityRequest {
                    identity: identity.to_string(),
                    privilege: "Admin".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
        let clients = [
            (
                include_bytes!("testdata/kes-client-rsa.crt").to_vec(),
                include_bytes!("testdata/kes-client-rsa.key").to_vec(),
                "rsa",
                RSA_CLIENT_IDENTITY.to_string(),
            ),
            (
                ecdsa.cert.pem().into_bytes(),
                ecdsa.key_pair.serialize_pem().into_bytes(),
                "ecdsa",
                ecdsa_identity.to_hex(),
            ),
        ];
        for (cert, key, name, hex) in clients {
            let (status, _) = call_with_certificate(
                &node.endpoint,
                &cert,
                &key,
                &format!("/v1/key/create/{name}"),
            )
            .await;
            assert_eq!(status, 200, "{name}");
            let described = root.key_status("default", name, 0).await.unwrap();
            assert_eq!(
                minkms_client::Identity::parse(&described.created_by)
                    .unwrap()
                    .to_hex(),
                hex,
                "{name}"
            );
        }
    });
}

/// A KES config is another program's file: one whose keys name list elements (`policy[N]`,
/// which the YAML reader grows a list to before anything checks the key) or whose aliases
/// expand to millions of values is refused with a message, before any connection is made.
#[test]
fn import_kes_refuses_a_config_that_would_exhaust_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..7 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    for (name, text, says) in [
        (
            "index.yml",
            "policy[1555555555555]:\n".to_string(),
            "not a key of the config file",
        ),
        ("aliases.yml", bomb, "more than 100000 values"),
    ] {
        let file = tmp.path().join(name);
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(minkms_testkit::bin())
            .args(["import-kes", "--enclave", "default", "--config"])
            .arg(&file)
            .env("MINIO_KMS_SERVER", "127.0.0.1:1")
            .env("MINIO_KMS_API_KEY", &*ApiKey::generate().to_secret_string())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
}

/// A node whose config file says `kes:` as given.
fn node_with_kes_config(dir: &std::path::Path, kes: &str) -> Node {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, format!("version: v1\nkes:\n{kes}")).unwrap();
    Node::launch(
        &dir.join("kms"),
        &["--config", config.to_str().unwrap()],
        &[("MINIO_KMS_HSM_KEY", &soft_hsm_key())],
        std::time::Duration::from_secs(30),
    )
    .unwrap()
}

#[test]
fn the_kes_api_can_be_turned_off_and_the_roots_enclave_chosen() {
    let tmp = tempfile::tempdir().unwrap();
    let off = node_with_kes_config(&tmp.path().join("off"), "  enabled: false\n");
    let chosen = node_with_kes_config(&tmp.path().join("chosen"), "  enclave: tenant-1\n");
    runtime().block_on(async {
        let kes = Kes::new(
            &off,
            Some(&ApiKey::parse(&off.root_api_key).unwrap().to_kes_string()),
        );
        for (method, path) in [
            ("GET", "/v1/key/list"),
            ("POST", "/v1/key/create/k"),
            ("GET", "/v1/status"),
        ] {
            assert_eq!(kes.call(method, path, None).await.status, 404, "{path}");
        }
        // The KMS protocol and /version are not affected.
        assert_eq!(kes.call("GET", "/version", None).await.status, 200);
        off.root().create_enclave("default").await.unwrap();

        let kes = Kes::new(
            &chosen,
            Some(&ApiKey::parse(&chosen.root_api_key).unwrap().to_kes_string()),
        );
        kes.call("POST", "/v1/key/create/k", None)
            .await
            .is_error(404, "enclave does not exist");
        chosen.root().create_enclave("tenant-1").await.unwrap();
        assert_eq!(kes.call("POST", "/v1/key/create/k", None).await.status, 200);
        let listed = chosen
            .root()
            .list_keys("tenant-1", "", "", 0)
            .await
            .unwrap();
        assert_eq!(listed.keys.len(), 1);
    });
}
