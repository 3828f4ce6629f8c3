//! The YAML configuration file of `minkms server --config FILE`: its types, its parser (which
//! refuses unknown keys and never repeats a secret in an error), and the reference of every
//! key (`minkms config-reference`, docs/config.md). Its own crate, so that the fuzz target
//! parses with exactly this code. A typical file:
//!
//! ```yaml
//! version: v1
//! tls:
//!   certs:
//!     - key: /etc/minkms/certs/private.key
//!       cert: /etc/minkms/certs/public.crt
//!   ca: /etc/minkms/certs/CAs
//! log:
//!   level: info
//! ```

// Code that runs inside the server never panics: errors are answers (see SECURITY.md).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// The configuration file. Unknown keys are errors: a typo must not silently drop a setting.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file format's version: `v1` (the only one), or unset.
    #[serde(default)]
    pub version: Option<String>,
    /// The certificate the node serves to clients.
    #[serde(default)]
    pub tls: TlsSection,
    /// The node's own log (stderr).
    #[serde(default)]
    pub log: LogSection,
    /// HSMs besides the soft HSM of `MINIO_KMS_HSM_KEY`.
    #[serde(default)]
    pub hsm: HsmSection,
    /// What one client may cost the server.
    #[serde(default)]
    pub limits: Limits,
    /// The audit log: one JSON line per API request.
    #[serde(default)]
    pub audit: AuditSection,
    /// The KES v1 API, answered on the same port (docs/kes.md).
    #[serde(default)]
    pub kes: KesSection,
}

/// `kes:`: the KES v1 API next to the KMS protocol, for clients (MinIO's `MINIO_KMS_KES_*`)
/// that speak KES.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KesSection {
    /// Answer the KES API's paths (`/v1/key/...`, `/v1/status`, ...); off, they are not found.
    pub enabled: bool,
    /// The enclave the root's KES calls act in (any other identity acts in its own).
    pub enclave: String,
}

impl Default for KesSection {
    fn default() -> Self {
        Self {
            enabled: true,
            enclave: "default".into(),
        }
    }
}

/// `audit:`: the audit log.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// File to append JSON lines to (`-` for stdout); no audit log when unset.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// `limits:`: what one client may cost the server.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections served at once. When all are taken, a new client takes the slot of the
    /// connection idle the longest; only while every connection is in a request does it wait
    /// in the listen backlog.
    pub max_connections: usize,
    /// Connections one client address may hold; beyond it, the address's own idle connection
    /// gives way, or the new one is closed. A load balancer in front of the nodes reaches
    /// them from one address: raise it to what the balancer opens.
    pub max_connections_per_address: usize,
    /// Seconds a new connection has for its first request's headers (TLS handshake and
    /// protocol detection included), and a request for its body (slow clients, slow-loris).
    /// A later request's headers are bounded by `idle_timeout`: until they end, the
    /// connection is idle.
    pub request_timeout: u64,
    /// Seconds a connection may stay open between requests (HTTP/1.1 keep-alive; HTTP/2 with
    /// no open stream, pings do not count).
    pub idle_timeout: u64,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// MiB that must be free on the data volume for a write to be taken; below it (or on a
    /// read-only volume) writes get 507 and reads are still served. 0 turns the check off.
    pub min_free_mib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_address: 1024,
            request_timeout: 30,
            idle_timeout: 120,
            max_concurrent_streams: 256,
            min_free_mib: 64,
        }
    }
}

/// `hsm:`: HSMs besides the soft HSM of `MINIO_KMS_HSM_KEY`. Order of priority (unsealing
/// tries them in this order, and the first is the communication HSM unless `communication`
/// names another): the soft HSM, `pkcs11` entries in order, `cloudhsm`, `yubihsm`,
/// `minio.minkms`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HsmSection {
    /// Id of the HSM that derives the communication secret and root API key.
    #[serde(default)]
    pub communication: Option<String>,
    /// PKCS#11 tokens (a hardware HSM, SoftHSM2), in order of priority.
    #[serde(default)]
    pub pkcs11: Vec<Pkcs11Section>,
    /// An AWS CloudHSM cluster, through AWS's PKCS#11 library.
    #[serde(default)]
    pub cloudhsm: Option<CloudHsmSection>,
    /// A YubiHSM 2, through yubihsm-connector.
    #[serde(default)]
    pub yubihsm: Option<YubiHsmSection>,
    /// Another minkms cluster holding the sealing key ("HSM on MinIO KMS").
    #[serde(default)]
    pub minio: Option<MinioSection>,
}

/// Where a secret (PIN, password) comes from: an environment variable or a file, never the
/// config file itself.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of the environment variable that holds it.
    #[serde(default)]
    pub env: Option<String>,
    /// File that holds it (trailing newline ignored).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// Deserializes the section of a secret (`{env: …}`, `{file: …}`) and refuses anything else
/// without repeating it: serde's own "invalid type" error quotes the value, and a PIN written
/// inline (`pin: 1234`) would end up in the error, the terminal and the service's journal.
fn secret_section<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    use serde::de::{Error, MapAccess, Visitor};

    struct Section<T>(std::marker::PhantomData<T>);

    fn inline<E: Error>() -> E {
        E::custom(
            "a secret is not written in the config file: give `env: VARIABLE` (an environment \
             variable that holds it) or `file: PATH` (a file that holds it)",
        )
    }

    /// Every kind of value but a map: the same error, which names no value.
    macro_rules! refuse {
        ($($method:ident($($arg:ty)?)),* $(,)?) => {$(
            fn $method<E: Error>(self $(, _: $arg)?) -> Result<T, E> {
                Err(inline())
            }
        )*};
    }

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Section<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a section with `env` or `file`")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
            Err(inline())
        }

        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<T, D2::Error> {
            d.deserialize_map(self)
        }

        fn visit_newtype_struct<D2: serde::Deserializer<'de>>(self, _: D2) -> Result<T, D2::Error> {
            Err(inline())
        }

        fn visit_enum<A: serde::de::EnumAccess<'de>>(self, _: A) -> Result<T, A::Error> {
            Err(inline())
        }

        refuse!(
            visit_bool(bool),
            visit_i64(i64),
            visit_i128(i128),
            visit_u64(u64),
            visit_u128(u128),
            visit_f64(f64),
            visit_char(char),
            visit_str(&str),
            visit_bytes(&[u8]),
            visit_none(),
            visit_unit(),
        );
    }

    deserializer.deserialize_map(Section(std::marker::PhantomData))
}

/// `hsm.pkcs11[]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Section {
    /// Path of the PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so` for SoftHSM2).
    pub module: PathBuf,
    /// Label of the token.
    pub token: String,
    /// Serial number of the token, when several have the same label.
    #[serde(default)]
    pub serial: Option<String>,
    /// The user PIN.
    #[serde(deserialize_with = "secret_section")]
    #[schemars(with = "SecretSource")]
    pub pin: SecretSource,
    /// Label of the AES-256 key that seals the root key.
    pub key: String,
    /// Label of the HMAC key that derives the root API key and the peer secret; without it this
    /// token can unseal but not be the communication HSM.
    #[serde(default)]
    pub hmac_key: Option<String>,
    /// Create the keys on the token at start-up when they are missing.
    #[serde(default)]
    pub generate_key: bool,
    /// How the key seals the root key: `aes-gcm` (it may encrypt and decrypt) or `aes-kwp`
    /// (it may only wrap and unwrap: a fresh key per blob is wrapped with RFC 5649).
    #[serde(default)]
    pub mechanism: Pkcs11Mechanism,
}

/// `hsm.pkcs11[].mechanism`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Pkcs11Mechanism {
    /// `CKM_AES_GCM` with the token's key.
    #[default]
    AesGcm,
    /// `CKM_AES_KEY_WRAP_PAD` of a fresh key per blob, for keys with `CKA_WRAP` but not
    /// `CKA_ENCRYPT`.
    AesKwp,
}

/// By hand, so that a wrong value is answered with the values there are (serde's own text
/// names the Rust type instead).
impl<'de> Deserialize<'de> for Pkcs11Mechanism {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(
            d,
            "mechanism",
            [("aes-gcm", Self::AesGcm), ("aes-kwp", Self::AesKwp)],
        )
    }
}

/// Reads one of two named `choices`. A value that is none of them is answered with the
/// choices, and repeated only when it is a word (` 'aes-cbc'`): a longer value is text that a
/// wrong indentation folded into the field, and a line of it may be a PIN or a key.
fn one_of<'de, D: serde::Deserializer<'de>, T>(
    d: D,
    what: &str,
    choices: [(&str, T); 2],
) -> Result<T, D::Error> {
    let value = String::deserialize(d)?;
    let [(first, _), (second, _)] = &choices;
    let word = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let shown = if word {
        format!(" '{value}'")
    } else {
        String::new()
    };
    let message = format!("unknown {what}{shown}: {first} or {second}");
    match choices.into_iter().find(|(name, _)| *name == value) {
        Some((_, choice)) => Ok(choice),
        None => Err(serde::de::Error::custom(message)),
    }
}

/// `hsm.cloudhsm`: the PKCS#11 fields pointed at AWS's library, plus the cluster to check.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudHsmSection {
    /// The cluster (`cluster-…`), whose state is checked at start-up and for `stat`.
    pub cluster_id: String,
    /// AWS region of the cluster; `AWS_REGION` when unset.
    #[serde(default)]
    pub region: Option<String>,
    /// Another CloudHSM API endpoint than AWS's (a VPC endpoint).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path of AWS's PKCS#11 library.
    #[serde(default = "default_cloudhsm_module")]
    pub module: PathBuf,
    /// Label of the token.
    #[serde(default = "default_cloudhsm_token")]
    pub token: String,
    /// The crypto user's PIN, `USER:PASSWORD` as AWS's library expects it.
    #[serde(deserialize_with = "secret_section")]
    #[schemars(with = "SecretSource")]
    pub pin: SecretSource,
    /// Label of the AES-256 key that seals the root key.
    pub key: String,
    /// Label of the HMAC key that derives the root API key and the peer secret.
    #[serde(default)]
    pub hmac_key: Option<String>,
    /// Create the keys at start-up when they are missing.
    #[serde(default)]
    pub generate_key: bool,
}

fn default_cloudhsm_module() -> PathBuf {
    PathBuf::from("/opt/cloudhsm/lib/libcloudhsm_pkcs11.so")
}

fn default_cloudhsm_token() -> String {
    "hsm1".into()
}

/// `hsm.yubihsm`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct YubiHsmSection {
    /// `http://HOST:PORT` of yubihsm-connector.
    pub connector: String,
    /// Object id of the authentication key.
    pub auth_key: u16,
    /// Password of the authentication key.
    #[serde(deserialize_with = "secret_section")]
    #[schemars(with = "SecretSource")]
    pub password: SecretSource,
    /// Object id of the HMAC-SHA256 key: the only key used, for sealing (a key derived per
    /// seal) and for the root API key.
    pub hmac_key: u16,
}

/// `hsm.minio`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinioSection {
    /// The remote minkms cluster.
    #[serde(default)]
    pub minkms: Option<RemoteSection>,
}

/// `hsm.minio.minkms`: another minkms cluster that seals this node's root key.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteSection {
    /// Its nodes, `HOST:PORT` (`https://` optional).
    pub server: Vec<String>,
    /// The enclave on it that holds the key.
    pub enclave: String,
    /// The key that seals this node's root key.
    pub key: String,
    /// The API key of an identity that may encrypt and decrypt with that key.
    #[serde(deserialize_with = "secret_section")]
    #[schemars(with = "RemoteAuth")]
    pub auth: RemoteAuth,
    /// PEM file of CA certificates for the remote servers (default: the system's roots).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Accept any certificate from the remote servers: for test set-ups only.
    #[serde(default)]
    pub insecure: bool,
}

/// `hsm.minio.minkms.auth`: the remote API key inline (`key`, MinIO's documented form) or, better,
/// from an environment variable or a file.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteAuth {
    /// The `k1:` API key itself.
    #[serde(default)]
    pub key: Option<String>,
    /// Name of the environment variable that holds it.
    #[serde(default)]
    pub env: Option<String>,
    /// File that holds it.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// Never shows an inline API key: a config printed for debugging must not carry it.
impl std::fmt::Debug for RemoteAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteAuth")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("env", &self.env)
            .field("file", &self.file)
            .finish()
    }
}

/// `tls:`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Server certificates; the first is used.
    #[serde(default)]
    pub certs: Vec<CertPair>,
    /// Accepted so that MinIO's configuration files work unchanged, and not used: client
    /// certificates are never chain-verified (a client's identity is the hash of its public
    /// key), and nodes authenticate each other with keys derived from the communication HSM,
    /// not with certificates from a CA.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

/// One certificate and its key.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertPair {
    /// PEM file of the private key.
    pub key: PathBuf,
    /// PEM file of the certificate chain, the node's certificate first.
    pub cert: PathBuf,
}

/// `log:`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `text` or `json`.
    #[serde(default)]
    pub format: Option<LogFormat>,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    #[serde(default)]
    pub level: Option<String>,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// By hand, like [`Pkcs11Mechanism`]'s.
impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(
            d,
            "log format",
            [("text", Self::Text), ("json", Self::Json)],
        )
    }
}

impl Config {
    /// Reads and checks a YAML file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            path.is_file(),
            "config file {} does not exist",
            path.display()
        );
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses and checks the text of a config file (fuzzed: `fuzz/fuzz_targets/config_file.rs`).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: Config = from_yaml(text)?;
        if let Some(v) = &config.version {
            anyhow::ensure!(v == "v1", "unknown version '{v}', expected 'v1'");
        }
        Ok(config)
    }
}

/// Reads YAML text into `T` through the `config` crate, first refusing what would make that
/// crate exhaust memory: a top-level key that names a list element (it reads `tls[4000000000]`
/// as a path and grows a list to that size before `T` can call the key unknown), and aliases
/// that expand too far. Every YAML file minkms reads goes through here.
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    values_within(text, MAX_VALUES)?;
    let file = config::File::from_str(text, config::FileFormat::Yaml);
    let keys = config::Source::collect(&file)
        .map_err(|e| anyhow::anyhow!(without_strings(&e.to_string())))?;
    if let Some(key) = keys.keys().find(|k| k.contains(['[', ']'])) {
        anyhow::bail!(
            "'{key}' is not a key of the config file: keys name sections and settings, \
             never elements of a list"
        );
    }
    config::Config::builder()
        .add_source(file)
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| anyhow::anyhow!(without_strings(&e.to_string())))
}

/// `message` with every string value it quotes (`string "…"`, as serde and `config` name a
/// value of the wrong type) replaced by `a string`. Such a value is whatever text sits where a
/// section belongs, and a line folded into it by a wrong indentation may be a PIN or a key.
fn without_strings(message: &str) -> String {
    const QUOTED: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(QUOTED) {
        out.push_str(&rest[..at]);
        out.push_str("a string");
        // The value is quoted as Rust's Debug quotes it: `\"` and `\\` inside, `"` at its end.
        let mut chars = rest[at + QUOTED.len()..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = Some(at + QUOTED.len() + i + 1);
                    break;
                }
                _ => {}
            }
        }
        // An unterminated quote (not serde's shape): drop everything after it.
        let Some(end) = end else { return out };
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The most values (scalars, lists and maps) a config file may hold once its aliases are
/// expanded. A real file holds a few hundred.
const MAX_VALUES: u64 = 100_000;

/// Refuses a file whose aliases expand to more than `limit` values. The YAML loader copies
/// the value an alias names at each use, so ten lists of ten aliases each, a few hundred
/// bytes, would become 10^10 values in memory. Counted on the parser's events, before
/// anything is built; a file the parser rejects is left for the loader to report.
fn values_within(text: &str, limit: u64) -> anyhow::Result<()> {
    use yaml_rust2::parser::{Event, Parser};
    let mut parser = Parser::new_from_str(text);
    // Values seen so far, aliases counted as what they name; the size of each anchored value;
    // the anchor and the count at the start of each list or map still open.
    let mut values: u64 = 0;
    let mut sizes = std::collections::HashMap::new();
    let mut open = Vec::new();
    while let Ok((event, _)) = parser.next_token() {
        match event {
            Event::StreamEnd => break,
            // An alias of a scalar counts one, as the scalar did: only lists and maps are
            // sized.
            Event::Scalar(..) => values += 1,
            Event::Alias(anchor) => values += sizes.get(&anchor).copied().unwrap_or(1),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                open.push((anchor, values));
                values += 1;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = open.pop().filter(|(anchor, _)| *anchor != 0) {
                    sizes.insert(anchor, values - start);
                }
            }
            _ => {}
        }
        anyhow::ensure!(
            values <= limit,
            "the config file holds more than {limit} values once its aliases (*name) are \
             expanded"
        );
    }
    Ok(())
}

/// The configuration reference (docs/config.md): every key of the file, generated from these
/// structs' JSON schema, so the reference cannot drift from what the parser accepts.
pub fn reference() -> String {
    let schema = schemars::schema_for!(Config);
    let root = schema.as_value();
    let mut out = String::from(
        "# Configuration reference\n\n\
         Every key of the YAML file given with `minkms server --config FILE`. Generated from \
         the parser's own definitions by `minkms config-reference` (`admin/gen-docs.sh`); a \
         test fails when this file is stale. Unknown keys are errors. Secrets (PINs, \
         passwords, API keys) are never written in the file: `env` names an environment \
         variable, `file` a file that holds them.\n",
    );
    let Some(props) = root.get("properties").and_then(|p| p.as_object()) else {
        return out;
    };
    for (name, prop) in props {
        let (schema, description) = resolve(root, prop);
        out.push_str(&format!("\n## `{name}`\n\n{description}\n"));
        let mut rows = Vec::new();
        section_rows(root, schema, name, &mut rows);
        if rows.is_empty() {
            rows.push(row(root, name, prop, false));
        }
        out.push_str("\n| key | type | required | default | meaning |\n|---|---|---|---|---|\n");
        for r in rows {
            out.push_str(&r);
        }
    }
    out
}

type Json = serde_json::Value;

/// A property's own schema (through `$ref`, `allOf`, and `anyOf` with null) and its description
/// (the field's, else its type's).
fn resolve<'a>(root: &'a Json, prop: &'a Json) -> (&'a Json, String) {
    let mut schema = prop;
    let mut description = prop.get("description").and_then(|d| d.as_str());
    for _ in 0..4 {
        let next = if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
            r.strip_prefix("#/$defs/")
                .and_then(|n| root.get("$defs").and_then(|d| d.get(n)))
        } else if let Some(list) = schema
            .get("allOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(|l| l.as_array())
        {
            list.iter()
                .find(|s| s.get("type") != Some(&Json::from("null")))
        } else {
            None
        };
        let Some(next) = next else { break };
        schema = next;
        description = description.or_else(|| schema.get("description").and_then(|d| d.as_str()));
    }
    (schema, description.unwrap_or("").replace('\n', " "))
}

/// The rows of every key under the object `schema`, at `path`.
fn section_rows(root: &Json, schema: &Json, path: &str, rows: &mut Vec<String>) {
    let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for (name, prop) in props {
        let key = format!("{path}.{name}");
        let (inner, _) = resolve(root, prop);
        let items = inner.get("items").map(|i| resolve(root, i).0);
        if inner.get("properties").is_some() {
            rows.push(row(root, &key, prop, required.contains(&name.as_str())));
            section_rows(root, inner, &key, rows);
        } else if let Some(items) = items.filter(|i| i.get("properties").is_some()) {
            rows.push(row(root, &key, prop, required.contains(&name.as_str())));
            section_rows(root, items, &format!("{key}[]"), rows);
        } else {
            rows.push(row(root, &key, prop, required.contains(&name.as_str())));
        }
    }
}

/// One table row: key, type, required, default, meaning.
fn row(root: &Json, key: &str, prop: &Json, required: bool) -> String {
    let (schema, description) = resolve(root, prop);
    let kind = type_of(root, schema);
    let default = match prop.get("default") {
        None | Some(Json::Null) => String::new(),
        Some(Json::Object(o)) if o.is_empty() => String::new(),
        Some(Json::Array(a)) if a.is_empty() => String::new(),
        Some(v) => format!("`{}`", v.to_string().trim_matches('"')),
    };
    let required = if required { "yes" } else { "" };
    format!("| `{key}` | {kind} | {required} | {default} | {description} |\n")
}

fn type_of(root: &Json, schema: &Json) -> String {
    if let Some(values) = schema.get("enum").and_then(|e| e.as_array()) {
        return values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if let Some(alts) = schema.get("oneOf").and_then(|e| e.as_array()) {
        return alts
            .iter()
            .filter_map(|a| {
                a.get("const")
                    .or_else(|| a.get("enum").and_then(|e| e.get(0)))
            })
            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    let kind = match schema.get("type") {
        Some(Json::String(t)) => t.clone(),
        Some(Json::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str())
            .find(|t| *t != "null")
            .unwrap_or("any")
            .to_string(),
        _ => "any".into(),
    };
    match kind.as_str() {
        "array" => {
            let items = schema.get("items").map(|i| resolve(root, i).0);
            match items {
                Some(i) if i.get("properties").is_some() => "list of sections".into(),
                Some(i) => format!("list of {}", type_of(root, i)),
                None => "list".into(),
            }
        }
        "object" => "section".into(),
        "integer" => "integer".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    fn load(yaml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        Config::load(&path)
    }

    #[test]
    fn seed_config_parses() {
        let c = load("version: v1\ntls:\n  certs:\n    - key: /k\n      cert: /c\n  ca: /ca\n")
            .unwrap();
        assert_eq!(c.tls.certs.len(), 1);
        assert_eq!(c.tls.certs[0].cert.to_str(), Some("/c"));
        assert_eq!(c.tls.ca.as_deref().and_then(|p| p.to_str()), Some("/ca"));
    }

    #[test]
    fn hsm_sections_parse() {
        let c = load(
            "version: v1\nhsm:\n  communication: pkcs11:t/k\n  pkcs11:\n    - module: /m.so\n      token: t\n      pin:\n        env: PIN\n      key: k\n      hmac_key: h\n  yubihsm:\n    connector: http://127.0.0.1:12345\n    auth_key: 1\n    password:\n      file: /p\n    hmac_key: 256\n  minio:\n    minkms:\n      server:\n      - kms0:7373\n      - kms1:7373\n      enclave: e\n      key: k\n      auth:\n        key: k1:abc\n",
        )
        .unwrap();
        assert_eq!(c.hsm.pkcs11[0].token, "t");
        assert_eq!(c.hsm.pkcs11[0].pin.env.as_deref(), Some("PIN"));
        assert_eq!(c.hsm.yubihsm.as_ref().unwrap().hmac_key, 256);
        let remote = c.hsm.minio.unwrap().minkms.unwrap();
        assert_eq!(remote.server, ["kms0:7373", "kms1:7373"]);
        assert_eq!(remote.auth.key.as_deref(), Some("k1:abc"));
    }

    /// A secret written inline where a section is expected: the error says what to write
    /// instead and never repeats the value, whatever its YAML type.
    #[test]
    fn errors_about_secret_fields_never_contain_the_secret() {
        let secret = "Sup3rSecretPin-4242";
        let pkcs11 = |pin: &str| {
            format!("hsm:\n  pkcs11:\n    - module: /m.so\n      token: t\n      pin: {pin}\n      key: k\n")
        };
        let cloudhsm = |pin: &str| {
            format!("hsm:\n  cloudhsm:\n    cluster_id: cluster-1\n    pin: {pin}\n    key: k\n")
        };
        let yubihsm = |pw: &str| {
            format!("hsm:\n  yubihsm:\n    connector: http://127.0.0.1:1\n    auth_key: 1\n    password: {pw}\n    hmac_key: 2\n")
        };
        let remote = |auth: &str| {
            format!("hsm:\n  minio:\n    minkms:\n      server: [a:7373]\n      enclave: e\n      key: k\n      auth: {auth}\n")
        };
        let values = [
            secret.to_string(),
            format!("\"{secret}\""),
            format!("[{secret}]"),
            "424242424242".into(),
            "4242.4242".into(),
            "true".into(),
        ];
        for make in [
            &pkcs11 as &dyn Fn(&str) -> String,
            &cloudhsm,
            &yubihsm,
            &remote,
        ] {
            for value in &values {
                let text = make(value);
                let err = format!("{:#}", Config::parse(&text).unwrap_err());
                let bare = value.trim_matches(|c| c == '"' || c == '[' || c == ']');
                assert!(!err.contains(bare), "{err}");
                assert!(err.contains("env: VARIABLE"), "{err}");
            }
        }
        // The sections themselves still parse.
        assert!(Config::parse(&pkcs11("{env: PIN}")).is_ok());
        let parsed = Config::parse(&remote("{key: k1:abc}")).unwrap();
        assert!(
            !format!("{parsed:?}").contains("k1:abc"),
            "Debug shows the API key"
        );
    }

    #[test]
    fn typos_and_unknown_versions_are_errors() {
        assert!(load("version: v1\ntsl: {}\n").is_err());
        assert!(load("version: v2\n").is_err());
        assert!(load("version: v1\ntls:\n  certs:\n    - key: /k\n").is_err());
        assert!(Config::load(std::path::Path::new("/nonexistent/minkms.yaml")).is_err());
    }

    /// The parser reads a top-level key as a path: `k[N]` is element N of an array at `k`, and
    /// it grows that array to N + 1 elements before our own checks see the key. A file must
    /// not make the server allocate what its index says (found by the fuzz smoke run).
    #[test]
    fn array_indices_in_keys_are_errors_not_allocations() {
        for text in [
            "K[1555555555555]:\n",
            "tls[-1555555555555]: {}\n",
            "version: v1\nhsm[4000000000]:\n  pkcs11: []\n",
        ] {
            let err = format!("{:#}", Config::parse(text).unwrap_err());
            assert!(
                err.contains("not a key of the config file"),
                "{text:?}: {err}"
            );
        }
    }

    /// A string where a section belongs is named as a string, never repeated: it may hold a
    /// secret that a mis-indented line folded into it (found by the fuzz smoke run, with the
    /// whole file one folded scalar).
    #[test]
    fn errors_never_repeat_a_string_of_the_file() {
        let secret = "Sup3rSecretPin4242";
        for text in [
            format!(">\n  pin: {secret}\n"),
            format!("tls: |\n  pin: {secret}\n"),
            format!("hsm:\n  pkcs11: \"pin: {secret}\"\n"),
            format!("tls:\n  certs: \"a\\\"b {secret}\"\n"),
        ] {
            let err = format!("{:#}", Config::parse(&text).unwrap_err());
            assert!(!err.contains(secret), "{text:?}: {err}");
            assert!(err.contains("invalid type: a string"), "{text:?}: {err}");
        }
        // Where a choice belongs: a word is repeated (it is what the operator chose), more
        // than a word is not.
        let pkcs11 = |mechanism: &str| {
            format!("hsm:\n  pkcs11:\n    - module: /m.so\n      token: t\n      pin: {{env: PIN}}\n      key: k\n      mechanism: {mechanism}\n")
        };
        for (text, says) in [
            (
                format!("log:\n  format: |\n    pin: {secret}\n"),
                "unknown log format: text or json",
            ),
            (
                "log:\n  format: yaml\n".into(),
                "unknown log format 'yaml': text or json",
            ),
            (
                pkcs11(&format!("\"pin: {secret}\"")),
                "unknown mechanism: aes-gcm or aes-kwp",
            ),
        ] {
            let err = format!("{:#}", Config::parse(&text).unwrap_err());
            assert!(
                !err.contains(secret) && err.contains(says),
                "{text:?}: {err}"
            );
        }
    }

    /// `levels` lists, each holding ten aliases of the one before: a few hundred bytes that
    /// the YAML loader copies out to 10^levels values.
    fn alias_bomb(levels: usize) -> String {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..levels {
            let aliases = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{aliases}]\n"));
        }
        text
    }

    /// Exact counts: every scalar, list and map is one value, an alias counts what its anchor
    /// named, and the limit is the most that passes.
    #[test]
    fn values_are_counted_with_what_aliases_name() {
        let counts = |text: &str, values: u64| {
            assert!(
                super::values_within(text, values).is_ok(),
                "{text:?} within {values}"
            );
            assert!(
                super::values_within(text, values - 1).is_err(),
                "{text:?} over {}",
                values - 1
            );
        };
        counts("a: b\n", 3);
        counts("a: [x, y]\nb: {c: d}\n", 9);
        // The list and its two scalars (3), then an alias of it (3 more), and one of a scalar.
        counts("a: &l [x, y]\nb: *l\nc: &s z\nd: *s\n", 13);
    }

    #[test]
    fn quoted_strings_are_taken_out_of_messages() {
        use super::without_strings;
        assert_eq!(
            without_strings(r#"invalid type: string "a\"b\\", expected a map for key `tls`"#),
            "invalid type: a string, expected a map for key `tls`"
        );
        assert_eq!(
            without_strings(r#"string "x" and string "y" end"#),
            "a string and a string end"
        );
        assert_eq!(
            without_strings(r#"cut: string "never ends"#),
            "cut: a string"
        );
        assert_eq!(without_strings("no strings"), "no strings");
    }

    /// Aliases let a short file name more values than memory holds (found with a 324-byte
    /// file that took a node past 4 GiB); the file is refused before the loader copies them.
    #[test]
    fn aliases_that_expand_too_far_are_errors() {
        for levels in [6, 9, 12] {
            let err = format!("{:#}", Config::parse(&alias_bomb(levels)).unwrap_err());
            assert!(err.contains("more than 100000 values"), "{levels}: {err}");
        }
        // An alias that repeats a section, as an operator would write one, still works.
        let c = Config::parse(
            "version: v1\nhsm:\n  pkcs11:\n    - module: /a.so\n      token: a\n      pin: &pin\n        env: PIN\n      key: k\n    - module: /b.so\n      token: b\n      pin: *pin\n      key: k\n",
        )
        .unwrap();
        assert_eq!(c.hsm.pkcs11[1].pin.env.as_deref(), Some("PIN"));
    }

    #[test]
    fn pkcs11_mechanisms_parse_and_others_are_named() {
        let token = |mechanism: &str| {
            format!("version: v1\nhsm:\n  pkcs11:\n    - module: /m.so\n      token: t\n      pin:\n        env: PIN\n      key: k\n{mechanism}")
        };
        let mechanism = |text: &str| load(&token(text)).map(|c| c.hsm.pkcs11[0].mechanism);
        assert_eq!(mechanism("").unwrap(), super::Pkcs11Mechanism::AesGcm);
        assert_eq!(
            mechanism("      mechanism: aes-kwp\n").unwrap(),
            super::Pkcs11Mechanism::AesKwp
        );
        let err = format!("{:#}", mechanism("      mechanism: aes-cbc\n").unwrap_err());
        assert!(err.contains("aes-cbc") && err.contains("aes-kwp"), "{err}");
    }
}
