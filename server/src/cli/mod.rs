//! The client commands: each builds a request with [`minkms_client::Client`] and prints the
//! answer for people or, with `--json`, for scripts.

mod args;
mod bench;
mod output;
mod soak;

use std::sync::Arc;

use anyhow::Context as _;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use minkms_client::wire::{CreateIdentityRequest, CreatePolicyRequest, Rule, RuleSet};
use minkms_client::{ApiKey, Client, Command, Identity, ServerTrust};
use minkms_hsm::{BackendSet, SealingBackend, SoftHsm};
use minkms_policies::Policy;
use serde_json::json;

pub(crate) use args::Cli;
use args::{Cmd, Conn};
use output::{b64, fields, ok, table, time};

use crate::server::{self, ServerOptions, VERSION};

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.soft_hsm {
        output::outln!("{}", &*SoftHsm::generate_key());
        return Ok(());
    }
    let Some(cmd) = cli.command else {
        anyhow::bail!("no command given: see 'minkms --help'");
    };
    match cmd {
        Cmd::Server {
            addr,
            host,
            config,
            dev,
            log_format,
            dir,
        } => {
            // The HSM key comes from the environment only: a flag would show it in `ps`.
            let hsm_key = std::env::var("MINIO_KMS_HSM_KEY")
                .ok()
                .filter(|k| !k.is_empty())
                .map(zeroize::Zeroizing::new);
            server::run(ServerOptions {
                dir,
                addr,
                host,
                config,
                dev,
                log_format,
                hsm_key,
            })
            .await
        }
        Cmd::Identity { key, json, pem } => identity(key.as_deref(), json, pem),
        Cmd::Bench(args) => bench::run(args).await,
        Cmd::BenchBaseline { addr } => server::run_baseline(addr).await,
        Cmd::ConfigReference => {
            output::out!("{}", server::config::reference());
            Ok(())
        }
        Cmd::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "minkms", &mut script);
            output::out!("{}", String::from_utf8_lossy(&script));
            Ok(())
        }
        Cmd::Man { dir } => man_pages(dir.as_deref()),
        cmd => client_command(cmd).await,
    }
}

/// `minkms man`: the top page on stdout, or every page (`minkms.1`, `minkms-COMMAND.1`) into
/// `dir`. `admin/gen-docs.sh` keeps the copies in `packaging/man/` current.
fn man_pages(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        output::out!("{}", String::from_utf8_lossy(&page));
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join("minkms.1"), &page)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("minkms-{}", sub.get_name());
        let usage = format!("minkms {}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().bin_name(usage))
            .title(name.clone())
            .render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), &page)?;
    }
    Ok(())
}

fn identity(key: Option<&str>, as_json: bool, as_pem: bool) -> anyhow::Result<()> {
    let (api_key, shown_key) = match key {
        None => {
            let k = ApiKey::generate();
            let s = k.to_secret_string();
            (k, Some(s))
        }
        Some(k) if k.starts_with("hsm:") => {
            let soft: Arc<dyn SealingBackend> =
                Arc::new(SoftHsm::parse(k).map_err(|e| anyhow::anyhow!("{e}"))?);
            let root = server::root_api_key(&BackendSet::single(soft))?;
            let s = root.to_secret_string();
            (root, Some(s))
        }
        Some(k) => (ApiKey::parse(k)?, None),
    };
    if as_pem {
        let key = api_key.private_key_der();
        let cert = output::pem("CERTIFICATE", &api_key.self_signed_certificate());
        let key = output::pem("PRIVATE KEY", key.secret_der());
        output::out!("{}{}", cert.as_str(), key.as_str());
        return Ok(());
    }
    if as_json {
        let mut v = json!({ "identity": api_key.identity().as_str() });
        if let Some(k) = &shown_key {
            v["api_key"] = json!(k.as_str());
        }
        output::json(&v);
    } else {
        let mut rows = vec![];
        if let Some(k) = &shown_key {
            rows.push(("API Key", k.to_string()));
        }
        rows.push(("Identity", api_key.identity().to_string()));
        fields(&rows);
    }
    Ok(())
}

fn client(conn: &Conn) -> anyhow::Result<Client> {
    let mut builder = Client::builder().endpoints([conn.server.as_str()]);
    if let Some(key) = &conn.api_key {
        builder = builder.api_key(ApiKey::parse(key).context("MINIO_KMS_API_KEY / --api-key")?);
    }
    if conn.insecure {
        builder = builder.trust(ServerTrust::Insecure);
    }
    Ok(builder.build()?)
}

/// Every page of a listing.
async fn all_pages<T, F, Fut>(mut page: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Vec<T>, String)>>,
{
    let mut items = Vec::new();
    let mut continue_at = String::new();
    loop {
        let (mut got, next) = page(continue_at).await?;
        let empty = got.is_empty();
        items.append(&mut got);
        if next.is_empty() || empty {
            return Ok(items);
        }
        continue_at = next;
    }
}

fn key_json(k: &minkms_client::wire::KeyStatusResponse) -> serde_json::Value {
    json!({ "name": k.name, "version": k.version, "type": k.r#type, "created_at": time(&k.created_at), "created_by": k.created_by })
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

async fn client_command(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Server { .. }
        | Cmd::Identity { .. }
        | Cmd::Completion { .. }
        | Cmd::Man { .. }
        | Cmd::Bench(_)
        | Cmd::BenchBaseline { .. }
        | Cmd::ConfigReference => {
            anyhow::bail!("internal error: command dispatched twice")
        }
        Cmd::Version { conn } => {
            let c = client(&conn)?;
            let server = c.version(None).await?;
            if conn.json {
                output::json(
                    &json!({ "client": VERSION, "server": server.version, "api_version": server.api_version, "host": server.host }),
                );
            } else {
                fields(&[
                    ("Client", VERSION.to_string()),
                    ("Server", server.version),
                    ("API", server.api_version),
                    ("Host", server.host),
                ]);
            }
        }
        Cmd::Ls { conn } => {
            let status = client(&conn)?.cluster_status().await?;
            let mut nodes: Vec<(u32, String, bool, String)> = status
                .nodes_up
                .iter()
                .map(|(id, s)| (*id, s.host.clone(), true, s.role.clone()))
                .chain(
                    status
                        .nodes_down
                        .iter()
                        .map(|(id, h)| (*id, h.clone(), false, String::new())),
                )
                .collect();
            nodes.sort();
            if conn.json {
                output::json(&json!(nodes.iter().map(|(id, host, up, role)| json!({"id": id, "host": host, "up": up, "role": role})).collect::<Vec<_>>()));
            } else {
                let rows: Vec<Vec<String>> = nodes
                    .iter()
                    .map(|(id, host, up, role)| {
                        vec![
                            id.to_string(),
                            host.clone(),
                            if *up { "up".into() } else { "down".into() },
                            role.clone(),
                        ]
                    })
                    .collect();
                table(&["ID", "HOST", "STATE", "ROLE"], &rows);
            }
        }
        Cmd::Stat { conn } => stat(&conn).await?,
        Cmd::Add { mut conn, targets } => {
            let node = match targets.as_slice() {
                [node] => node.clone(),
                [server, node] => {
                    conn.server = server.clone();
                    node.clone()
                }
                _ => anyhow::bail!("usage: minkms add [SERVER] HOST:PORT"),
            };
            let bar = output::progress(conn.json, format!("Adding node {node}"), false);
            let added = client(&conn)?.add_node(&node).await;
            output::finish(&bar);
            added?;
            done(
                &conn,
                &format!("Added node {node}"),
                json!({ "node": node }),
            );
        }
        Cmd::Rm {
            mut conn,
            targets,
            delete_cluster,
        } => {
            let node = match targets.as_slice() {
                [node] => node.clone(),
                [server, node] => {
                    conn.server = server.clone();
                    node.clone()
                }
                _ => anyhow::bail!("usage: minkms rm [SERVER] HOST:PORT|NODE-ID"),
            };
            client(&conn)?.remove_node(&node, delete_cluster).await?;
            if delete_cluster {
                let host = if node.parse::<u32>().is_ok() {
                    "HOST:PORT"
                } else {
                    node.as_str()
                };
                eprintln!("warning: node {node} keeps a copy of every key and the root API key, and in 10 s runs as a cluster of its own: a client still sending it writes would split the data. Its writes stay fenced until you point every client away from it and run 'minkms edit {host} --accept-fork'.");
            }
            done(
                &conn,
                &format!("Removed node {node}"),
                json!({ "node": node }),
            );
        }
        Cmd::Backup {
            mut conn,
            targets,
            force,
        } => {
            let file = match targets.as_slice() {
                [file] => std::path::PathBuf::from(file),
                [server, file] => {
                    conn.server = server.clone();
                    std::path::PathBuf::from(file)
                }
                _ => anyhow::bail!("usage: minkms backup [SERVER] FILE"),
            };
            backup(&conn, &file, force).await?;
        }
        Cmd::Restore {
            mut conn,
            target,
            file,
        } => {
            conn.server = target.clone();
            let bytes = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let size = bytes.len();
            let bar = output::progress(
                conn.json,
                format!("Restoring {} onto {target}", output::bytes(size as u64)),
                false,
            );
            let restored = client(&conn)?.restore(bytes.into()).await;
            output::finish(&bar);
            restored?;
            done(
                &conn,
                &format!(
                    "Restored {} ({}) onto {target}",
                    file.display(),
                    output::bytes(size as u64)
                ),
                json!({ "server": target, "file": file, "bytes": size }),
            );
        }
        Cmd::Edit {
            mut conn,
            target,
            remove: _,
            accept_fork: true,
        } => {
            conn.server = target.clone();
            client(&conn)?.accept_fork().await?;
            done(
                &conn,
                &format!("{target} takes writes as a cluster of its own"),
                json!({ "server": target, "accepted_fork": true }),
            );
        }
        Cmd::Edit {
            mut conn,
            target,
            remove,
            accept_fork: false,
        } => {
            if remove.len() > 1 {
                eprintln!("warning: removing {} nodes, one at a time; remove more than one failed node only when they are all lost", remove.len());
            }
            conn.server = target.clone();
            client(&conn)?.edit_cluster(&remove).await?;
            let ids: Vec<String> = remove.iter().map(|i| i.to_string()).collect();
            done(
                &conn,
                &format!(
                    "Removed node {} from the cluster definition of {target}",
                    ids.join(", ")
                ),
                json!({ "server": target, "removed": remove }),
            );
        }
        Cmd::Log {
            conn,
            level,
            filter,
        } => {
            let level = match level.to_ascii_lowercase().as_str() {
                "debug" => -4,
                "info" => 0,
                "warn" | "warning" => 4,
                "error" => 8,
                other => anyhow::bail!("invalid level '{other}': debug, info, warn or error"),
            };
            let mut log = client(&conn)?
                .follow_log(&minkms_client::wire::LogRequest {
                    level,
                    message: filter,
                    since: None,
                    trace_level: 0,
                })
                .await?;
            while let Some(record) = log.next().await? {
                let name = match record.level {
                    l if l >= 8 => "ERROR",
                    l if l >= 4 => "WARN",
                    l if l >= 0 => "INFO",
                    _ => "DEBUG",
                };
                if conn.json {
                    output::outln!(
                        "{}",
                        json!({ "time": time(&record.time), "level": name, "message": record.message })
                    );
                } else {
                    output::outln!("{} {name:<5} {}", time(&record.time), record.message);
                }
            }
        }
        Cmd::LsHsm { conn } => {
            let status = client(&conn)?.cluster_status().await?;
            let mut sealed: Vec<String> = Vec::new();
            let mut active: Vec<String> = Vec::new();
            for s in status.nodes_up.values() {
                sealed.extend(s.hsm.iter().cloned());
                active.extend(s.hsm_active.iter().cloned());
            }
            let mut all: Vec<String> = sealed.iter().chain(active.iter()).cloned().collect();
            all.sort();
            all.dedup();
            if conn.json {
                output::json(&json!(all.iter().map(|h| json!({"hsm": h, "sealed": sealed.contains(h), "configured": active.contains(h)})).collect::<Vec<_>>()));
            } else {
                let yes = |b: bool| {
                    if b {
                        "yes".to_string()
                    } else {
                        "no".to_string()
                    }
                };
                table(
                    &["HSM", "SEALED", "CONFIGURED"],
                    &all.iter()
                        .map(|h| vec![h.clone(), yes(sealed.contains(h)), yes(active.contains(h))])
                        .collect::<Vec<_>>(),
                );
            }
        }
        Cmd::AddHsm {
            conn,
            name,
            overwrite,
        } => {
            client(&conn)?.add_hsm(&name, overwrite).await?;
            done(
                &conn,
                &format!("Sealed the root encryption key with {name}"),
                json!({ "hsm": name }),
            );
        }
        Cmd::RmHsm { conn, name } => {
            client(&conn)?.remove_hsm(&name).await?;
            done(
                &conn,
                &format!("Removed the sealed root encryption key of {name}"),
                json!({ "hsm": name }),
            );
        }
        Cmd::AddEnclave { conn, name } => {
            client(&conn)?.create_enclave(&name).await?;
            done(
                &conn,
                &format!("Created enclave {name}"),
                json!({ "enclave": name }),
            );
        }
        Cmd::RmEnclave { conn, name } => {
            client(&conn)?.delete_enclave(&name).await?;
            done(
                &conn,
                &format!("Deleted enclave {name}"),
                json!({ "enclave": name }),
            );
        }
        Cmd::StatEnclave { conn, name } => {
            let e = client(&conn)?.enclave_status(&name).await?;
            if conn.json {
                output::json(
                    &json!({ "name": e.name, "created_at": time(&e.created_at), "created_by": e.created_by }),
                );
            } else {
                fields(&[
                    ("Name", e.name),
                    ("Created", time(&e.created_at)),
                    ("Created By", e.created_by),
                ]);
            }
        }
        Cmd::LsEnclave { conn, prefix } => {
            let c = client(&conn)?;
            let prefix = prefix.unwrap_or_default();
            let all = all_pages(|at| {
                let (c, prefix) = (&c, &prefix);
                async move {
                    let r = c.list_enclaves(prefix, &at, 0).await?;
                    Ok((r.enclaves, r.continue_at))
                }
            })
            .await?;
            if conn.json {
                output::json(&json!(all.iter().map(|e| json!({"name": e.name, "created_at": time(&e.created_at), "created_by": e.created_by})).collect::<Vec<_>>()));
            } else {
                table(
                    &["NAME", "CREATED"],
                    &all.iter()
                        .map(|e| vec![e.name.clone(), time(&e.created_at)])
                        .collect::<Vec<_>>(),
                );
            }
        }
        Cmd::AddKey {
            conn,
            enclave,
            name,
            key_type,
        } => {
            let c = client(&conn)?;
            // `add-key` on an existing key adds a version (CLI.md): try to create, then rotate.
            let added_version = match c
                .create_key(&enclave.enclave, &name, &key_type, false)
                .await
            {
                Err(minkms_client::Error::Api { status: 409, .. }) => {
                    c.create_key(&enclave.enclave, &name, &key_type, true)
                        .await?;
                    true
                }
                other => {
                    other?;
                    false
                }
            };
            let k = c.key_status(&enclave.enclave, &name, 0).await?;
            let text = if added_version {
                format!("Added version {} of key {name}", k.version)
            } else {
                format!("Created key {name}")
            };
            done(&conn, &text, key_json(&k));
        }
        Cmd::ImportKey {
            conn,
            enclave,
            name,
            key,
            key_type,
        } => {
            let material = zeroize::Zeroizing::new(
                STANDARD
                    .decode(key.trim())
                    .context("the key must be standard base64")?,
            );
            client(&conn)?
                .import_key(&enclave.enclave, &name, &key_type, &material)
                .await?;
            done(
                &conn,
                &format!("Imported key {name}"),
                json!({ "name": name }),
            );
        }
        Cmd::StatKey {
            conn,
            enclave,
            name,
            version,
        } => {
            let c = client(&conn)?;
            let k = c.key_status(&enclave.enclave, &name, version).await?;
            if conn.json {
                output::json(&key_json(&k));
            } else {
                fields(&[
                    ("Name", k.name),
                    ("Version", format!("v{}", k.version)),
                    ("Type", k.r#type),
                    ("Created", time(&k.created_at)),
                    ("Created By", k.created_by),
                ]);
            }
        }
        Cmd::LsKey {
            conn,
            enclave,
            prefix,
        } => {
            let c = client(&conn)?;
            let prefix = prefix.unwrap_or_default();
            let all = all_pages(|at| {
                let (c, prefix, e) = (&c, &prefix, &enclave.enclave);
                async move {
                    let r = c.list_keys(e, prefix, &at, 0).await?;
                    Ok((r.keys, r.continue_at))
                }
            })
            .await?;
            if conn.json {
                output::json(&json!(all.iter().map(key_json).collect::<Vec<_>>()));
            } else {
                table(
                    &["NAME", "VERSION", "TYPE", "CREATED"],
                    &all.iter()
                        .map(|k| {
                            vec![
                                k.name.clone(),
                                format!("v{}", k.version),
                                k.r#type.clone(),
                                time(&k.created_at),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
        Cmd::RmKey {
            conn,
            enclave,
            name,
            version,
            all,
        } => {
            client(&conn)?
                .delete_key(&enclave.enclave, &name, version, all)
                .await?;
            let what = if all {
                format!("Deleted key {name}")
            } else if version > 0 {
                format!("Deleted version {version} of key {name}")
            } else {
                format!("Deleted the latest version of key {name}")
            };
            done(&conn, &what, json!({ "name": name }));
        }
        Cmd::Keygen {
            conn,
            enclave,
            name,
            context,
            length,
        } => {
            let r = client(&conn)?
                .generate_key(&enclave.enclave, &name, context.as_bytes(), length)
                .await?;
            let plaintext = zeroize::Zeroizing::new(b64(&r.plaintext));
            if conn.json {
                output::json(
                    &json!({ "version": r.version, "plaintext": plaintext.as_str(), "ciphertext": b64(&r.ciphertext) }),
                );
            } else {
                fields(&[
                    ("Version", format!("v{}", r.version)),
                    ("Plaintext", plaintext.to_string()),
                    ("Ciphertext", b64(&r.ciphertext)),
                ]);
            }
        }
        Cmd::Encrypt {
            conn,
            enclave,
            name,
            plaintext,
            base64,
            context,
        } => {
            let pt = zeroize::Zeroizing::new(if base64 {
                STANDARD
                    .decode(plaintext.trim())
                    .context("the plaintext is not base64")?
            } else {
                plaintext.into_bytes()
            });
            let r = client(&conn)?
                .encrypt(&enclave.enclave, &name, &pt, context.as_bytes())
                .await?;
            if conn.json {
                output::json(&json!({ "version": r.version, "ciphertext": b64(&r.ciphertext) }));
            } else {
                output::outln!("{}", b64(&r.ciphertext));
            }
        }
        Cmd::Decrypt {
            conn,
            enclave,
            name,
            ciphertext,
            context,
        } => {
            let ct = STANDARD
                .decode(ciphertext.trim())
                .context("the ciphertext is not base64")?;
            let r = client(&conn)?
                .decrypt(&enclave.enclave, &name, 0, &ct, context.as_bytes())
                .await?;
            let pt = zeroize::Zeroizing::new(b64(&r.plaintext));
            if conn.json {
                output::json(&json!({ "plaintext": pt.as_str() }));
            } else {
                output::outln!("{}", pt.as_str());
            }
        }
        Cmd::Mac {
            conn,
            enclave,
            name,
            message,
        } => {
            let r = client(&conn)?
                .mac(&enclave.enclave, &name, 0, message.as_bytes())
                .await?;
            if conn.json {
                output::json(&json!({ "version": r.version, "mac": b64(&r.mac) }));
            } else {
                output::outln!("{}", b64(&r.mac));
            }
        }
        Cmd::AddPolicy {
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
            client(&conn)?.create_policy(&enclave.enclave, &req).await?;
            done(
                &conn,
                &format!("Created policy {name}"),
                json!({ "name": name }),
            );
        }
        Cmd::GetPolicy {
            conn,
            enclave,
            names,
        } => {
            let c = client(&conn)?;
            let mut docs = Vec::new();
            for n in &names {
                let p = c.get_policy(&enclave.enclave, n).await?;
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
        Cmd::StatPolicy {
            conn,
            enclave,
            names,
        } => {
            let c = client(&conn)?;
            let mut rows = Vec::new();
            for n in &names {
                let p = c.policy_status(&enclave.enclave, n).await?;
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
        Cmd::LsPolicy {
            conn,
            enclave,
            prefix,
        } => {
            let c = client(&conn)?;
            let prefix = prefix.unwrap_or_default();
            let all = all_pages(|at| {
                let (c, prefix, e) = (&c, &prefix, &enclave.enclave);
                async move {
                    let r = c.list_policies(e, prefix, &at, 0).await?;
                    Ok((r.policies, r.continue_at))
                }
            })
            .await?;
            if conn.json {
                output::json(&json!(all.iter().map(|p| json!({"name": p.name, "created_at": time(&p.created_at), "created_by": p.created_by})).collect::<Vec<_>>()));
            } else {
                table(
                    &["NAME", "CREATED"],
                    &all.iter()
                        .map(|p| vec![p.name.clone(), time(&p.created_at)])
                        .collect::<Vec<_>>(),
                );
            }
        }
        Cmd::RmPolicy {
            conn,
            enclave,
            name,
        } => {
            client(&conn)?
                .delete_policy(&enclave.enclave, &name)
                .await?;
            done(
                &conn,
                &format!("Deleted policy {name}"),
                json!({ "name": name }),
            );
        }
        Cmd::SetPolicy {
            conn,
            enclave,
            policy,
            identity,
        } => {
            client(&conn)?
                .assign_policy(&enclave.enclave, &policy, &identity)
                .await?;
            done(
                &conn,
                &format!("Assigned policy {policy} to {identity}"),
                json!({ "policy": policy, "identity": identity }),
            );
        }
        Cmd::AddIdentity {
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
                c.create_identity(&enclave.enclave, &req).await?;
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
        Cmd::GetIdentity {
            conn,
            enclave,
            identities,
        } => {
            let c = client(&conn)?;
            let mut all = Vec::new();
            for id in &identities {
                all.push(c.identity_status(&enclave.enclave, id).await?);
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
        Cmd::LsIdentity {
            conn,
            enclave,
            prefix,
        } => {
            let c = client(&conn)?;
            let prefix = prefix.unwrap_or_default();
            let all = all_pages(|at| {
                let (c, prefix, e) = (&c, &prefix, &enclave.enclave);
                async move {
                    let r = c.list_identities(e, prefix, &at, 0).await?;
                    Ok((r.identities, r.continue_at))
                }
            })
            .await?;
            if conn.json {
                output::json(&json!(all.iter().map(identity_json).collect::<Vec<_>>()));
            } else {
                table(
                    &["IDENTITY", "PRIVILEGE", "POLICY"],
                    &all.iter()
                        .map(|i| {
                            vec![
                                i.identity.clone(),
                                privilege_name(i.privilege).to_string(),
                                i.policy.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
        Cmd::RmIdentity {
            conn,
            enclave,
            identity,
        } => {
            client(&conn)?
                .delete_identity(&enclave.enclave, &identity)
                .await?;
            done(
                &conn,
                &format!("Deleted identity {identity}"),
                json!({ "identity": identity }),
            );
        }
    }
    Ok(())
}

fn done(conn: &Conn, text: &str, value: serde_json::Value) {
    if conn.json {
        output::json(&value);
    } else {
        ok(text);
    }
}

/// Streams a backup into `FILE.part`, fsyncs it and renames it into place: a failed backup
/// never leaves a file that looks whole. The file is owner-only, and an existing one is only
/// replaced with `--force`. Progress goes to stderr on a terminal.
async fn backup(conn: &Conn, file: &std::path::Path, force: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    anyhow::ensure!(
        force || !file.exists(),
        "{} exists: choose another file, or replace it with --force",
        file.display()
    );
    let part = file.with_extension("part");
    // A `.part` file is what an interrupted backup left: never a whole backup.
    let _ = std::fs::remove_file(&part);
    let mut out = std::io::BufWriter::new(
        minkms_keystore::private_files::create_new(&part)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", part.display()))?,
    );
    let started = std::time::Instant::now();
    let bar = output::progress(conn.json, "Backup".into(), true);
    let result = client(conn)?
        .backup(|chunk| {
            bar.inc(chunk.len() as u64);
            out.write_all(chunk)
        })
        .await;
    output::finish(&bar);
    let total = match result {
        Ok(total) => total,
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(&part);
            return Err(e.into());
        }
    };
    let file_handle = out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    file_handle.sync_all()?;
    std::fs::rename(&part, file)?;
    let secs = started.elapsed().as_secs_f64();
    done(
        conn,
        &format!(
            "Backup written to {} ({}, {:.1} MB/s)",
            file.display(),
            output::bytes(total),
            total as f64 / 1e6 / secs.max(1e-9)
        ),
        json!({ "file": file, "bytes": total, "seconds": secs }),
    );
    Ok(())
}

async fn stat(conn: &Conn) -> anyhow::Result<()> {
    let status = client(conn)?.cluster_status().await?;
    let total = status.nodes_up.len() + status.nodes_down.len();
    if conn.json {
        let mut nodes = Vec::new();
        for (id, s) in &status.nodes_up {
            nodes.push(json!({"id": id, "host": s.host, "up": true, "version": s.version, "uptime_seconds": s.uptime.as_ref().map_or(0, |d| d.seconds), "state": s.role, "leader": s.leader_id, "commit": s.commit, "hsm": s.hsm, "hsm_active": s.hsm_active}));
        }
        for (id, h) in &status.nodes_down {
            nodes.push(json!({"id": id, "host": h, "up": false}));
        }
        output::json(&json!({ "nodes": nodes, "up": status.nodes_up.len(), "total": total }));
        return Ok(());
    }
    let mut ids: Vec<u32> = status
        .nodes_up
        .keys()
        .chain(status.nodes_down.keys())
        .copied()
        .collect();
    ids.sort();
    for id in ids {
        if let Some(s) = status.nodes_up.get(&id) {
            let dot = output::paint(32, "●");
            output::outln!("{dot}  Node {id} at {}", s.host);
            let leader = if s.leader_id >= 0 {
                format!("Node {}", s.leader_id)
            } else {
                "none".into()
            };
            for (l, v) in [
                ("Version", s.version.clone()),
                ("Uptime", output::uptime(&s.uptime)),
                ("State", s.role.clone()),
                ("Leader", leader),
                ("Commit", s.commit.to_string()),
            ] {
                output::outln!("   {l:<12}{v}");
            }
            for (i, hsm) in s.hsm_active.iter().enumerate() {
                let health = s
                    .hsm_status
                    .get(hsm)
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                output::outln!("   {:<12}{hsm}{health}", if i == 0 { "HSM" } else { "" });
            }
        } else {
            let dot = output::paint(31, "●");
            output::outln!("{dot}  Node {id} at {}", status.nodes_down[&id]);
            output::outln!("   {:<12}down", "State");
        }
        output::outln!();
    }
    let up = status.nodes_up.len();
    if up == total {
        output::outln!(
            "All [{up}/{total}] nodes are up{}",
            if output::tty() { " ✔" } else { "" }
        );
    } else {
        output::outln!(
            "[{up}/{total}] nodes are up{}",
            if output::tty() { " ✗" } else { "" }
        );
    }
    Ok(())
}
