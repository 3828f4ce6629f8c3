//! `minkms version` and `minkms log`: one node, the first server given.

use super::*;

/// `minkms version`: this binary's version and the server's.
pub(super) async fn version(conn: Conn) -> anyhow::Result<()> {
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
    Ok(())
}

/// `minkms log`: follows the node's log until it ends.
pub(super) async fn log(conn: Conn, level: String, filter: String) -> anyhow::Result<()> {
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
    Ok(())
}
