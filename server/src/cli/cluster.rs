//! `minkms ls`, `stat`, `add`, `rm`, `edit`, `backup`, `restore`: the cluster and its nodes.

use super::args::ClusterCmd;
use super::*;

/// Runs one of these commands.
pub(super) async fn run(cmd: ClusterCmd) -> anyhow::Result<()> {
    match cmd {
        ClusterCmd::Ls { conn } => {
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
        ClusterCmd::Stat { conn } => stat(&conn).await?,
        ClusterCmd::Add { mut conn, targets } => {
            let node = match targets.as_slice() {
                [node] => node.clone(),
                [server, node] => {
                    conn.server = Some(server.clone());
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
        ClusterCmd::Rm {
            mut conn,
            targets,
            delete_cluster,
        } => {
            let node = match targets.as_slice() {
                [node] => node.clone(),
                [server, node] => {
                    conn.server = Some(server.clone());
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
        ClusterCmd::Edit {
            mut conn,
            target,
            remove: _,
            accept_fork: true,
        } => {
            conn.server = Some(target.clone());
            client(&conn)?.accept_fork().await?;
            done(
                &conn,
                &format!("{target} takes writes as a cluster of its own"),
                json!({ "server": target, "accepted_fork": true }),
            );
        }
        ClusterCmd::Edit {
            mut conn,
            target,
            remove,
            accept_fork: false,
        } => {
            if remove.len() > 1 {
                eprintln!("warning: removing {} nodes, one at a time; remove more than one failed node only when they are all lost", remove.len());
            }
            conn.server = Some(target.clone());
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
        ClusterCmd::Backup {
            mut conn,
            targets,
            force,
        } => {
            let file = match targets.as_slice() {
                [file] => std::path::PathBuf::from(file),
                [server, file] => {
                    conn.server = Some(server.clone());
                    std::path::PathBuf::from(file)
                }
                _ => anyhow::bail!("usage: minkms backup [SERVER] FILE"),
            };
            backup(&conn, &file, force).await?;
        }
        ClusterCmd::Restore {
            mut conn,
            target,
            file,
        } => {
            conn.server = Some(target.clone());
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
    }
    Ok(())
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
    // `FILE.part`, the whole name kept: `with_extension` would make `state.bak` into
    // `state.part`, which may be another file of the operator's.
    let part = {
        let mut name = file.as_os_str().to_owned();
        name.push(".part");
        std::path::PathBuf::from(name)
    };
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

/// `minkms stat`: every node's state. A sealed node is shown as such (it answers nothing
/// else); the exit status is 1 unless every node is up, so that scripts can use it as a check.
async fn stat(conn: &Conn) -> anyhow::Result<()> {
    let status = match client(conn)?.cluster_status().await {
        Ok(status) => status,
        Err(minkms_client::Error::Api {
            status: 503,
            message,
        }) if message.starts_with("node is sealed") => {
            let server = conn.server()?;
            if conn.json {
                output::json(&json!({
                    "nodes": [{"host": server, "up": false, "sealed": true, "reason": message}],
                    "up": 0,
                    "total": 1
                }));
            } else {
                let dot = output::paint(31, "●");
                output::outln!("{dot}  Node at {server}");
                output::outln!("   {:<12}sealed", "State");
                output::outln!("   {:<12}{message}", "Reason");
                output::outln!();
            }
            anyhow::bail!("{server} is sealed: its cluster's state is not known until it unseals");
        }
        Err(e) => return Err(e.into()),
    };
    let total = status.nodes_up.len() + status.nodes_down.len();
    let up = status.nodes_up.len();
    let all_up = up == total;
    if conn.json {
        let mut nodes = Vec::new();
        for (id, s) in &status.nodes_up {
            nodes.push(json!({"id": id, "host": s.host, "up": true, "version": s.version, "uptime_seconds": s.uptime.as_ref().map_or(0, |d| d.seconds), "state": s.role, "leader": s.leader_id, "commit": s.commit, "hsm": s.hsm, "hsm_active": s.hsm_active}));
        }
        for (id, h) in &status.nodes_down {
            nodes.push(json!({"id": id, "host": h, "up": false}));
        }
        output::json(&json!({ "nodes": nodes, "up": up, "total": total }));
        anyhow::ensure!(all_up, "[{up}/{total}] nodes are up");
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
    if all_up {
        output::outln!(
            "All [{up}/{total}] nodes are up{}",
            if output::tty() { " ✔" } else { "" }
        );
        Ok(())
    } else {
        output::outln!(
            "[{up}/{total}] nodes are up{}",
            if output::tty() { " ✗" } else { "" }
        );
        anyhow::bail!("[{up}/{total}] nodes are up")
    }
}
