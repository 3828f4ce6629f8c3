//! `minkms keygen`, `encrypt`, `decrypt`, `mac`: the operations with a key.

use super::args::CryptoCmd;
use super::*;

/// Runs one of these commands.
pub(super) async fn run(cmd: CryptoCmd) -> anyhow::Result<()> {
    match cmd {
        CryptoCmd::Keygen {
            conn,
            enclave,
            name,
            context,
            length,
        } => {
            let r = client(&conn)?
                .generate_key(enclave.name()?, &name, context.as_bytes(), length)
                .await
                .map_err(naming(format!(
                    "key '{name}' in enclave '{}'",
                    enclave.name()?
                )))?;
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
        CryptoCmd::Encrypt {
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
                .encrypt(enclave.name()?, &name, &pt, context.as_bytes())
                .await
                .map_err(naming(format!(
                    "key '{name}' in enclave '{}'",
                    enclave.name()?
                )))?;
            if conn.json {
                output::json(&json!({ "version": r.version, "ciphertext": b64(&r.ciphertext) }));
            } else {
                output::outln!("{}", b64(&r.ciphertext));
            }
        }
        CryptoCmd::Decrypt {
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
                .decrypt(enclave.name()?, &name, 0, &ct, context.as_bytes())
                .await
                .map_err(naming(format!(
                    "key '{name}' in enclave '{}'",
                    enclave.name()?
                )))?;
            let pt = zeroize::Zeroizing::new(b64(&r.plaintext));
            if conn.json {
                output::json(&json!({ "plaintext": pt.as_str() }));
            } else {
                output::outln!("{}", pt.as_str());
            }
        }
        CryptoCmd::Mac {
            conn,
            enclave,
            name,
            message,
        } => {
            let r = client(&conn)?
                .mac(enclave.name()?, &name, 0, message.as_bytes())
                .await
                .map_err(naming(format!(
                    "key '{name}' in enclave '{}'",
                    enclave.name()?
                )))?;
            if conn.json {
                output::json(&json!({ "version": r.version, "mac": b64(&r.mac) }));
            } else {
                output::outln!("{}", b64(&r.mac));
            }
        }
    }
    Ok(())
}
