//! Golden tests of the wire protocol (API.md §2–§4) against a real node.

use std::process::Command;

use bytes::{Bytes, BytesMut};
use http::Method;
use minkms_client::wire::*;
use minkms_client::{decode_frames, encode_frames, put_frame, Command as Cmd, HttpVersion};
use minkms_testkit::{bin, field, runtime, soft_hsm_key, Node};
use prost::Message;

/// `minkms identity hsm:aes256:...` for the seed documents' HSM key; the expected values were
/// computed independently (Python `cryptography`: HKDF-SHA256 chain of docs/formats.md §1,
/// Ed25519 public key, SHA-256 of its SPKI).
#[test]
fn root_api_key_test_vector() {
    let out = Command::new(bin())
        .args([
            "identity",
            "hsm:aes256:vZ0DeGvwlb/KHwIfi8+c7/8ZHjweHKVL0WNrRc3+FxQ=",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        field(&out, "API Key"),
        "k1:3rXm-2C9Brwji0l7VsHzJDMkYkxCd_bXTK1qv8RFGPs"
    );
    assert_eq!(
        field(&out, "Identity"),
        "h1:3dFHc32x-ypXsVnEdcLiT2u5IW4yE8blP5wGSNTNOes"
    );
}

#[test]
fn k1_to_h1_test_vector_through_the_cli() {
    let out = Command::new(bin())
        .args(["identity", "k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw"])
        .output()
        .unwrap();
    assert_eq!(
        field(&String::from_utf8(out.stdout).unwrap(), "Identity"),
        "h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0"
    );
}

/// The same key and identity in KES's forms (kms-go's own known answer), both ways.
#[test]
fn kes_forms_through_the_cli() {
    let run = |key: &str| {
        let out = Command::new(bin())
            .args(["identity", key])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let from_k1 = run("k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw");
    assert_eq!(
        field(&from_k1, "KES API Key"),
        "kes:v1:AMWZ6XGLT3VTDSwQUWlDuRzxKCv41a3HNzFkfAbIZIyc"
    );
    assert_eq!(
        field(&from_k1, "KES Identity"),
        "978028566eb1280546b1fa3c27fb6d08e0ba39d82adc624b1e0e4db4074e02bd"
    );
    let from_kes = run("kes:v1:AMWZ6XGLT3VTDSwQUWlDuRzxKCv41a3HNzFkfAbIZIyc");
    assert_eq!(
        field(&from_kes, "API Key"),
        "k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw"
    );
    assert_eq!(
        field(&from_kes, "Identity"),
        "h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0"
    );
}

#[test]
fn wire_golden_behaviour_over_http1() {
    golden(HttpVersion::Http1, http::Version::HTTP_11);
}

#[test]
fn wire_golden_behaviour_over_http2() {
    golden(HttpVersion::Http2, http::Version::HTTP_2);
}

fn golden(http: HttpVersion, expected: http::Version) {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    runtime().block_on(async {
        let root = node.client_over(Some(&node.root_api_key), http);
        root.create_enclave("e").await.unwrap();
        for k in ["k1", "k2", "k3"] {
            root.create_key("e", k, "", false).await.unwrap();
        }
        let host = root.endpoints()[0].clone();
        let raw = |path: &'static str, body: Bytes| {
            let root = &root;
            let host = host.clone();
            async move { root.send_to(&host, Method::POST, path, body).await.unwrap() }
        };
        let content_length = |r: &minkms_client::RawResponse| -> usize {
            r.headers
                .get(http::header::CONTENT_LENGTH)
                .expect("Content-Length on every response")
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        };

        // The worked example of API.md §2.3 is accepted as is and answered with one frame of 207.
        let example = Bytes::from(hex::decode("00cf0000000e0a066d792d6b65791a027b7d2020").unwrap());
        root.create_key("e", "my-key", "", false).await.unwrap();
        let r = raw("/v1/kms/e", example).await;
        assert_eq!(r.version, expected);
        assert_eq!(r.status, 200);
        assert_eq!(content_length(&r), r.body.len());
        let frames = decode_frames(&r.body, usize::MAX).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].id, 207);
        let gen = GenerateKeyResponse::decode(frames[0].payload.clone()).unwrap();
        assert_eq!((gen.version, gen.plaintext.len()), (1, 32));

        // A batch of N frames gets N frames, in order, each with the request's command id.
        let names = ["k3", "k1", "k2", "k1"];
        let reqs: Vec<KeyStatusRequest> = names
            .iter()
            .map(|n| KeyStatusRequest {
                name: n.to_string(),
                version: 0,
            })
            .collect();
        let r = raw("/v1/kms/e", encode_frames(Cmd::KeyStatus.id(), &reqs)).await;
        assert_eq!(r.status, 200);
        assert_eq!(content_length(&r), r.body.len());
        let frames = decode_frames(&r.body, usize::MAX).unwrap();
        assert_eq!(frames.len(), names.len());
        for (f, n) in frames.iter().zip(names) {
            assert_eq!(f.id, Cmd::KeyStatus.id());
            assert_eq!(
                KeyStatusResponse::decode(f.payload.clone()).unwrap().name,
                n
            );
        }
        // Mixed batches of generate, encrypt and decrypt each keep their order too.
        let enc: Vec<EncryptRequest> = (0..5u8)
            .map(|i| EncryptRequest {
                name: "k2".into(),
                version: 0,
                plaintext: vec![i; 3],
                associated_data: vec![],
            })
            .collect();
        let out: Vec<EncryptResponse> = root.batch("e", Cmd::KeyEncrypt, &enc).await.unwrap();
        let dec: Vec<DecryptRequest> = out
            .iter()
            .map(|o| DecryptRequest {
                name: "k2".into(),
                version: 0,
                ciphertext: o.ciphertext.clone(),
                associated_data: vec![],
            })
            .collect();
        let back: Vec<DecryptResponse> = root.batch("e", Cmd::KeyDecrypt, &dec).await.unwrap();
        assert_eq!(
            back.iter().map(|b| b.plaintext.clone()).collect::<Vec<_>>(),
            (0..5u8).map(|i| vec![i; 3]).collect::<Vec<_>>()
        );

        // The frames of a batch share buffers: nothing of one frame carries into the next.
        // Data keys of mixed keys, lengths and contexts (one without any), and encryptions of
        // mixed plaintexts, each open with their own context only.
        let gens = [("k1", 64, &b"a"[..]), ("k2", 0, b""), ("k1", 16, b"ccc")];
        let reqs: Vec<GenerateKeyRequest> = gens
            .iter()
            .map(|(name, length, ad)| GenerateKeyRequest {
                name: name.to_string(),
                version: 0,
                associated_data: ad.to_vec(),
                length: *length,
            })
            .collect();
        let keys: Vec<GenerateKeyResponse> =
            root.batch("e", Cmd::KeyGenerate, &reqs).await.unwrap();
        let lengths: Vec<usize> = keys.iter().map(|k| k.plaintext.len()).collect();
        assert_eq!(lengths, [64, 32, 16]);
        let enc: Vec<EncryptRequest> = [(&b"long plaintext"[..], &b"x"[..]), (b"p", b"")]
            .iter()
            .map(|(plaintext, ad)| EncryptRequest {
                name: "k1".into(),
                version: 0,
                plaintext: plaintext.to_vec(),
                associated_data: ad.to_vec(),
            })
            .collect();
        let sealed: Vec<EncryptResponse> = root.batch("e", Cmd::KeyEncrypt, &enc).await.unwrap();
        let opened = gens
            .iter()
            .zip(&keys)
            .map(|((name, _, ad), k)| {
                (
                    *name,
                    k.ciphertext.clone(),
                    ad.to_vec(),
                    k.plaintext.clone(),
                )
            })
            .chain(enc.iter().zip(&sealed).map(|(e, s)| {
                (
                    "k1",
                    s.ciphertext.clone(),
                    e.associated_data.clone(),
                    e.plaintext.clone(),
                )
            }));
        for (name, ciphertext, ad, plaintext) in opened {
            let dec = DecryptRequest {
                name: name.into(),
                version: 0,
                ciphertext,
                associated_data: ad.clone(),
            };
            let back: Vec<DecryptResponse> = root
                .batch("e", Cmd::KeyDecrypt, std::slice::from_ref(&dec))
                .await
                .unwrap();
            assert_eq!(back[0].plaintext, plaintext, "{name} with {ad:?}");
            let wrong = DecryptRequest {
                associated_data: [ad.as_slice(), b"!"].concat(),
                ..dec
            };
            assert!(root
                .batch::<_, DecryptResponse>("e", Cmd::KeyDecrypt, &[wrong])
                .await
                .is_err());
        }

        // List commands answer exactly one frame.
        for (path, id) in [
            ("/v1/kms/e", Cmd::KeyList.id()),
            ("/v1/kms/e", Cmd::PolicyList.id()),
            ("/v1/kms/e", Cmd::IdentityList.id()),
            ("/v1/kms", Cmd::EnclaveList.id()),
        ] {
            let r = raw(path, encode_frames(id, [&ListRequest::default()])).await;
            assert_eq!(r.status, 200, "list {id}");
            let frames = decode_frames(&r.body, usize::MAX).unwrap();
            assert_eq!(frames.len(), 1, "list {id}");
            assert_eq!(frames[0].id, id);
        }
        let list = ListKeysResponse::decode(
            decode_frames(
                &raw(
                    "/v1/kms/e",
                    encode_frames(Cmd::KeyList.id(), [&ListRequest::default()]),
                )
                .await
                .body,
                1,
            )
            .unwrap()[0]
                .payload
                .clone(),
        )
        .unwrap();
        assert_eq!(
            list.keys
                .iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>(),
            ["k1", "k2", "k3", "my-key"]
        );
        assert!(list
            .keys
            .iter()
            .all(|k| k.r#type == "AES256" && k.created_by.starts_with("h1:")));

        // Writes answer 200 with an empty body of Content-Length 0.
        let r = raw(
            "/v1/kms/e",
            encode_frames(
                Cmd::KeyCreate.id(),
                [&CreateKeyRequest {
                    name: "k4".into(),
                    r#type: String::new(),
                    add_version: false,
                }],
            ),
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), content_length(&r), r.body.len()),
            (200, 0, 0)
        );

        // Errors carry Content-Length and a protobuf ErrResponse for octet-stream clients.
        let r = raw(
            "/v1/kms/e",
            encode_frames(
                Cmd::KeyStatus.id(),
                [&KeyStatusRequest {
                    name: "nope".into(),
                    version: 0,
                }],
            ),
        )
        .await;
        assert_eq!(r.status, 404);
        assert_eq!(content_length(&r), r.body.len());
        assert_eq!(
            r.headers[http::header::CONTENT_TYPE],
            "application/octet-stream"
        );
        assert_eq!(
            ErrResponse::decode(r.body).unwrap().message,
            "key does not exist"
        );

        // /version and the health endpoints need no certificate and carry Content-Length.
        let anon = node.client_over(None, http);
        let v = anon.version(None).await.unwrap();
        assert_eq!(v.api_version, "v1");
        assert_eq!(v.host, host);
        for path in [
            "/version",
            "/v1/health/live",
            "/v1/health/ready",
            "/v1/health/ready?write",
        ] {
            let r = anon
                .send_to(&host, Method::GET, path, Bytes::new())
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(content_length(&r), r.body.len(), "{path}");
        }
    });
}

#[test]
fn frames_are_built_byte_for_byte_as_api_md_says() {
    let mut out = BytesMut::new();
    put_frame(&mut out, Cmd::ClusterStatus.id(), &ClusterStatusRequest {});
    assert_eq!(
        &out[..],
        &[0, 3, 0, 0, 0, 0],
        "an empty message is a zero-length frame"
    );
}

#[test]
fn wrong_methods_get_405_and_unknown_paths_404() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms0"), &soft_hsm_key());
    runtime().block_on(async {
        let root = node.root();
        let host = root.endpoints()[0].clone();
        for (method, path, status) in [
            (Method::POST, "/version", 405),
            (Method::GET, "/v1/kms", 405),
            (Method::POST, "/v1/health/metrics", 405),
            (Method::POST, "/v1/rpc/status", 405),
            (Method::GET, "/v1/nope", 404),
        ] {
            let r = root
                .send_to(&host, method.clone(), path, Bytes::new())
                .await
                .unwrap();
            assert_eq!(r.status.as_u16(), status, "{method} {path}");
        }
    });
}
