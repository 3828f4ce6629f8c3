//! The node's set of HSMs, from `MINIO_KMS_HSM_KEY` and the config's `hsm:` section.

use std::path::Path;
use std::sync::Arc;

use minkms_client::{ApiKey, ServerTrust};
use minkms_hsm::cloudhsm::{CloudHsm, ClusterRef};
use minkms_hsm::{
    BackendSet, HsmError, Pkcs11Config, Pkcs11Hsm, RemoteConfig, RemoteMinkms, SealingBackend,
    SoftHsm, YubiHsm,
};
use secrecy::SecretString;

use super::config::{HsmSection, Pkcs11Section, SecretSource};

/// Reads a PIN or password from where the config says: an environment variable or a file.
fn secret(source: &SecretSource, what: &str) -> Result<SecretString, HsmError> {
    match (&source.env, &source.file) {
        (Some(var), None) => std::env::var(var).map(SecretString::from).map_err(|_| {
            HsmError::Config(format!("{what}: environment variable {var} is not set"))
        }),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map(|s| SecretString::from(s.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|e| HsmError::Config(format!("{what}: cannot read {}: {e}", file.display()))),
        _ => Err(HsmError::Config(format!(
            "{what}: give exactly one of 'env' or 'file'"
        ))),
    }
}

fn pkcs11(section: &Pkcs11Section, id_prefix: &str) -> Result<Pkcs11Hsm, HsmError> {
    let config = Pkcs11Config {
        module: section.module.clone(),
        token: section.token.clone(),
        serial: section.serial.clone(),
        pin: secret(
            &section.pin,
            &format!("hsm.pkcs11 token '{}' pin", section.token),
        )?,
        key: section.key.clone(),
        hmac_key: section.hmac_key.clone(),
        generate_key: section.generate_key,
    };
    Pkcs11Hsm::open(config, id_prefix)
}

fn read_ca(path: &Path) -> Result<ServerTrust, HsmError> {
    let pem = std::fs::read(path)
        .map_err(|e| HsmError::Config(format!("cannot read {}: {e}", path.display())))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| HsmError::Config(format!("invalid CA file {}: {e}", path.display())))?;
    Ok(ServerTrust::Roots(certs))
}

/// Checks what can be checked without contacting any HSM, so that a missing or malformed key
/// fails before the node binds its port.
pub(crate) fn check(soft_key: Option<&str>, section: &HsmSection) -> Result<(), HsmError> {
    if let Some(key) = soft_key {
        SoftHsm::parse(key).map_err(|e| HsmError::Config(format!("MINIO_KMS_HSM_KEY: {e}")))?;
    }
    let configured = section.pkcs11.len()
        + usize::from(section.cloudhsm.is_some())
        + usize::from(section.yubihsm.is_some())
        + usize::from(section.minio.as_ref().is_some_and(|m| m.minkms.is_some()));
    if soft_key.is_none() && configured == 0 {
        return Err(no_hsm());
    }
    Ok(())
}

fn no_hsm() -> HsmError {
    HsmError::Config(
        "no HSM configured: set MINIO_KMS_HSM_KEY (generate one with 'minkms --soft-hsm') or an hsm: section in the config file".into(),
    )
}

/// Every configured HSM, connected, in priority order. Configuration mistakes are
/// [`HsmError::Config`] or [`HsmError::Authentication`] (fatal); an HSM that cannot be reached
/// now is [`HsmError::Unavailable`] (the caller retries).
pub(crate) fn backends(
    soft_key: Option<&str>,
    section: &HsmSection,
) -> Result<BackendSet, HsmError> {
    let mut set: Vec<Arc<dyn SealingBackend>> = Vec::new();
    if let Some(key) = soft_key {
        set.push(Arc::new(SoftHsm::parse(key).map_err(|e| {
            HsmError::Config(format!("MINIO_KMS_HSM_KEY: {e}"))
        })?));
    }
    for p in &section.pkcs11 {
        set.push(Arc::new(pkcs11(p, "pkcs11")?));
    }
    if let Some(c) = &section.cloudhsm {
        let config = Pkcs11Config {
            module: c.module.clone(),
            token: c.token.clone(),
            serial: None,
            pin: secret(&c.pin, "hsm.cloudhsm pin")?,
            key: c.key.clone(),
            hmac_key: c.hmac_key.clone(),
            generate_key: c.generate_key,
        };
        let cluster = ClusterRef {
            cluster_id: c.cluster_id.clone(),
            region: c.region.clone(),
            endpoint: c.endpoint.clone(),
        };
        set.push(Arc::new(CloudHsm::open(config, cluster)?));
    }
    if let Some(y) = &section.yubihsm {
        let password = secret(&y.password, "hsm.yubihsm password")?;
        let connector = YubiHsm::http_connector(&y.connector)?;
        set.push(Arc::new(YubiHsm::open(
            connector,
            y.auth_key,
            secrecy::ExposeSecret::expose_secret(&password).as_bytes(),
            y.hmac_key,
        )?));
    }
    if let Some(r) = section.minio.as_ref().and_then(|m| m.minkms.as_ref()) {
        let api_key = ApiKey::parse(&r.auth.key)
            .map_err(|e| HsmError::Config(format!("hsm.minio.minkms.auth.key: {e}")))?;
        let trust = match (&r.ca, r.insecure) {
            (_, true) => ServerTrust::Insecure,
            (Some(ca), false) => read_ca(ca)?,
            (None, false) => ServerTrust::System,
        };
        set.push(Arc::new(RemoteMinkms::new(RemoteConfig {
            servers: r.server.clone(),
            enclave: r.enclave.clone(),
            key: r.key.clone(),
            api_key,
            trust,
        })?));
    }
    if set.is_empty() {
        return Err(no_hsm());
    }
    let communication = match &section.communication {
        None => 0,
        Some(id) => set.iter().position(|b| b.id() == id).ok_or_else(|| {
            HsmError::Config(format!(
                "hsm.communication: no configured HSM has the id '{id}'"
            ))
        })?,
    };
    BackendSet::new(set, communication)
}
