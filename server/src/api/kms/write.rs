//! Write planning: a request becomes a keystore command, checked against who asks.

use super::*;

/// Turns a write request into a keystore command, checking who may make it.
pub(crate) fn plan_write(
    node: &Node,
    caller: &Caller,
    enclave: &str,
    batch: &Batch,
) -> Result<ks::Command, ApiError> {
    let state = node.keystore.state();
    let cmd = batch.cmd;
    let payload = &batch.payloads[0];
    let access = Access::resolve(caller, &state, cmd, enclave)?;
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
            plan_identity_create(&state, &node.root, &access, enclave, req, at, by)?
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
