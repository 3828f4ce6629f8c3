//! `minkms add-policy`, `get-policy`, `stat-policy`, `ls-policy`, `rm-policy`, `set-policy`.

use super::args::PolicyCmd;
use super::*;

/// Runs one of these commands.
pub(super) async fn run(cmd: PolicyCmd) -> anyhow::Result<()> {
    match cmd {
        PolicyCmd::AddPolicy {
            conn,
            enclave,
            name,
            file,
        } => {
            let text = std::fs::read(&file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            let policy = Policy::from_json(&text, &Command::grantable_texts())
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let wire = |m: &std::collections::BTreeMap<String, minkms_policies::RuleSet>| {
                m.iter()
                    .map(|(c, r)| {
                        (
                            c.clone(),
                            RuleSet {
                                rules: r.patterns().map(|p| (p.to_string(), Rule {})).collect(),
                            },
                        )
                    })
                    .collect()
            };
            let req = CreatePolicyRequest {
                name: name.clone(),
                allow: wire(&policy.allow),
                deny: wire(&policy.deny),
            };
            client(&conn)?.create_policy(enclave.name()?, &req).await?;
            done(
                &conn,
                &format!("Created policy {name}"),
                json!({ "name": name }),
            );
        }
        PolicyCmd::GetPolicy {
            conn,
            enclave,
            names,
        } => {
            let c = client(&conn)?;
            let mut docs = Vec::new();
            for n in &names {
                let p = c
                    .get_policy(enclave.name()?, n)
                    .await
                    .map_err(naming(format!(
                        "policy '{n}' in enclave '{}'",
                        enclave.name()?
                    )))?;
                let mut doc = policy_json(&p);
                doc["name"] = json!(p.name);
                docs.push(doc);
            }
            if conn.json || names.len() > 1 {
                output::json(&json!(docs));
            } else {
                let mut doc = docs.remove(0);
                if let Some(o) = doc.as_object_mut() {
                    o.remove("name");
                }
                output::json(&doc);
            }
        }
        PolicyCmd::StatPolicy {
            conn,
            enclave,
            names,
        } => {
            let c = client(&conn)?;
            let mut rows = Vec::new();
            for n in &names {
                let p = c
                    .policy_status(enclave.name()?, n)
                    .await
                    .map_err(naming(format!(
                        "policy '{n}' in enclave '{}'",
                        enclave.name()?
                    )))?;
                rows.push(json!({ "name": p.name, "created_at": time(&p.created_at), "created_by": p.created_by }));
            }
            if conn.json {
                output::json(&json!(rows));
            } else {
                for (i, r) in rows.iter().enumerate() {
                    if i > 0 {
                        output::outln!();
                    }
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                    fields(&[
                        ("Name", s("name")),
                        ("Created", s("created_at")),
                        ("Created By", s("created_by")),
                    ]);
                }
            }
        }
        PolicyCmd::LsPolicy {
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
                    let r = c.list_policies(e, prefix, &at, 0).await?;
                    Ok((r.policies, r.continue_at))
                }
            })
            .await?;
            output::listing(
                conn.json,
                &all,
                |p| json!({"name": p.name, "created_at": time(&p.created_at), "created_by": p.created_by}),
                &["NAME", "CREATED"],
                |p| vec![p.name.clone(), time(&p.created_at)],
            );
        }
        PolicyCmd::RmPolicy {
            conn,
            enclave,
            name,
        } => {
            client(&conn)?
                .delete_policy(enclave.name()?, &name)
                .await
                .map_err(naming(format!(
                    "policy '{name}' in enclave '{}'",
                    enclave.name()?
                )))?;
            done(
                &conn,
                &format!("Deleted policy {name}"),
                json!({ "name": name }),
            );
        }
        PolicyCmd::SetPolicy {
            conn,
            enclave,
            policy,
            identity,
        } => {
            client(&conn)?
                .assign_policy(enclave.name()?, &policy, &identity)
                .await
                .map_err(naming(format!(
                    "policy '{policy}' or identity '{identity}' in enclave '{}'",
                    enclave.name()?
                )))?;
            done(
                &conn,
                &format!("Assigned policy {policy} to {identity}"),
                json!({ "policy": policy, "identity": identity }),
            );
        }
    }
    Ok(())
}

fn policy_json(p: &minkms_client::wire::PolicyResponse) -> serde_json::Value {
    let rules = |m: &std::collections::HashMap<String, RuleSet>| {
        let mut out = serde_json::Map::new();
        let mut cmds: Vec<_> = m.iter().collect();
        cmds.sort_by(|a, b| a.0.cmp(b.0));
        for (cmd, set) in cmds {
            let mut pats: Vec<&String> = set.rules.keys().collect();
            pats.sort();
            out.insert(cmd.clone(), json!(pats));
        }
        serde_json::Value::Object(out)
    };
    json!({ "allow": rules(&p.allow), "deny": rules(&p.deny) })
}
