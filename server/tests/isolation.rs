//! Cross-enclave isolation: no identity of enclave A can read, list, use or delete anything
//! in enclave B, whatever its privilege or policy; and a non-admin cannot administer its own
//! enclave. Every command of the API is tried.

use bytes::Bytes;
use minkms_client::wire::*;
use minkms_client::{encode_frames, ApiKey, Client, Command};
use minkms_testkit::{runtime, soft_hsm_key, Node};

/// One request of `cmd` aimed at the names of enclave `target` (key "k", policy "p",
/// identity `victim`).
fn request(cmd: Command, victim: &str) -> Bytes {
    let id = cmd.id();
    match cmd {
        Command::ClusterAddNode => encode_frames(
            id,
            [&AddClusterNodeRequest {
                host: "127.0.0.1:1".into(),
            }],
        ),
        Command::ClusterRemoveNode => encode_frames(
            id,
            [&RemoveClusterNodeRequest {
                host: "127.0.0.1:1".into(),
                delete_cluster_on_host: false,
            }],
        ),
        Command::ClusterStatus => encode_frames(id, [&ClusterStatusRequest {}]),
        Command::ClusterEdit => encode_frames(
            id,
            [&EditClusterRequest {
                host: String::new(),
                remove: vec![1],
                accept_fork: false,
            }],
        ),
        Command::ClusterAddHsm => encode_frames(
            id,
            [&AddHsmRequest {
                name: "hsm:minio:soft".into(),
                overwrite: true,
            }],
        ),
        Command::ClusterRemoveHsm => encode_frames(
            id,
            [&RemoveHsmRequest {
                name: "hsm:minio:soft".into(),
            }],
        ),
        Command::EnclaveCreate | Command::EnclaveDelete | Command::EnclaveStatus => {
            encode_frames(id, [&EnclaveRequest { name: "b".into() }])
        }
        Command::KeyCreate => encode_frames(
            id,
            [&CreateKeyRequest {
                name: "k".into(),
                r#type: String::new(),
                add_version: true,
            }],
        ),
        Command::KeyDelete => encode_frames(
            id,
            [&DeleteKeyRequest {
                name: "k".into(),
                version: 0,
                all_versions: true,
            }],
        ),
        Command::KeyWrappingKey => encode_frames(id, [&WrappingKeyRequest {}]),
        Command::KeyImportWrapped => encode_frames(
            id,
            [&ImportWrappedKeyRequest {
                name: "k3".into(),
                r#type: String::new(),
                wrapped: vec![7; 552],
                hash: String::new(),
            }],
        ),
        Command::KeyImport => encode_frames(
            id,
            [&ImportKeyRequest {
                name: "k2".into(),
                r#type: String::new(),
                key: vec![7; 32],
            }],
        ),
        Command::KeyStatus => encode_frames(
            id,
            [&KeyStatusRequest {
                name: "k".into(),
                version: 0,
            }],
        ),
        Command::KeyEncrypt => encode_frames(
            id,
            [&EncryptRequest {
                name: "k".into(),
                version: 0,
                plaintext: b"x".to_vec(),
                associated_data: vec![],
            }],
        ),
        Command::KeyDecrypt => encode_frames(
            id,
            [&DecryptRequest {
                name: "k".into(),
                version: 0,
                ciphertext: vec![1; 60],
                associated_data: vec![],
            }],
        ),
        Command::KeyGenerate => encode_frames(
            id,
            [&GenerateKeyRequest {
                name: "k".into(),
                version: 0,
                associated_data: vec![],
                length: 32,
            }],
        ),
        Command::KeyMac => encode_frames(
            id,
            [&MacRequest {
                name: "k".into(),
                version: 0,
                message: b"m".to_vec(),
            }],
        ),
        Command::KeyListVersions => encode_frames(
            id,
            [&ListRequest {
                prefix: "k".into(),
                ..Default::default()
            }],
        ),
        Command::EnclaveList | Command::KeyList | Command::PolicyList | Command::IdentityList => {
            encode_frames(id, [&ListRequest::default()])
        }
        Command::PolicyCreate => encode_frames(
            id,
            [&CreatePolicyRequest {
                name: "p".into(),
                allow: [(
                    "KEY:GENERATE".to_string(),
                    RuleSet {
                        rules: [("*".to_string(), Rule {})].into(),
                    },
                )]
                .into(),
                deny: Default::default(),
            }],
        ),
        Command::PolicyDelete | Command::PolicyGet | Command::PolicyStatus => {
            encode_frames(id, [&PolicyRequest { name: "p".into() }])
        }
        Command::PolicyAssign => encode_frames(
            id,
            [&AssignPolicyRequest {
                identity: victim.into(),
                policy: "p".into(),
            }],
        ),
        Command::IdentityCreate => encode_frames(
            id,
            [&CreateIdentityRequest {
                identity: victim.into(),
                privilege: "Admin".into(),
                ..Default::default()
            }],
        ),
        Command::IdentityDelete | Command::IdentityStatus => encode_frames(
            id,
            [&IdentityRequest {
                identity: victim.into(),
            }],
        ),
    }
}

async fn status_of(client: &Client, enclave: &str, body: Bytes) -> u16 {
    let host = client.endpoints()[0].clone();
    let path = if enclave.is_empty() {
        "/v1/kms".to_string()
    } else {
        format!("/v1/kms/{enclave}")
    };
    client
        .send_to(&host, http::Method::POST, &path, body)
        .await
        .unwrap()
        .status
        .as_u16()
}

/// Everything the root can see of the node and of every enclave: the commit counter (any
/// write that took effect moves it), the members and HSMs, the enclaves and their keys, key
/// versions, policies and identities. Equal before and after means untouched.
async fn view(root: &Client) -> String {
    let status = root.cluster_status().await.unwrap();
    let mut out = String::new();
    for (id, node) in &status.nodes_up {
        let mut nodes: Vec<_> = node.nodes.iter().collect();
        nodes.sort();
        out += &format!(
            "node {id}: commit {} members {nodes:?} hsm {:?} active {:?}\n",
            node.commit, node.hsm, node.hsm_active
        );
    }
    let enclaves = root.list_enclaves("", "", 0).await.unwrap();
    for enclave in enclaves.enclaves.iter().map(|e| e.name.as_str()) {
        let keys = root.list_keys(enclave, "", "", 0).await.unwrap();
        let policies = root.list_policies(enclave, "", "", 0).await.unwrap();
        let ids = root.list_identities(enclave, "", "", 0).await.unwrap();
        let versions = root.list_key_versions(enclave, "k").await.unwrap();
        out += &format!("{enclave}: {keys:?}{policies:?}{ids:?}{versions:?}\n");
    }
    out
}

#[test]
fn no_identity_of_one_enclave_touches_another_and_users_do_not_administer() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    runtime().block_on(async {
        let root = node.root();
        let (admin_a, user_a, svc_a, user_b) = (
            ApiKey::generate(),
            ApiKey::generate(),
            ApiKey::generate(),
            ApiKey::generate(),
        );
        let everything: std::collections::HashMap<String, RuleSet> = Command::grantable_texts()
            .into_iter()
            .map(|c| {
                (
                    c.to_string(),
                    RuleSet {
                        rules: [("*".to_string(), Rule {})].into(),
                    },
                )
            })
            .collect();
        for e in ["a", "b"] {
            root.create_enclave(e).await.unwrap();
            root.create_key(e, "k", "", false).await.unwrap();
            root.create_policy(
                e,
                &CreatePolicyRequest {
                    name: "p".into(),
                    allow: everything.clone(),
                    deny: Default::default(),
                },
            )
            .await
            .unwrap();
        }
        let create = |key: &ApiKey, privilege: &str| CreateIdentityRequest {
            identity: key.identity().to_string(),
            privilege: privilege.into(),
            ..Default::default()
        };
        root.create_identity("a", &create(&admin_a, "Admin"))
            .await
            .unwrap();
        root.create_identity("a", &create(&user_a, "User"))
            .await
            .unwrap();
        root.assign_policy("a", "p", user_a.identity().as_str())
            .await
            .unwrap();
        root.create_identity("b", &create(&user_b, "User"))
            .await
            .unwrap();
        let as_user_a = node.client(Some(&user_a.to_secret_string()));
        as_user_a
            .create_identity(
                "a",
                &CreateIdentityRequest {
                    identity: svc_a.identity().to_string(),
                    privilege: "User".into(),
                    is_service_account: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();

        // A service account that its owner created and the root then deleted.
        let gone = ApiKey::generate();
        as_user_a
            .create_identity(
                "a",
                &CreateIdentityRequest {
                    identity: gone.identity().to_string(),
                    privilege: "Admin".into(),
                    is_service_account: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        root.delete_identity("a", gone.identity().as_str())
            .await
            .unwrap();

        // Callers that are no one: no API key, a key the node never saw, a deleted service
        // account. Nothing anywhere, in either enclave or of the cluster, is theirs.
        let nobody = [
            ("an anonymous caller", node.client(None)),
            (
                "an unknown key",
                node.client(Some(&ApiKey::generate().to_secret_string())),
            ),
            (
                "a deleted service account",
                node.client(Some(&gone.to_secret_string())),
            ),
        ];
        let before = view(&root).await;
        let victim = user_b.identity().to_string();
        for (who, client) in &nobody {
            for &cmd in Command::ALL {
                for enclave in ["a", "b"] {
                    let enclave = if cmd.is_cluster() { "" } else { enclave };
                    let status = status_of(client, enclave, request(cmd, &victim)).await;
                    assert_eq!(status, 403, "{who} ran {} on {enclave:?}", cmd.text());
                }
            }
        }
        assert_eq!(view(&root).await, before, "a refused command took effect");

        // Identities of A — admin, user with a policy that allows everything, service account.
        let attackers = [
            ("admin of a", node.client(Some(&admin_a.to_secret_string()))),
            ("user of a", as_user_a),
            (
                "service account of a",
                node.client(Some(&svc_a.to_secret_string())),
            ),
        ];
        let before = view(&root).await;
        for (who, client) in &attackers {
            for &cmd in Command::ALL {
                let enclave = if cmd.is_cluster() { "" } else { "b" };
                let status = status_of(client, enclave, request(cmd, &victim)).await;
                assert_eq!(status, 403, "{who} ran {} on enclave b", cmd.text());
            }
        }
        assert_eq!(view(&root).await, before, "a refused command took effect");

        // A user without a policy cannot administer, use or even list its own enclave.
        let plain = ApiKey::generate();
        root.create_identity("a", &create(&plain, "User"))
            .await
            .unwrap();
        let plain = node.client(Some(&plain.to_secret_string()));
        let before = view(&root).await;
        for &cmd in Command::ALL {
            if cmd == Command::IdentityStatus {
                continue; // every identity may look itself up; the victim here is another one
            }
            let enclave = if cmd.is_cluster() { "" } else { "a" };
            let status = status_of(&plain, enclave, request(cmd, &victim)).await;
            assert_eq!(
                status,
                403,
                "a policy-less user ran {} in its own enclave",
                cmd.text()
            );
        }
        assert_eq!(view(&root).await, before, "a refused command took effect");
    });
}
