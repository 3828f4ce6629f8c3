//! `minkms add-enclave`, `rm-enclave`, `stat-enclave`, `ls-enclave`.

use super::args::EnclaveCmd;
use super::*;

/// Runs one of these commands.
pub(super) async fn run(cmd: EnclaveCmd) -> anyhow::Result<()> {
    match cmd {
        EnclaveCmd::AddEnclave { conn, name } => {
            client(&conn)?.create_enclave(&name).await?;
            done(
                &conn,
                &format!("Created enclave {name}"),
                json!({ "enclave": name }),
            );
        }
        EnclaveCmd::RmEnclave { conn, name } => {
            client(&conn)?
                .delete_enclave(&name)
                .await
                .map_err(naming(format!("enclave '{name}'")))?;
            done(
                &conn,
                &format!("Deleted enclave {name}"),
                json!({ "enclave": name }),
            );
        }
        EnclaveCmd::StatEnclave { conn, name } => {
            let e = client(&conn)?
                .enclave_status(&name)
                .await
                .map_err(naming(format!("enclave '{name}'")))?;
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
        EnclaveCmd::LsEnclave { conn, prefix } => {
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
            output::listing(
                conn.json,
                &all,
                |e| json!({"name": e.name, "created_at": time(&e.created_at), "created_by": e.created_by}),
                &["NAME", "CREATED"],
                |e| vec![e.name.clone(), time(&e.created_at)],
            );
        }
    }
    Ok(())
}
