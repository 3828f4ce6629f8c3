//! `minkms add-key`, `import-key`, `stat-key`, `ls-key`, `rm-key`: the keys of an enclave.

use super::args::KeyCmd;
use super::*;

/// Runs one of these commands.
pub(super) async fn run(cmd: KeyCmd) -> anyhow::Result<()> {
    match cmd {
        KeyCmd::AddKey {
            conn,
            enclave,
            name,
            key_type,
        } => {
            let c = client(&conn)?;
            // `add-key` on an existing key adds a version (CLI.md): try to create, then rotate.
            let added_version = match c.create_key(enclave.name()?, &name, &key_type, false).await {
                Err(minkms_client::Error::Api { status: 409, .. }) => {
                    c.create_key(enclave.name()?, &name, &key_type, true)
                        .await?;
                    true
                }
                other => {
                    other?;
                    false
                }
            };
            let k = c
                .key_status(enclave.name()?, &name, 0)
                .await
                .map_err(naming(format!(
                    "key '{name}' in enclave '{}'",
                    enclave.name()?
                )))?;
            let text = if added_version {
                format!("Added version {} of key {name}", k.version)
            } else {
                format!("Created key {name}")
            };
            done(&conn, &text, key_json(&k));
        }
        KeyCmd::ImportKey {
            conn,
            enclave,
            name,
            key,
            wrapped: Some(file),
            hash,
            key_type,
        } => {
            debug_assert!(key.is_none(), "clap keeps KEY and --wrapped apart");
            let wrapped = read_wrapped(&file)?;
            client(&conn)?
                .import_wrapped_key(enclave.name()?, &name, &key_type, &wrapped, &hash)
                .await?;
            done(
                &conn,
                &format!("Imported key {name}"),
                json!({ "name": name }),
            );
        }
        KeyCmd::ImportKey {
            conn,
            enclave,
            name,
            key,
            key_type,
            ..
        } => {
            let key = key.context("give the key material, or --wrapped FILE")?;
            let material = zeroize::Zeroizing::new(
                STANDARD
                    .decode(key.trim())
                    .context("the key must be standard base64")?,
            );
            client(&conn)?
                .import_key(enclave.name()?, &name, &key_type, &material)
                .await?;
            done(
                &conn,
                &format!("Imported key {name}"),
                json!({ "name": name }),
            );
        }
        KeyCmd::WrappingKey { conn, enclave } => {
            let k = client(&conn)?.wrapping_key(enclave.name()?).await?;
            let pem = output::pem("PUBLIC KEY", &k.public_key);
            let fingerprint =
                hex::encode(ring::digest::digest(&ring::digest::SHA256, &k.public_key));
            if conn.json {
                output::json(&json!({
                    "public_key": pem.as_str(),
                    "sha256": fingerprint,
                    "created_by": k.created_by,
                }));
            } else {
                output::out!("{}", pem.as_str());
            }
        }
        KeyCmd::StatKey {
            conn,
            enclave,
            name,
            version,
        } => {
            let c = client(&conn)?;
            let k = c
                .key_status(enclave.name()?, &name, version)
                .await
                .map_err(naming(format!(
                    "key '{name}' in enclave '{}'",
                    enclave.name()?
                )))?;
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
        KeyCmd::LsKey {
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
                    let r = c.list_keys(e, prefix, &at, 0).await?;
                    Ok((r.keys, r.continue_at))
                }
            })
            .await?;
            output::listing(
                conn.json,
                &all,
                key_json,
                &["NAME", "VERSION", "TYPE", "CREATED"],
                |k| {
                    vec![
                        k.name.clone(),
                        format!("v{}", k.version),
                        k.r#type.clone(),
                        time(&k.created_at),
                    ]
                },
            );
        }
        KeyCmd::RmKey {
            conn,
            enclave,
            name,
            version,
            all,
        } => {
            client(&conn)?
                .delete_key(enclave.name()?, &name, version, all)
                .await
                .map_err(naming(format!(
                    "key '{name}' in enclave '{}'",
                    enclave.name()?
                )))?;
            let what = if all {
                format!("Deleted key {name}")
            } else if version > 0 {
                format!("Deleted version {version} of key {name}")
            } else {
                format!("Deleted the latest version of key {name}")
            };
            done(&conn, &what, json!({ "name": name }));
        }
    }
    Ok(())
}

fn key_json(k: &minkms_client::wire::KeyStatusResponse) -> serde_json::Value {
    json!({ "name": k.name, "version": k.version, "type": k.r#type, "created_at": time(&k.created_at), "created_by": k.created_by })
}

/// A wrapped key file: its bytes as they are, or decoded when the file is base64 text (what
/// cloud KMS tools and scripts often write).
fn read_wrapped(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(file)
        .with_context(|| format!("cannot read the wrapped key {}", file.display()))?;
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Ok(STANDARD.decode(text.as_bytes()).unwrap_or(bytes))
}
