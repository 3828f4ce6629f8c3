//! `minkms version` and `minkms log`: one node, the first server given.

use super::*;
use crate::node::state::COMMIT;

/// `minkms version`: this binary's version, then the server's when one is named. The client's
/// is printed even when the server cannot be reached (the exit status says it could not).
pub(super) async fn version(conn: Conn) -> anyhow::Result<()> {
    let client_version = format!("{VERSION} ({COMMIT})");
    let server = match conn.server() {
        Ok(named) => Some(
            client(&conn)?
                .version(None)
                .await
                .map_err(|e| anyhow::Error::from(e).context(named.to_string())),
        ),
        Err(_) => None,
    };
    if conn.json {
        let server_json = match &server {
            Some(Ok(s)) => {
                json!({ "version": s.version, "commit": s.commit, "api_version": s.api_version, "host": s.host })
            }
            Some(Err(e)) => json!({ "error": format!("{e:#}") }),
            None => serde_json::Value::Null,
        };
        output::json(&json!({ "client": VERSION, "commit": COMMIT, "server": server_json }));
    } else {
        let mut rows = vec![("Client", client_version)];
        if let Some(Ok(s)) = &server {
            rows.push(("Server", format!("{} ({})", s.version, s.commit)));
            rows.push(("API", s.api_version.clone()));
            rows.push(("Host", s.host.clone()));
        }
        fields(&rows);
    }
    match server {
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    }
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

/// `minkms profile`: starts a CPU profile on the first server, waits (or stops at Ctrl-C),
/// stops it and writes the archive the node answers to `file`.
pub(super) async fn profile(
    conn: Conn,
    seconds: u64,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !file.exists(),
        "{} exists: choose another file",
        file.display()
    );
    let c = client(&conn)?;
    let host = c.endpoints()[0].clone();
    let call = |method: http::Method, path: &'static str| {
        let (c, host) = (&c, &host);
        async move {
            let r = c.send_to(host, method, path, bytes::Bytes::new()).await?;
            let content_type = r
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if r.status != http::StatusCode::OK {
                anyhow::bail!(
                    "{host}: {}",
                    minkms_client::error_message(r.status, content_type, &r.body)
                );
            }
            Ok(r.body)
        }
    };
    call(http::Method::POST, "/v1/debug/pprof?cpu=true").await?;
    let bar = output::progress(
        conn.json,
        format!("Profiling {host} for {seconds} s"),
        false,
    );
    tokio::select! {
        () = tokio::time::sleep(std::time::Duration::from_secs(seconds)) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    output::finish(&bar);
    let archive = call(http::Method::DELETE, "/v1/debug/pprof").await?;
    std::fs::write(file, &archive)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    done(
        &conn,
        &format!("Wrote the CPU profile of {host} to {}", file.display()),
        json!({ "host": host, "file": file.display().to_string(), "bytes": archive.len() }),
    );
    Ok(())
}
