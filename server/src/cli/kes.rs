//! `minkms import-kes`: moves a KES deployment into an enclave. The keys of a KES
//! filesystem key store are imported with their material (every ciphertext KES made under them
//! still opens), and a KES config's `policy:` section becomes minkms policies and User
//! identities, its `admin` an Admin of the enclave (docs/kes.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use minkms_client::kes::{parse_key_file, rules_from_patterns};
use minkms_client::wire::{CreateIdentityRequest, CreatePolicyRequest, Rule, RuleSet};
use minkms_client::Identity;

use super::args::{Conn, Enclave};
use super::*;

/// The parts of a KES config file this command reads (KES's other settings are left alone).
#[derive(Debug, Default, serde::Deserialize)]
struct KesConfig {
    #[serde(default)]
    admin: Option<KesAdmin>,
    #[serde(default)]
    policy: BTreeMap<String, KesPolicy>,
    #[serde(default)]
    keystore: Option<KesKeystore>,
}

#[derive(Debug, serde::Deserialize)]
struct KesAdmin {
    identity: String,
}

#[derive(Debug, Default, serde::Deserialize)]
struct KesPolicy {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    identities: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
struct KesKeystore {
    #[serde(default)]
    fs: Option<KesFs>,
}

#[derive(Debug, serde::Deserialize)]
struct KesFs {
    path: PathBuf,
}

fn parse_config(path: &Path) -> anyhow::Result<KesConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read KES config {}", path.display()))?;
    minkms_config::from_yaml(&text)
        .with_context(|| format!("invalid KES config {}", path.display()))
}

/// What was carried over (`--json`).
#[derive(Debug, Default, serde::Serialize)]
struct Imported {
    keys: Vec<String>,
    policies: Vec<String>,
    identities: Vec<String>,
    warnings: Vec<String>,
}

/// Runs `import-kes`.
pub(crate) async fn run(
    conn: Conn,
    enclave: Enclave,
    keys: Option<PathBuf>,
    config_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let enclave = enclave.name()?.to_string();
    let kes = match &config_file {
        Some(path) => parse_config(path)?,
        None => KesConfig::default(),
    };
    // The key store: --keys, else the config's `keystore.fs.path` (relative to the config).
    let keys = keys.or_else(|| {
        let fs = kes.keystore.as_ref()?.fs.as_ref()?;
        let base = config_file.as_deref()?.parent().unwrap_or(Path::new("."));
        Some(base.join(&fs.path))
    });
    anyhow::ensure!(
        keys.is_some() || config_file.is_some(),
        "nothing to import: give --keys DIR (a KES filesystem key store) and/or --config FILE (a KES config)"
    );
    let c = client(&conn)?;
    let mut report = Imported::default();
    let mut lines = Vec::new();
    let warn = |report: &mut Imported, text: String| {
        eprintln!("Warning: {text}");
        report.warnings.push(text);
    };
    if let Some(dir) = &keys {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read KES key store {}", dir.display()))?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .collect();
        files.sort_by_key(|e| e.file_name());
        for file in files {
            let name = file.file_name().to_string_lossy().into_owned();
            let content = zeroize::Zeroizing::new(std::fs::read(file.path())?);
            let (kind, material) = match parse_key_file(&content) {
                Ok(parsed) => parsed,
                Err(why) => {
                    warn(
                        &mut report,
                        format!("{}: not a KES key ({why}); skipped", file.path().display()),
                    );
                    continue;
                }
            };
            match c.import_key(&enclave, &name, kind, &material).await {
                Ok(()) => lines.push(format!("Imported key {name} ({kind})")),
                Err(minkms_client::Error::Api { status: 409, .. }) => {
                    warn(
                        &mut report,
                        format!("key {name} exists in enclave {enclave}; left as it is"),
                    );
                    continue;
                }
                Err(e) => {
                    return Err(anyhow::Error::from(e).context(format!("importing key {name}")))
                }
            }
            report.keys.push(name);
        }
    }
    for (name, policy) in &kes.policy {
        let convert = |patterns: &[String], report: &mut Imported| {
            let (rules, warnings) = rules_from_patterns(patterns);
            for w in warnings {
                warn(report, format!("policy {name}: {w}"));
            }
            rules
                .into_iter()
                .map(|(cmd, names)| {
                    let rules = names.into_iter().map(|n| (n, Rule {})).collect();
                    (cmd, RuleSet { rules })
                })
                .collect()
        };
        let req = CreatePolicyRequest {
            name: name.clone(),
            allow: convert(&policy.allow, &mut report),
            deny: convert(&policy.deny, &mut report),
        };
        c.create_policy(&enclave, &req)
            .await
            .with_context(|| format!("creating policy {name}"))?;
        lines.push(format!("Created policy {name}"));
        report.policies.push(name.clone());
        for hex in &policy.identities {
            let Some(identity) = Identity::from_hex(hex.trim()) else {
                warn(
                    &mut report,
                    format!("policy {name}: '{hex}' is not a KES identity; skipped"),
                );
                continue;
            };
            create_identity(&c, &enclave, &identity, "User").await?;
            c.assign_policy(&enclave, name, identity.as_str())
                .await
                .with_context(|| format!("assigning policy {name} to {identity}"))?;
            lines.push(format!(
                "Created identity {identity} ({hex}) with policy {name}"
            ));
            report.identities.push(identity.to_string());
        }
    }
    if let Some(admin) = &kes.admin {
        match Identity::from_hex(admin.identity.trim()) {
            Some(identity) => {
                create_identity(&c, &enclave, &identity, "Admin").await?;
                lines.push(format!(
                    "Created identity {identity} ({}) as an Admin",
                    admin.identity.trim()
                ));
                report.identities.push(identity.to_string());
            }
            None => warn(
                &mut report,
                format!(
                    "admin identity '{}' is not a KES identity; skipped",
                    admin.identity
                ),
            ),
        }
    }
    if conn.json {
        output::json(&serde_json::to_value(&report)?);
    } else {
        for line in lines {
            ok(&line);
        }
    }
    Ok(())
}

async fn create_identity(
    c: &Client,
    enclave: &str,
    identity: &Identity,
    privilege: &str,
) -> anyhow::Result<()> {
    let req = CreateIdentityRequest {
        identity: identity.to_string(),
        privilege: privilege.into(),
        ..Default::default()
    };
    c.create_identity(enclave, &req)
        .await
        .with_context(|| format!("creating identity {identity}"))
}
