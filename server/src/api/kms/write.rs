//! Write planning: a request becomes a keystore command, checked against who asks.

use super::*;

/// Turns a write request into a keystore command, checking who may make it against `state`
/// (`root`: the cluster's root identity, which no enclave may hold).
pub(crate) fn plan_write(
    state: &State,
    root: &Identity,
    caller: &Caller,
    enclave: &str,
    batch: &Batch,
) -> Result<ks::Command, ApiError> {
    let cmd = batch.cmd;
    let payload = &batch.payloads[0];
    let access = Access::resolve(caller, state, cmd, enclave)?;
    let (at, by) = (Timestamp::now(), caller.name());
    let enclave = enclave.to_string();
    Ok(match cmd {
        Command::EnclaveCreate => {
            let req: EnclaveRequest = decode(cmd, payload)?;
            ks::Command::CreateEnclave {
                name: req.name,
                at,
                by,
            }
        }
        Command::EnclaveDelete => {
            let req: EnclaveRequest = decode(cmd, payload)?;
            ks::Command::DeleteEnclave { name: req.name }
        }
        Command::KeyCreate => {
            let req: CreateKeyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            let kind = KeyType::parse(&req.r#type)?;
            ks::Command::CreateKey {
                enclave,
                name: req.name,
                kind,
                material: KeyMaterial::generate(),
                add_version: req.add_version,
                imported: false,
                at,
                by,
            }
        }
        Command::KeyImport => {
            let mut req: ImportKeyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            let kind = KeyType::parse(&req.r#type)?;
            let material = KeyMaterial::from_slice(&req.key);
            zeroize::Zeroize::zeroize(&mut req.key);
            ks::Command::CreateKey {
                enclave,
                name: req.name,
                kind,
                material: material?,
                add_version: false,
                imported: true,
                at,
                by,
            }
        }
        Command::KeyImportWrapped => {
            let req: ImportWrappedKeyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            let kind = KeyType::parse(&req.r#type)?;
            let hash = ks::OaepHash::parse(&req.hash)?;
            ks::Command::CreateKey {
                material: state.unwrap_import(&enclave, &req.wrapped, hash)?,
                enclave,
                name: req.name,
                kind,
                add_version: false,
                imported: true,
                at,
                by,
            }
        }
        Command::KeyDelete => {
            let req: DeleteKeyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            ks::Command::DeleteKey {
                enclave,
                name: req.name,
                version: req.version,
                all: req.all_versions,
            }
        }
        Command::PolicyCreate => {
            let req: CreatePolicyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            let policy = policy_from_wire(&req)?;
            let policy_json = serde_json::to_string(&policy)
                .map_err(|e| ApiError::bad_request(format!("invalid policy: {e}")))?;
            ks::Command::CreatePolicy {
                enclave,
                name: req.name,
                policy_json,
                at,
                by,
            }
        }
        Command::PolicyDelete => {
            let req: PolicyRequest = decode(cmd, payload)?;
            access.check(cmd, &req.name)?;
            ks::Command::DeletePolicy {
                enclave,
                name: req.name,
            }
        }
        Command::PolicyAssign => {
            let req: AssignPolicyRequest = decode(cmd, payload)?;
            if !access.is_admin() {
                return Err(ApiError::forbidden());
            }
            ks::Command::AssignPolicy {
                enclave,
                identity: req.identity,
                policy: req.policy,
            }
        }
        Command::IdentityCreate => {
            let req: CreateIdentityRequest = decode(cmd, payload)?;
            plan_identity_create(state, root, &access, enclave, req, at, by)?
        }
        Command::IdentityDelete => {
            let req: IdentityRequest = decode(cmd, payload)?;
            access.check(cmd, &req.identity)?;
            if let Access::User(_) = access {
                // A user may only delete its own service accounts.
                let target = state.identity_info(&enclave, &req.identity)?;
                if !target.is_service_account || target.created_by != by {
                    return Err(ApiError::forbidden());
                }
            }
            ks::Command::DeleteIdentity {
                enclave,
                identity: req.identity,
            }
        }
        _ => return Err(misrouted(cmd)),
    })
}

fn plan_identity_create(
    state: &State,
    root: &Identity,
    access: &Access,
    enclave: String,
    req: CreateIdentityRequest,
    at: Timestamp,
    by: String,
) -> Result<ks::Command, ApiError> {
    let identity =
        Identity::parse(&req.identity).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if matches!(access, Access::Root) && req.is_service_account {
        return Err(ApiError::bad_request(
            "invalid request: the root identity cannot have service accounts",
        ));
    }
    if &identity == root {
        return Err(ApiError::bad_request(
            "invalid identity: the root identity cannot be added to an enclave",
        ));
    }
    let mut privilege = Privilege::parse(&req.privilege)?;
    let parent = if req.is_service_account {
        by.clone()
    } else {
        String::new()
    };
    match access {
        Access::Root | Access::Admin => {}
        Access::User(_) => {
            // Users may only create service accounts of their own, acting as themselves, and
            // never take over an identity that exists.
            access.check(Command::IdentityCreate, identity.as_str())?;
            if !req.is_service_account || state.identity_info(&enclave, identity.as_str()).is_ok() {
                return Err(ApiError::forbidden());
            }
            privilege = Privilege::User;
        }
    }
    Ok(ks::Command::CreateIdentity {
        enclave,
        identity: identity.to_string(),
        privilege,
        parent,
        tags: req.tags.into_iter().collect(),
        at,
        by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::tests::{world, World};

    fn batch(cmd: Command, req: &impl Message) -> Batch {
        Batch {
            cmd,
            payloads: vec![Bytes::from(req.encode_to_vec())],
        }
    }

    fn plan(w: &World, who: &Identity, batch: &Batch) -> Result<ks::Command, (u16, String)> {
        plan_write(&w.ks.state(), &w.root, &w.caller(Some(who)), "e", batch)
            .map_err(|e| (e.status.as_u16(), e.message))
    }

    fn create_key(name: &str, kind: &str) -> Batch {
        batch(
            Command::KeyCreate,
            &CreateKeyRequest {
                name: name.into(),
                r#type: kind.into(),
                add_version: false,
            },
        )
    }

    #[test]
    fn a_new_key_gets_fresh_material_and_its_creator() {
        let w = world();
        let Ok(ks::Command::CreateKey {
            enclave,
            name,
            kind,
            imported,
            by,
            ..
        }) = plan(&w, &w.user, &create_key("my-key", ""))
        else {
            panic!("not a key creation");
        };
        assert_eq!(
            (enclave.as_str(), name.as_str(), kind, imported, by),
            ("e", "my-key", KeyType::Aes256, false, w.user.to_string())
        );
        assert!(matches!(
            plan(&w, &w.admin, &create_key("k", "ChaCha20")),
            Ok(ks::Command::CreateKey {
                kind: KeyType::ChaCha20,
                ..
            })
        ));
        assert_eq!(
            plan(&w, &w.admin, &create_key("k", "DES")).unwrap_err().0,
            400
        );
        // Material is drawn when the write is planned, once (then replicated as it is): the
        // same request planned twice gives two keys that MAC differently.
        for key in ["a", "b"] {
            let Ok(ks::Command::CreateKey { material, .. }) =
                plan(&w, &w.admin, &create_key(key, ""))
            else {
                panic!("not a key creation");
            };
            w.ks.apply(&ks::Command::CreateKey {
                enclave: "e".into(),
                name: key.into(),
                kind: KeyType::Aes256,
                material,
                add_version: false,
                imported: false,
                at: Timestamp::now(),
                by: String::new(),
            })
            .unwrap();
        }
        let state = w.ks.state();
        assert_ne!(
            state.mac("e", "a", 0, b"m").unwrap().1,
            state.mac("e", "b", 0, b"m").unwrap().1
        );
    }

    #[test]
    fn a_user_plans_only_what_its_policy_allows() {
        let w = world();
        assert_eq!(
            plan(&w, &w.user, &create_key("other", "")).unwrap_err().0,
            403
        );
        assert_eq!(
            plan(&w, &w.bare, &create_key("my-key", "")).unwrap_err().0,
            403
        );
        // Enclaves are the root's, even for an enclave's Admin.
        let enclave = batch(Command::EnclaveCreate, &EnclaveRequest { name: "f".into() });
        assert_eq!(plan(&w, &w.admin, &enclave).unwrap_err().0, 403);
        assert!(matches!(
            plan(&w, &w.root, &enclave),
            Ok(ks::Command::CreateEnclave { .. })
        ));
    }

    #[test]
    fn an_imported_key_must_be_32_bytes() {
        let w = world();
        let import = |key: Vec<u8>| {
            batch(
                Command::KeyImport,
                &ImportKeyRequest {
                    name: "k".into(),
                    r#type: String::new(),
                    key,
                },
            )
        };
        assert!(matches!(
            plan(&w, &w.admin, &import(vec![7; 32])),
            Ok(ks::Command::CreateKey { imported: true, .. })
        ));
        assert_eq!(
            plan(&w, &w.admin, &import(vec![7; 16])).unwrap_err(),
            (400, "invalid key: must be 32 bytes".into())
        );
    }

    #[test]
    fn identities_the_root_and_service_accounts() {
        let w = world();
        let create = |identity: &Identity, service: bool| {
            batch(
                Command::IdentityCreate,
                &CreateIdentityRequest {
                    identity: identity.to_string(),
                    privilege: "User".into(),
                    is_service_account: service,
                    ..Default::default()
                },
            )
        };
        // No enclave may hold the root identity, whoever asks.
        assert_eq!(
            plan(&w, &w.admin, &create(&w.root, false)).unwrap_err().0,
            400
        );
        // A user creates service accounts of its own, nothing else.
        let svc = minkms_client::ApiKey::generate().identity().clone();
        match plan(&w, &w.user, &create(&svc, true)) {
            Ok(ks::Command::CreateIdentity {
                parent, privilege, ..
            }) => {
                assert_eq!((parent, privilege), (w.user.to_string(), Privilege::User));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(plan(&w, &w.bare, &create(&svc, true)).unwrap_err().0, 403);
        assert_eq!(plan(&w, &w.user, &create(&svc, false)).unwrap_err().0, 403);
    }
}
