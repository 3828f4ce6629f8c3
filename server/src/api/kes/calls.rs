//! The key, policy and identity calls of KES, each run as the minkms command it maps to
//! through the one dispatch of the KMS protocol: the same authorization, read gate, write
//! path and audit names, so the two protocols cannot disagree about what a caller may do.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use minkms_client::wire::*;
use minkms_client::{decode_frames, Command, Identity};
use prost::Message;
use serde_json::{json, Map, Value};

use super::body::{b64, empty, json};
use super::routes::{prefix_of, Call, Route};
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::kms::{self, Batch};
use crate::node::state::Node;
use minkms_client::kes::Fields;

/// Who runs a call, and where.
pub(crate) struct Ctx {
    pub(crate) node: Arc<Node>,
    pub(crate) caller: Arc<Caller>,
    /// The enclave the call acts in: the caller's own, or `kes.enclave` for the root.
    pub(crate) enclave: String,
}

impl Ctx {
    /// Runs `cmd` with one request and decodes its one response.
    async fn read<M: Message + Default>(
        &self,
        cmd: Command,
        req: impl Message,
    ) -> Result<M, ApiError> {
        let out = self.run(cmd, req).await?;
        let frames = decode_frames(&out, 1).map_err(|_| internal())?;
        let frame = frames.into_iter().next().ok_or_else(internal)?;
        M::decode(frame.payload).map_err(|_| internal())
    }

    async fn run(&self, cmd: Command, req: impl Message) -> Result<Bytes, ApiError> {
        let batch = Batch {
            cmd,
            payloads: vec![Bytes::from(req.encode_to_vec())],
        };
        kms::dispatch(self.node.clone(), self.caller.clone(), &self.enclave, batch).await
    }
}

fn internal() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// Answers a key, policy or identity call.
pub(crate) async fn answer(
    ctx: &Ctx,
    route: &Route,
    arg: &str,
    body: &[u8],
) -> Result<Response<Full<Bytes>>, ApiError> {
    let name = arg.to_string();
    match route.call {
        Call::KeyCreate => {
            let req = CreateKeyRequest {
                name,
                r#type: String::new(),
                add_version: false,
            };
            ctx.run(Command::KeyCreate, req).await?;
            Ok(empty())
        }
        Call::KeyImport => {
            let invalid = |_| ApiError::bad_request("invalid import key request body");
            let fields = Fields::parse(body).map_err(invalid)?;
            let cipher = fields.string("cipher").map_err(invalid)?;
            let key = fields.bytes("key").map_err(invalid)?;
            let kind = match cipher.as_str() {
                "AES256" | "AES256-GCM_SHA256" => "AES256",
                "ChaCha20" | "XCHACHA20-POLY1305" => "ChaCha20",
                _ => {
                    return Err(ApiError::new(
                        StatusCode::NOT_ACCEPTABLE,
                        format!("algorithm '{cipher}' is not supported"),
                    ))
                }
            };
            if key.len() != 32 {
                return Err(ApiError::new(
                    StatusCode::NOT_ACCEPTABLE,
                    format!("invalid key size for '{cipher}'"),
                ));
            }
            let req = ImportKeyRequest {
                name,
                r#type: kind.into(),
                key: key.to_vec(),
            };
            let sent = ctx.run(Command::KeyImport, req).await;
            sent.map(|_| empty())
        }
        Call::KeyDescribe => {
            let req = KeyStatusRequest { name, version: 0 };
            let k: KeyStatusResponse = ctx.read(Command::KeyStatus, req).await?;
            let mut out = Map::new();
            out.insert("name".into(), k.name.into());
            out.insert("algorithm".into(), k.r#type.into());
            insert_time(&mut out, "created_at", k.created_at);
            insert_hex(&mut out, "created_by", &k.created_by);
            Ok(json(&Value::Object(out)))
        }
        Call::KeyDelete => {
            let req = DeleteKeyRequest {
                name,
                version: 0,
                all_versions: true,
            };
            ctx.run(Command::KeyDelete, req).await?;
            Ok(empty())
        }
        Call::KeyList => {
            let req = ListRequest {
                prefix: list_prefix(arg, is_name_char)?,
                continue_at: String::new(),
                limit: 0,
            };
            let page: ListKeysResponse = ctx.read(Command::KeyList, req).await?;
            let mut names: Vec<String> = page.keys.into_iter().map(|k| k.name).collect();
            names.dedup();
            Ok(json(&names_page("names", names, page.continue_at)))
        }
        Call::KeyGenerate => {
            let fields = Fields::parse(body)?;
            let req = GenerateKeyRequest {
                name,
                version: 0,
                associated_data: fields.bytes("context")?.to_vec(),
                length: 32,
            };
            let dk: GenerateKeyResponse = ctx.read(Command::KeyGenerate, req).await?;
            let plaintext = zeroize::Zeroizing::new(dk.plaintext);
            Ok(json(&json!({
                "plaintext": b64(&plaintext),
                "ciphertext": b64(&dk.ciphertext),
            })))
        }
        Call::KeyEncrypt => {
            let fields = Fields::parse(body)?;
            let req = EncryptRequest {
                name,
                version: 0,
                plaintext: fields.bytes("plaintext")?.to_vec(),
                associated_data: fields.bytes("context")?.to_vec(),
            };
            let ct: EncryptResponse = ctx.read(Command::KeyEncrypt, req).await?;
            Ok(json(&json!({ "ciphertext": b64(&ct.ciphertext) })))
        }
        Call::KeyDecrypt => {
            let fields = Fields::parse(body)?;
            let req = DecryptRequest {
                name,
                version: 0,
                ciphertext: fields.bytes("ciphertext")?.to_vec(),
                associated_data: fields.bytes("context")?.to_vec(),
            };
            let pt: DecryptResponse = ctx.read(Command::KeyDecrypt, req).await?;
            let plaintext = zeroize::Zeroizing::new(pt.plaintext);
            Ok(json(&json!({ "plaintext": b64(&plaintext) })))
        }
        Call::KeyHmac => {
            let fields = Fields::parse(body)?;
            // The oldest version: a MAC that stays the same across rotations (MinIO derives
            // its root credentials from it). A key the caller may not see gets version 0, and
            // the command's own checks answer.
            let oldest = ctx
                .node
                .keystore
                .state()
                .key_versions(&ctx.enclave, arg)
                .ok()
                .and_then(|versions| versions.iter().map(|v| v.version).min())
                .unwrap_or(0);
            let req = MacRequest {
                name,
                version: oldest,
                message: fields.bytes("message")?.to_vec(),
            };
            let mac: MacResponse = ctx.read(Command::KeyMac, req).await?;
            Ok(json(&json!({ "hmac": b64(&mac.mac) })))
        }
        Call::PolicyDescribe => {
            let p: PolicyStatusResponse = ctx
                .read(Command::PolicyStatus, PolicyRequest { name })
                .await?;
            let mut out = Map::new();
            out.insert("name".into(), p.name.into());
            insert_time(&mut out, "created_at", p.created_at);
            insert_hex(&mut out, "created_by", &p.created_by);
            Ok(json(&Value::Object(out)))
        }
        Call::PolicyRead => {
            let p: PolicyResponse = ctx.read(Command::PolicyGet, PolicyRequest { name }).await?;
            let mut out = Map::new();
            out.insert("name".into(), p.name.into());
            out.insert("allow".into(), kes_patterns(&p.allow));
            out.insert("deny".into(), kes_patterns(&p.deny));
            insert_time(&mut out, "created_at", p.created_at);
            insert_hex(&mut out, "created_by", &p.created_by);
            Ok(json(&Value::Object(out)))
        }
        Call::PolicyList => {
            let req = ListRequest {
                prefix: list_prefix(arg, is_name_char)?,
                continue_at: String::new(),
                limit: 0,
            };
            let page: ListPoliciesResponse = ctx.read(Command::PolicyList, req).await?;
            let names = page.policies.into_iter().map(|p| p.name).collect();
            Ok(json(&names_page("names", names, page.continue_at)))
        }
        Call::IdentityDescribe => {
            let not_found = || ApiError::new(StatusCode::NOT_FOUND, "identity does not exist");
            let identity = Identity::from_hex(arg).ok_or_else(not_found)?;
            if identity == ctx.node.root {
                return Ok(json(&json!({ "admin": true })));
            }
            let req = IdentityRequest {
                identity: identity.to_string(),
            };
            let i: IdentityResponse = ctx.read(Command::IdentityStatus, req).await?;
            Ok(json(&describe_identity(&i)))
        }
        Call::IdentityList => {
            let prefix = list_prefix(arg, |c| c.is_ascii_hexdigit())?.to_ascii_lowercase();
            let mut hexes = Vec::new();
            let mut continue_at = String::new();
            loop {
                let req = ListRequest {
                    prefix: String::new(),
                    continue_at: continue_at.clone(),
                    limit: 0,
                };
                let page: ListIdentitiesResponse = ctx.read(Command::IdentityList, req).await?;
                hexes.extend(
                    page.identities
                        .iter()
                        .filter_map(|i| Identity::parse(&i.identity).ok())
                        .map(|i| i.to_hex())
                        .filter(|h| h.starts_with(&prefix)),
                );
                if page.continue_at.is_empty() || page.continue_at == continue_at {
                    break;
                }
                continue_at = page.continue_at;
            }
            hexes.sort();
            Ok(json(&json!({ "identities": hexes })))
        }
        _ => Err(internal()),
    }
}

/// `GET /v1/identity/self/describe`: any caller known to the node, about itself, in the
/// shape KES's client decodes (policy name at the top, its patterns next to it).
pub(crate) async fn describe_self(ctx: &Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    let identity = ctx
        .caller
        .identity
        .as_ref()
        .ok_or_else(ApiError::forbidden)?;
    if ctx.caller.is_root {
        return Ok(json(
            &json!({ "identity": identity.to_hex(), "admin": true }),
        ));
    }
    ctx.node.cluster.readable(&ctx.enclave, None).await?;
    let state = ctx.node.keystore.state();
    let info = state
        .identity_info(&ctx.enclave, identity.as_str())
        .map_err(|_| ApiError::forbidden())?;
    // A service account acts with its parent's privilege and policy.
    let acting = if info.is_service_account {
        state
            .identity_info(&ctx.enclave, &info.created_by)
            .map_err(|_| ApiError::forbidden())?
    } else {
        info.clone()
    };
    let mut out = Map::new();
    out.insert("identity".into(), identity.to_hex().into());
    out.insert(
        "admin".into(),
        (acting.privilege == minkms_keystore::Privilege::Admin).into(),
    );
    out.insert(
        "created_at".into(),
        rfc3339(info.created_at.secs, info.created_at.nanos).into(),
    );
    insert_hex(&mut out, "created_by", &info.created_by);
    if !acting.policy.is_empty() {
        if let Ok(policy) = state.policy_info(&ctx.enclave, &acting.policy) {
            let wire = |m: &BTreeMap<String, minkms_policies::RuleSet>| -> std::collections::HashMap<String, RuleSet> {
                m.iter()
                    .map(|(cmd, rules)| {
                        let rules = rules.patterns().map(|p| (p.to_string(), Rule {})).collect();
                        (cmd.clone(), RuleSet { rules })
                    })
                    .collect()
            };
            out.insert("policy".into(), acting.policy.clone().into());
            out.insert("allow".into(), kes_patterns(&wire(&policy.policy.allow)));
            out.insert("deny".into(), kes_patterns(&wire(&policy.policy.deny)));
        }
    }
    Ok(json(&Value::Object(out)))
}

fn describe_identity(i: &IdentityResponse) -> Value {
    let mut out = Map::new();
    let admin = i.privilege == minkms_keystore::Privilege::Admin as u32;
    out.insert("admin".into(), admin.into());
    if !i.policy.is_empty() {
        out.insert("policy".into(), i.policy.clone().into());
    }
    insert_time(&mut out, "created_at", i.created_at);
    insert_hex(&mut out, "created_by", &i.created_by);
    Value::Object(out)
}

/// A policy's rules as KES path patterns: `<route prefix><name pattern>` for each command
/// that has a KES route. Identity patterns are shown in hex when exact; `*` stays; other
/// identity patterns have no hex form and are left out, as are commands without a route.
fn kes_patterns(rules: &std::collections::HashMap<String, RuleSet>) -> Value {
    let mut out = Map::new();
    for (cmd, set) in rules {
        let Some(prefix) = prefix_of(cmd) else {
            continue;
        };
        for pattern in set.rules.keys() {
            let shown = if cmd.starts_with("IDENTITY:") && pattern != "*" {
                match Identity::parse(pattern) {
                    Ok(identity) => identity.to_hex(),
                    Err(_) => continue,
                }
            } else {
                pattern.clone()
            };
            out.insert(format!("{prefix}{shown}"), json!({}));
        }
    }
    Value::Object(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A list call's prefix: `*` or empty lists everything, one trailing `*` is dropped (KES's
/// own server took it literally and listed nothing); any other `*`, or a character no name
/// has, is refused.
fn list_prefix(pattern: &str, allowed: impl Fn(char) -> bool) -> Result<String, ApiError> {
    let prefix = pattern.strip_suffix('*').unwrap_or(pattern);
    if prefix.len() > minkms_keystore::MAX_NAME_LEN || !prefix.chars().all(allowed) {
        return Err(ApiError::bad_request(format!(
            "listing pattern '{pattern}' is empty, too long or is invalid"
        )));
    }
    Ok(prefix.to_string())
}

fn names_page(member: &str, names: Vec<String>, continue_at: String) -> Value {
    let mut out = Map::new();
    out.insert(member.into(), names.into());
    if !continue_at.is_empty() {
        out.insert("continue_at".into(), continue_at.into());
    }
    Value::Object(out)
}

fn insert_time(out: &mut Map<String, Value>, member: &str, t: Option<prost_types::Timestamp>) {
    if let Some(t) = t {
        out.insert(
            member.into(),
            rfc3339(t.seconds, t.nanos.max(0) as u32).into(),
        );
    }
}

/// An `h1:` identity (`created_by`) in KES's hex; left out when it is none.
fn insert_hex(out: &mut Map<String, Value>, member: &str, identity: &str) {
    if let Ok(identity) = Identity::parse(identity) {
        out.insert(member.into(), identity.to_hex().into());
    }
}

/// RFC 3339 with nanoseconds, as Go writes a `time.Time`.
pub(crate) fn rfc3339(secs: i64, nanos: u32) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|t| t + time::Duration::nanoseconds(i64::from(nanos)))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_patterns_are_prefixes_with_at_most_a_trailing_star() {
        for (pattern, prefix) in [
            ("", ""),
            ("*", ""),
            ("my-app*", "my-app"),
            ("my-app", "my-app"),
        ] {
            assert_eq!(list_prefix(pattern, is_name_char).unwrap(), prefix);
        }
        for bad in ["a*b*", "**", "a/b", "a b"] {
            let e = list_prefix(bad, is_name_char).unwrap_err();
            assert_eq!(
                e.message,
                format!("listing pattern '{bad}' is empty, too long or is invalid")
            );
        }
    }

    #[test]
    fn policies_show_as_kes_path_patterns() {
        let rules = |patterns: &[&str]| RuleSet {
            rules: patterns.iter().map(|p| (p.to_string(), Rule {})).collect(),
        };
        let hex = "978028566eb1280546b1fa3c27fb6d08e0ba39d82adc624b1e0e4db4074e02bd";
        let h1 = Identity::from_hex(hex).unwrap().to_string();
        let allow = [
            ("KEY:GENERATE".to_string(), rules(&["my-app*"])),
            ("KEY:LIST".to_string(), rules(&["*"])),
            ("KEY:LISTVERSIONS".to_string(), rules(&["*"])),
            ("IDENTITY:STATUS".to_string(), rules(&[&h1, "h1:abc*", "*"])),
        ]
        .into_iter()
        .collect();
        let shown = kes_patterns(&allow);
        let mut paths: Vec<&String> = shown.as_object().unwrap().keys().collect();
        paths.sort();
        let expected = [
            "/v1/identity/describe/*".to_string(),
            format!("/v1/identity/describe/{hex}"),
            "/v1/key/generate/my-app*".to_string(),
            "/v1/key/list/*".to_string(),
        ];
        assert_eq!(paths, expected.iter().collect::<Vec<_>>());
    }

    #[test]
    fn times_are_written_as_go_writes_them() {
        assert_eq!(
            rfc3339(1_736_981_369, 123_456_789),
            "2025-01-15T22:49:29.123456789Z"
        );
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
    }
}
