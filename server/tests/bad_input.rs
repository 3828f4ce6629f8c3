//! Bad input gets a clear 4xx error with a message, never a panic and never a state change.

use bytes::Bytes;
use http::Method;
use minkms_client::wire::*;
use minkms_client::{encode_frames, ApiKey, Client, Error};
use minkms_testkit::{runtime, soft_hsm_key, Node};

fn api(e: Error) -> (u16, String) {
    match e {
        Error::Api { status, message } => (status, message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The node's commit counter and what the root sees: equal before and after means nothing changed.
async fn snapshot(root: &Client) -> (u64, Vec<String>, Vec<String>, Vec<String>) {
    let status = root.cluster_status().await.unwrap();
    let commit = status.nodes_up[&0].commit;
    let enclaves = root
        .list_enclaves("", "", 0)
        .await
        .unwrap()
        .enclaves
        .into_iter()
        .map(|e| e.name)
        .collect();
    let keys = root
        .list_keys("a", "", "", 0)
        .await
        .unwrap()
        .keys
        .into_iter()
        .map(|k| format!("{}@{}", k.name, k.version))
        .collect();
    let ids = root
        .list_identities("a", "", "", 0)
        .await
        .unwrap()
        .identities
        .into_iter()
        .map(|i| format!("{}:{}", i.identity, i.policy))
        .collect();
    (commit, enclaves, keys, ids)
}

#[test]
fn bad_input_is_refused_clearly_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    runtime().block_on(async {
        let root = node.root();
        root.create_enclave("a").await.unwrap();
        root.create_enclave("b").await.unwrap();
        root.create_key("a", "k", "", false).await.unwrap();
        root.create_key("b", "kb", "", false).await.unwrap();
        let admin_a = ApiKey::generate();
        let user_a = ApiKey::generate();
        for (key, privilege) in [(&admin_a, "Admin"), (&user_a, "User")] {
            root.create_identity(
                "a",
                &CreateIdentityRequest {
                    identity: key.identity().to_string(),
                    privilege: privilege.into(),
                    is_service_account: false,
                    tags: Default::default(),
                },
            )
            .await
            .unwrap();
        }
        let admin_a = node.client(Some(&admin_a.to_secret_string()));
        let user_a = node.client(Some(&user_a.to_secret_string()));
        let anonymous = node.client(None);
        let stranger = node.client(Some(&ApiKey::generate().to_secret_string()));
        let ct = root
            .encrypt("a", "k", b"secret", b"ad")
            .await
            .unwrap()
            .ciphertext;
        let before = snapshot(&root).await;
        let host = root.endpoints()[0].clone();
        let raw = |body: Vec<u8>| {
            let (root, host) = (&root, host.clone());
            async move {
                root.send_to(&host, Method::POST, "/v1/kms/a", Bytes::from(body))
                    .await
                    .unwrap()
            }
        };
        let err_message = |r: &minkms_client::RawResponse| {
            <ErrResponse as prost::Message>::decode(r.body.clone())
                .unwrap()
                .message
        };

        // Malformed bodies.
        for (body, want) in [
            (b"garbage".to_vec(), "invalid request: truncated frame"),
            (vec![], "invalid request: empty body"),
            (
                vec![0, 207, 0, 0, 0, 3, 0xff, 0xff, 0xff],
                "invalid request: malformed KEY:GENERATE payload",
            ),
            (vec![0, 7, 0, 0, 0, 0], "invalid request: unknown command 7"),
            (
                vec![3, 231, 0, 0, 0, 0],
                "invalid request: unknown command 999",
            ),
            (
                [
                    encode_frames(204, [&KeyStatusRequest::default()]),
                    encode_frames(205, [&EncryptRequest::default()]),
                ]
                .concat(),
                "invalid request: all frames of a request must carry the same command",
            ),
            (
                [
                    encode_frames(
                        201,
                        [&CreateKeyRequest {
                            name: "x".into(),
                            ..Default::default()
                        }],
                    ),
                    encode_frames(
                        201,
                        [&CreateKeyRequest {
                            name: "y".into(),
                            ..Default::default()
                        }],
                    ),
                ]
                .concat(),
                "KEY:CREATE cannot be batched",
            ),
        ] {
            let r = raw(body).await;
            assert_eq!(r.status, 400);
            let msg = err_message(&r);
            assert!(msg.contains(want), "{msg:?} does not contain {want:?}");
        }
        let many: Vec<KeyStatusRequest> = (0..1001)
            .map(|_| KeyStatusRequest {
                name: "k".into(),
                version: 0,
            })
            .collect();
        assert_eq!(raw(encode_frames(204, &many).to_vec()).await.status, 413);
        assert_eq!(raw(vec![0u8; 5 << 20]).await.status, 413);

        // The enclave in the path: escapes decode (`%61` is `a`), malformed ones are refused.
        let status_of_k = encode_frames(
            204,
            [&KeyStatusRequest {
                name: "k".into(),
                version: 0,
            }],
        );
        let at = |path: &'static str| {
            let (root, host, body) = (&root, host.clone(), status_of_k.clone());
            async move { root.send_to(&host, Method::POST, path, body).await.unwrap() }
        };
        let escaped = at("/v1/kms/%61").await;
        assert_eq!(escaped.status, 200);
        let frames = minkms_client::decode_frames(&escaped.body, 1).unwrap();
        let status = <KeyStatusResponse as prost::Message>::decode(frames[0].payload.clone());
        assert_eq!(status.unwrap().name, "k");
        for path in ["/v1/kms/a%zz", "/v1/kms/a%2", "/v1/kms/%ff"] {
            let r = at(path).await;
            assert_eq!(r.status, 400, "{path}");
            assert_eq!(
                err_message(&r),
                "invalid request: malformed enclave name in path"
            );
        }

        // Names that break the rule: too long, bad characters.
        for bad in [
            "x".repeat(81),
            "a/b".into(),
            "a b".into(),
            "-a".into(),
            "ä".into(),
            String::new(),
        ] {
            let (status, msg) = api(root.create_enclave(&bad).await.unwrap_err());
            assert_eq!(status, 400, "{bad:?}");
            assert!(msg.starts_with("invalid enclave name"), "{msg}");
            let (status, msg) = api(root.create_key("a", &bad, "", false).await.unwrap_err());
            assert_eq!(status, 400, "{bad:?}");
            assert!(msg.starts_with("invalid key name"), "{msg}");
        }
        assert_eq!(
            api(root.create_key("a", "t", "RSA", false).await.unwrap_err()).0,
            400
        );
        assert_eq!(
            api(root
                .import_key("a", "short", "", &[1; 16])
                .await
                .unwrap_err()),
            (400, "invalid key: must be 32 bytes".into())
        );
        assert_eq!(
            api(root
                .create_identity(
                    "a",
                    &CreateIdentityRequest {
                        identity: "h1:nope".into(),
                        ..Default::default()
                    }
                )
                .await
                .unwrap_err())
            .0,
            400
        );
        assert_eq!(
            api(root.generate_key("a", "k", b"", 4096).await.unwrap_err()).0,
            400
        );

        // A ciphertext flipped by one bit, anywhere.
        for bit in [0, 8 * 5, 8 * 30, 8 * ct.len() - 1] {
            let mut flipped = ct.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                api(root
                    .decrypt("a", "k", 0, &flipped, b"ad")
                    .await
                    .unwrap_err()),
                (400, "invalid ciphertext".into())
            );
        }
        assert_eq!(
            api(root.decrypt("a", "k", 0, &ct, b"other").await.unwrap_err()),
            (400, "invalid ciphertext".into())
        );
        assert_eq!(
            api(root
                .decrypt("a", "k", 0, b"short", b"ad")
                .await
                .unwrap_err()),
            (400, "invalid ciphertext".into())
        );

        // Wrong enclave.
        assert_eq!(
            api(root.key_status("nope", "k", 0).await.unwrap_err()),
            (404, "enclave does not exist".into())
        );
        assert_eq!(
            api(root.decrypt("b", "k", 0, &ct, b"ad").await.unwrap_err()),
            (404, "key does not exist".into())
        );
        assert_eq!(
            api(admin_a.key_status("b", "kb", 0).await.unwrap_err()).0,
            403
        );
        assert_eq!(
            api(admin_a
                .create_key("nope", "k", "", false)
                .await
                .unwrap_err())
            .0,
            403
        );

        // A non-admin identity calling admin commands, an admin calling cluster commands.
        let denied = "access denied: insufficient permissions".to_string();
        assert_eq!(
            api(user_a.create_key("a", "new", "", false).await.unwrap_err()),
            (403, denied.clone())
        );
        assert_eq!(
            api(user_a.delete_key("a", "k", 0, true).await.unwrap_err()),
            (403, denied.clone())
        );
        assert_eq!(
            api(user_a
                .assign_policy("a", "p", user_a_id(&root).await.as_str())
                .await
                .unwrap_err()),
            (403, denied.clone())
        );
        assert_eq!(
            api(user_a
                .create_identity(
                    "a",
                    &CreateIdentityRequest {
                        identity: ApiKey::generate().identity().to_string(),
                        privilege: "Admin".into(),
                        ..Default::default()
                    }
                )
                .await
                .unwrap_err()),
            (403, denied.clone())
        );
        assert_eq!(
            api(user_a.generate_key("a", "k", b"", 32).await.unwrap_err()),
            (403, denied.clone())
        );
        assert_eq!(
            api(admin_a.create_enclave("c").await.unwrap_err()),
            (403, denied.clone())
        );
        assert_eq!(
            api(admin_a.delete_enclave("a").await.unwrap_err()),
            (403, denied.clone())
        );
        assert_eq!(
            api(admin_a.cluster_status().await.unwrap_err()),
            (403, denied.clone())
        );

        // No API key, or one the cluster does not know.
        for c in [&anonymous, &stranger] {
            assert_eq!(
                api(c.key_status("a", "k", 0).await.unwrap_err()),
                (403, denied.clone())
            );
            assert_eq!(
                api(c.create_enclave("c").await.unwrap_err()),
                (403, denied.clone())
            );
            assert_eq!(
                api(c.generate_key("a", "k", b"", 32).await.unwrap_err()),
                (403, denied.clone())
            );
        }

        // Nothing changed, and the node is alive and never panicked.
        assert_eq!(snapshot(&root).await, before);
        assert!(root.version(None).await.is_ok());
    });
    assert!(!node.logs().contains("panicked"), "{}", node.logs());
}

async fn user_a_id(root: &Client) -> String {
    root.list_identities("a", "", "", 0)
        .await
        .unwrap()
        .identities
        .into_iter()
        .find(|i| i.privilege == 3)
        .unwrap()
        .identity
}

#[test]
fn policies_decide_what_users_may_do() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    runtime().block_on(async {
        let root = node.root();
        root.create_enclave("a").await.unwrap();
        for k in ["app-1", "app-2", "app-secret", "other"] {
            root.create_key("a", k, "", false).await.unwrap();
        }
        let rules = |pats: &[&str]| RuleSet {
            rules: pats.iter().map(|p| (p.to_string(), Rule {})).collect(),
        };
        let policy = CreatePolicyRequest {
            name: "app".into(),
            allow: [
                ("KEY:GENERATE".to_string(), rules(&["app-*"])),
                ("KEY:DECRYPT".into(), rules(&["app-*"])),
                ("KEY:LIST".into(), rules(&["app-*"])),
            ]
            .into(),
            deny: [("KEY:GENERATE".to_string(), rules(&["app-secret"]))].into(),
        };
        root.create_policy("a", &policy).await.unwrap();
        assert_eq!(
            api(root
                .create_policy(
                    "a",
                    &CreatePolicyRequest {
                        name: "bad".into(),
                        allow: [("KEY:EXPLODE".to_string(), rules(&["*"]))].into(),
                        deny: Default::default()
                    }
                )
                .await
                .unwrap_err())
            .0,
            400
        );
        let user = ApiKey::generate();
        root.create_identity(
            "a",
            &CreateIdentityRequest {
                identity: user.identity().to_string(),
                privilege: "User".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let as_user = node.client(Some(&user.to_secret_string()));
        // Before assignment: nothing.
        assert_eq!(
            api(as_user
                .generate_key("a", "app-1", b"", 32)
                .await
                .unwrap_err())
            .0,
            403
        );
        root.assign_policy("a", "app", user.identity().as_str())
            .await
            .unwrap();
        let gen = as_user.generate_key("a", "app-1", b"", 32).await.unwrap();
        assert_eq!(
            as_user
                .decrypt("a", "app-1", 0, &gen.ciphertext, b"")
                .await
                .unwrap()
                .plaintext,
            gen.plaintext
        );
        assert_eq!(
            api(as_user
                .generate_key("a", "app-secret", b"", 32)
                .await
                .unwrap_err())
            .0,
            403,
            "deny wins"
        );
        assert_eq!(
            api(as_user
                .generate_key("a", "other", b"", 32)
                .await
                .unwrap_err())
            .0,
            403,
            "default deny"
        );
        assert_eq!(
            api(as_user.encrypt("a", "app-1", b"x", b"").await.unwrap_err()).0,
            403
        );
        let listed: Vec<String> = as_user
            .list_keys("a", "", "", 0)
            .await
            .unwrap()
            .keys
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(
            listed,
            ["app-1", "app-2", "app-secret"],
            "lists show only what the policy allows"
        );
        // Every identity may look itself up; a user creates only its own service accounts.
        assert_eq!(
            as_user
                .identity_status("a", user.identity().as_str())
                .await
                .unwrap()
                .policy,
            "app"
        );
        let svc = ApiKey::generate();
        assert_eq!(
            api(as_user
                .create_identity(
                    "a",
                    &CreateIdentityRequest {
                        identity: svc.identity().to_string(),
                        privilege: "User".into(),
                        is_service_account: true,
                        ..Default::default()
                    }
                )
                .await
                .unwrap_err())
            .0,
            403,
            "no IDENTITY:CREATE in the policy"
        );
    });
}
