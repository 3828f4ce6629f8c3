//! The node's set of HSMs, from `MINIO_KMS_HSM_KEY` and the config's `hsm:` section.

use std::path::Path;
use std::sync::Arc;

use minkms_client::{ApiKey, ServerTrust};
use minkms_hsm::cloudhsm::{CloudHsm, ClusterRef};
use minkms_hsm::{
    BackendSet, HsmError, Pkcs11Config, Pkcs11Hsm, RemoteConfig, RemoteMinkms, SealMechanism,
    SealingBackend, SoftHsm, YubiHsm,
};
use secrecy::SecretString;

use minkms_config::{HsmSection, Pkcs11Section, SecretSource};

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
        mechanism: match section.mechanism {
            minkms_config::Pkcs11Mechanism::AesGcm => SealMechanism::AesGcm,
            minkms_config::Pkcs11Mechanism::AesKwp => SealMechanism::AesKwp,
        },
    };
    Pkcs11Hsm::open(config, id_prefix)
}

/// The remote cluster's API key: `auth.key` inline (MinIO's documented form), or from `auth.env` /
/// `auth.file` to keep it out of the config file.
fn remote_api_key(r: &minkms_config::RemoteSection) -> Result<ApiKey, HsmError> {
    let text = match (&r.auth.key, &r.auth.env, &r.auth.file) {
        (Some(k), None, None) => SecretString::from(k.clone()),
        (None, env, file) if env.is_some() != file.is_some() => secret(
            &SecretSource {
                env: env.clone(),
                file: file.clone(),
            },
            "hsm.minio.minkms.auth",
        )?,
        _ => {
            return Err(HsmError::Config(
                "hsm.minio.minkms.auth: give exactly one of 'key', 'env' or 'file'".into(),
            ))
        }
    };
    ApiKey::parse(secrecy::ExposeSecret::expose_secret(&text))
        .map_err(|e| HsmError::Config(format!("hsm.minio.minkms.auth: {e}")))
}

fn read_ca(path: &Path) -> Result<ServerTrust, HsmError> {
    ServerTrust::from_ca_path(path).map_err(|e| HsmError::Config(e.to_string()))
}

/// Checks what can be checked without contacting any HSM, so that a missing or malformed key
/// fails before the node binds its port.
pub(crate) fn check(soft_key: Option<&str>, section: &HsmSection) -> Result<(), HsmError> {
    if let Some(key) = soft_key {
        SoftHsm::parse(key).map_err(|e| e.within("MINIO_KMS_HSM_KEY"))?;
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

/// One configured HSM: connected, or why not.
type Attempt = Result<Arc<dyn SealingBackend>, HsmError>;

/// The configured HSMs that could be reached, and those that could not.
pub(crate) struct Connected {
    pub(crate) set: BackendSet,
    /// HSMs that cannot be reached now, with why: unsealing may still succeed without them.
    pub(crate) unavailable: Vec<String>,
}

/// Connects every configured HSM, in priority order. Configuration mistakes and refused
/// credentials are fatal ([`HsmError::Config`], [`HsmError::Authentication`]). An HSM that
/// cannot be reached now is left out (others may unseal: the first success wins), unless it is
/// the communication HSM, which every node needs: then the whole attempt is
/// [`HsmError::Unavailable`] and the caller retries.
pub(crate) fn backends(
    soft_key: Option<&str>,
    section: &HsmSection,
) -> Result<Connected, HsmError> {
    // Each entry: the id it will have (a prefix for YubiHSM, whose id names the device
    // serial), and the connected backend or why not.
    let mut attempts: Vec<(String, Attempt)> = Vec::new();
    if let Some(key) = soft_key {
        let soft = SoftHsm::parse(key).map_err(|e| e.within("MINIO_KMS_HSM_KEY"))?;
        attempts.push(("hsm:minio:soft".into(), Ok(Arc::new(soft))));
    }
    for p in &section.pkcs11 {
        attempts.push((
            format!("pkcs11:{}/{}", p.token, p.key),
            pkcs11(p, "pkcs11").map(|b| Arc::new(b) as Arc<dyn SealingBackend>),
        ));
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
            mechanism: SealMechanism::AesGcm,
        };
        let cluster = ClusterRef {
            cluster_id: c.cluster_id.clone(),
            region: c.region.clone(),
            endpoint: c.endpoint.clone(),
        };
        attempts.push((
            format!("cloudhsm:{}/{}", c.token, c.key),
            CloudHsm::open(config, cluster).map(|b| Arc::new(b) as Arc<dyn SealingBackend>),
        ));
    }
    if let Some(y) = &section.yubihsm {
        let password = secret(&y.password, "hsm.yubihsm password")?;
        let connector = YubiHsm::http_connector(&y.connector)?;
        let opened = YubiHsm::open(
            connector,
            y.auth_key,
            secrecy::ExposeSecret::expose_secret(&password).as_bytes(),
            y.hmac_key,
        );
        attempts.push((
            "yubihsm:".into(),
            opened.map(|b| Arc::new(b) as Arc<dyn SealingBackend>),
        ));
    }
    if let Some(r) = section.minio.as_ref().and_then(|m| m.minkms.as_ref()) {
        let api_key = remote_api_key(r)?;
        let trust = match (&r.ca, r.insecure) {
            (_, true) => ServerTrust::Insecure,
            (Some(ca), false) => read_ca(ca)?,
            (None, false) => ServerTrust::System,
        };
        let remote = RemoteMinkms::new(RemoteConfig {
            servers: r.server.clone(),
            enclave: r.enclave.clone(),
            key: r.key.clone(),
            api_key,
            trust,
        })?;
        attempts.push((
            format!("minkms:{}/{}", r.enclave, r.key),
            Ok(Arc::new(remote)),
        ));
    }
    if attempts.is_empty() {
        return Err(no_hsm());
    }
    // The communication HSM's position among the configured entries.
    let is_communication = |expected: &str, position: usize| match &section.communication {
        None => position == 0,
        // A YubiHSM's id names its serial, unknown until it answers.
        Some(id) => id == expected || (expected == "yubihsm" && id.starts_with("yubihsm:")),
    };
    let mut set: Vec<Arc<dyn SealingBackend>> = Vec::new();
    let mut unavailable = Vec::new();
    for (position, (expected, attempt)) in attempts.into_iter().enumerate() {
        match attempt {
            Ok(backend) => set.push(backend),
            Err(HsmError::Unavailable(why)) if !is_communication(&expected, position) => {
                unavailable.push(format!("{expected}: {why}"));
            }
            Err(HsmError::Unavailable(why)) => {
                return Err(HsmError::Unavailable(format!(
                    "the communication HSM {expected} is unreachable: {why}"
                )));
            }
            Err(fatal) => return Err(fatal),
        }
    }
    let communication = match &section.communication {
        None => 0,
        Some(id) => set.iter().position(|b| b.id() == id).ok_or_else(|| {
            HsmError::Config(format!(
                "hsm.communication: no configured HSM has the id '{id}'"
            ))
        })?,
    };
    Ok(Connected {
        set: BackendSet::new(set, communication)?,
        unavailable,
    })
}
