//! `minkms ls-hsm`, `add-hsm`, `rm-hsm`: the HSMs that seal the root key.

use super::args::HsmCmd;
use super::*;

/// Runs one of these commands.
pub(super) async fn run(cmd: HsmCmd) -> anyhow::Result<()> {
    match cmd {
        HsmCmd::LsHsm { conn } => {
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
        HsmCmd::AddHsm {
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
        HsmCmd::RmHsm { conn, name } => {
            client(&conn)?.remove_hsm(&name).await?;
            done(
                &conn,
                &format!("Removed the sealed root encryption key of {name}"),
                json!({ "hsm": name }),
            );
        }
    }
    Ok(())
}
