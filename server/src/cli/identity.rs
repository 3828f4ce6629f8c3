//! `minkms add-identity`, `get-identity`, `ls-identity`, `rm-identity`: the identities of an enclave.

use super::args::IdentityCmd;
use super::*;

/// Runs one of these commands.
pub(super) async fn run(cmd: IdentityCmd) -> anyhow::Result<()> {
    match cmd {
        IdentityCmd::AddIdentity {
            conn,
            enclave,
            identities,
            admin,
            service,
        } => {
            let c = client(&conn)?;
            let privilege = if admin { "Admin" } else { "User" };
            let mut created = Vec::new();
            let mut generated: Option<ApiKey> = None;
            let targets: Vec<String> = if identities.is_empty() {
                let key = ApiKey::generate();
                let id = key.identity().to_string();
                generated = Some(key);
                vec![id]
            } else {
                identities
                    .iter()
                    .map(|i| Identity::parse(i).map(|i| i.to_string()))
                    .collect::<Result<_, _>>()?
            };
            for id in targets {
                let req = CreateIdentityRequest {
                    identity: id.clone(),
                    privilege: privilege.into(),
                    is_service_account: service,
                    tags: Default::default(),
                };
                c.create_identity(enclave.name()?, &req).await?;
                created.push(id);
            }
            match (&generated, conn.json) {
                (Some(key), true) => output::json(
                    &json!({ "identity": key.identity().as_str(), "api_key": key.to_secret_string().as_str(), "privilege": privilege }),
                ),
                (Some(key), false) => {
                    fields(&[
                        ("Identity", key.identity().to_string()),
                        ("API Key", key.to_secret_string().to_string()),
                        ("Privilege", privilege.to_string()),
                    ]);
                    eprintln!("The API key is shown only once: store it securely.");
                }
                (None, true) => {
                    output::json(&json!({ "identities": created, "privilege": privilege }))
                }
                (None, false) => {
                    for id in &created {
                        ok(&format!("Added identity {id}"));
                    }
                }
            }
        }
        IdentityCmd::GetIdentity {
            conn,
            enclave,
            identities,
        } => {
            let c = client(&conn)?;
            let mut all = Vec::new();
            for id in &identities {
                all.push(
                    c.identity_status(enclave.name()?, id)
                        .await
                        .map_err(naming(format!(
                            "identity '{id}' in enclave '{}'",
                            enclave.name()?
                        )))?,
                );
            }
            if conn.json {
                output::json(&json!(all.iter().map(identity_json).collect::<Vec<_>>()));
            } else {
                for (n, i) in all.iter().enumerate() {
                    if n > 0 {
                        output::outln!();
                    }
                    let mut rows = vec![
                        ("Identity", i.identity.clone()),
                        ("Privilege", privilege_name(i.privilege).to_string()),
                    ];
                    if !i.policy.is_empty() {
                        rows.push(("Policy", i.policy.clone()));
                    }
                    rows.push(("Created", time(&i.created_at)));
                    rows.push(("Created By", i.created_by.clone()));
                    if i.is_service_account {
                        rows.push(("Service Account", "yes".into()));
                    }
                    fields(&rows);
                }
            }
        }
        IdentityCmd::LsIdentity {
            conn,
            enclave,
            prefix,
        } => {
            let c = client(&conn)?;
            let prefix = prefix.unwrap_or_default();
            let name = enclave.name()?;
            let all = all_pages(|at| {
                let (c, prefix, e) = (&c, &prefix, name);
                async move {
                    let r = c.list_identities(e, prefix, &at, 0).await?;
                    Ok((r.identities, r.continue_at))
                }
            })
            .await?;
            output::listing(
                conn.json,
                &all,
                identity_json,
                &["IDENTITY", "PRIVILEGE", "POLICY"],
                |i| {
                    vec![
                        i.identity.clone(),
                        privilege_name(i.privilege).to_string(),
                        i.policy.clone(),
                    ]
                },
            );
        }
        IdentityCmd::RmIdentity {
            conn,
            enclave,
            identity,
        } => {
            client(&conn)?
                .delete_identity(enclave.name()?, &identity)
                .await
                .map_err(naming(format!(
                    "identity '{identity}' in enclave '{}'",
                    enclave.name()?
                )))?;
            done(
                &conn,
                &format!("Deleted identity {identity}"),
                json!({ "identity": identity }),
            );
        }
    }
    Ok(())
}

fn identity_json(i: &minkms_client::wire::IdentityResponse) -> serde_json::Value {
    json!({
        "identity": i.identity,
        "privilege": privilege_name(i.privilege),
        "policy": i.policy,
        "created_at": time(&i.created_at),
        "created_by": i.created_by,
        "service_account": i.is_service_account,
        "service_accounts": i.service_accounts,
    })
}

fn privilege_name(p: u32) -> &'static str {
    match p {
        1 => "SysAdmin",
        2 => "Admin",
        _ => "User",
    }
}
