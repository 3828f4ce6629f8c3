//! The KES v1 API's wire layer (docs/kes.md on the server side): which path is which call,
//! the method each takes, the table `GET /v1/api` answers, and request bodies read as
//! leniently as Go's `encoding/json` reads them. Pure functions of the request, so the fuzz
//! target and unit tests reach them without a node.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use http::{Method, StatusCode};
use zeroize::Zeroizing;

use crate::{Command, Identity};

/// A request KES would refuse: the status and KES's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KesError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message clients match on.
    pub message: String,
}

impl KesError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

/// What a KES request asks for: one variant per route, in KES's order.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Version,
    Ready,
    Status,
    Metrics,
    Api,
    KeyCreate,
    KeyImport,
    KeyDescribe,
    KeyDelete,
    KeyList,
    KeyGenerate,
    KeyEncrypt,
    KeyDecrypt,
    KeyHmac,
    PolicyDescribe,
    PolicyRead,
    PolicyList,
    IdentityDescribe,
    IdentitySelf,
    IdentityList,
    ErrorLog,
    AuditLog,
}

/// One row of the route table.
#[derive(Debug)]
pub struct Route {
    /// The call.
    pub call: Call,
    /// The method KES declares (a `PUT` route takes `POST` too: KES's client posts).
    pub method: Method,
    /// The path; one ending in `/` takes an argument after it.
    pub path: &'static str,
    /// Largest body, in bytes.
    pub max_body: u64,
    /// Seconds KES gives the call (0: none, for the log streams).
    pub timeout: u64,
    /// The minkms command the call runs, whose policy rules decide it; `None` for calls with
    /// fixed rules.
    pub command: Option<Command>,
}

/// Largest body of the calls that take one: KES's limit, in bytes.
pub const MAX_BODY: u64 = 1_000_000;

const fn route(
    call: Call,
    method: Method,
    path: &'static str,
    max_body: u64,
    timeout: u64,
    command: Option<Command>,
) -> Route {
    Route {
        call,
        method,
        path,
        max_body,
        timeout,
        command,
    }
}

/// Every KES v1 route, in KES's order.
pub static ROUTES: [Route; 22] = [
    route(Call::Version, Method::GET, "/version", 0, 10, None),
    route(Call::Ready, Method::GET, "/v1/ready", 0, 15, None),
    route(Call::Status, Method::GET, "/v1/status", 0, 15, None),
    route(Call::Metrics, Method::GET, "/v1/metrics", 0, 15, None),
    route(Call::Api, Method::GET, "/v1/api", 0, 10, None),
    route(
        Call::KeyCreate,
        Method::PUT,
        "/v1/key/create/",
        0,
        15,
        Some(Command::KeyCreate),
    ),
    route(
        Call::KeyImport,
        Method::PUT,
        "/v1/key/import/",
        MAX_BODY,
        15,
        Some(Command::KeyImport),
    ),
    route(
        Call::KeyDescribe,
        Method::GET,
        "/v1/key/describe/",
        0,
        15,
        Some(Command::KeyStatus),
    ),
    route(
        Call::KeyDelete,
        Method::DELETE,
        "/v1/key/delete/",
        0,
        15,
        Some(Command::KeyDelete),
    ),
    route(
        Call::KeyList,
        Method::GET,
        "/v1/key/list/",
        0,
        15,
        Some(Command::KeyList),
    ),
    route(
        Call::KeyGenerate,
        Method::PUT,
        "/v1/key/generate/",
        MAX_BODY,
        15,
        Some(Command::KeyGenerate),
    ),
    route(
        Call::KeyEncrypt,
        Method::PUT,
        "/v1/key/encrypt/",
        MAX_BODY,
        15,
        Some(Command::KeyEncrypt),
    ),
    route(
        Call::KeyDecrypt,
        Method::PUT,
        "/v1/key/decrypt/",
        MAX_BODY,
        15,
        Some(Command::KeyDecrypt),
    ),
    route(
        Call::KeyHmac,
        Method::PUT,
        "/v1/key/hmac/",
        MAX_BODY,
        15,
        Some(Command::KeyMac),
    ),
    route(
        Call::PolicyDescribe,
        Method::GET,
        "/v1/policy/describe/",
        0,
        15,
        Some(Command::PolicyStatus),
    ),
    route(
        Call::PolicyRead,
        Method::GET,
        "/v1/policy/read/",
        0,
        15,
        Some(Command::PolicyGet),
    ),
    route(
        Call::PolicyList,
        Method::GET,
        "/v1/policy/list/",
        0,
        15,
        Some(Command::PolicyList),
    ),
    route(
        Call::IdentityDescribe,
        Method::GET,
        "/v1/identity/describe/",
        0,
        15,
        Some(Command::IdentityStatus),
    ),
    route(
        Call::IdentitySelf,
        Method::GET,
        "/v1/identity/self/describe",
        0,
        15,
        None,
    ),
    route(
        Call::IdentityList,
        Method::GET,
        "/v1/identity/list/",
        0,
        15,
        Some(Command::IdentityList),
    ),
    route(Call::ErrorLog, Method::GET, "/v1/log/error", 0, 0, None),
    route(Call::AuditLog, Method::GET, "/v1/log/audit", 0, 0, None),
];

/// Whether `path` (as received, before decoding) is a KES route other than `/version`, which
/// the node answers for both protocols.
pub fn claims(path: &str) -> bool {
    [
        "/v1/ready",
        "/v1/status",
        "/v1/metrics",
        "/v1/api",
        "/v1/log/error",
        "/v1/log/audit",
    ]
    .contains(&path)
        || ["/v1/key/", "/v1/policy/", "/v1/identity/"]
            .iter()
            .any(|prefix| path.starts_with(prefix) || path == prefix.trim_end_matches('/'))
}

/// The route of a request and its argument (the rest of the decoded path after the route's
/// prefix; empty for routes without one, and for the bare list paths).
pub fn find(method: &Method, path: &str) -> Result<(&'static Route, String), KesError> {
    let path = percent_decode(path)
        .ok_or_else(|| KesError::bad_request("invalid request: malformed path"))?;
    // The self route sits under the identity prefix: match exact paths first.
    let exact = ROUTES.iter().find(|r| r.path == path);
    let (route, arg) = match exact {
        Some(route) => (route, String::new()),
        None => {
            let found = ROUTES.iter().find_map(|r| {
                let prefix = r.path.strip_suffix('/')?;
                if path == prefix {
                    // A bare path: an empty argument (what KES's client sends to list all).
                    return Some((r, String::new()));
                }
                let arg = path.strip_prefix(r.path)?;
                Some((r, arg.to_string()))
            });
            found.ok_or_else(|| KesError::new(StatusCode::NOT_FOUND, "not found"))?
        }
    };
    let allowed =
        *method == route.method || (route.method == Method::PUT && *method == Method::POST);
    if !allowed {
        return Err(KesError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("received method '{method}' expected '{}'", route.method),
        ));
    }
    Ok((route, arg))
}

/// `GET /v1/api`: the route table as KES describes it.
pub fn api_table() -> serde_json::Value {
    ROUTES
        .iter()
        .map(|r| {
            serde_json::json!({
                "method": r.method.as_str(),
                "path": r.path,
                "max_body": r.max_body,
                "timeout": r.timeout,
            })
        })
        .collect()
}

/// The KES route prefix of a minkms command, for rendering policies as KES path patterns.
pub fn prefix_of(command: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|r| r.command.is_some_and(|c| c.text() == command) && r.path.ends_with('/'))
        .map(|r| r.path)
}

/// Decodes `%XX` escapes; `None` for malformed escapes or non-UTF-8 results. A string without
/// escapes (every enclave name MinIO sends) is borrowed, not copied.
pub fn percent_decode(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !s.contains('%') {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(std::borrow::Cow::Owned)
}

/// The members of a request's JSON object, by lower-cased name.
pub struct Fields(HashMap<String, serde_json::Value>);

/// Members carry plaintexts and imported keys: `Debug` shows only their names.
impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Fields {
    /// Parses a body: the first JSON value, which must be an object (or `null`, or nothing).
    pub fn parse(body: &[u8]) -> Result<Self, KesError> {
        let invalid = || KesError::bad_request("invalid request body");
        let mut values =
            serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>();
        let fields = match values.next() {
            None => HashMap::new(),
            Some(Ok(serde_json::Value::Null)) => HashMap::new(),
            Some(Ok(serde_json::Value::Object(map))) => map
                .into_iter()
                .map(|(k, v)| (k.to_lowercase(), v))
                .collect(),
            Some(_) => return Err(invalid()),
        };
        Ok(Self(fields))
    }

    /// A string member; absent or `null` is empty.
    pub fn string(&self, name: &str) -> Result<String, KesError> {
        match self.0.get(name) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(KesError::bad_request("invalid request body")),
        }
    }

    /// A base64 member (padded or not); absent, `null` and `""` are empty.
    pub fn bytes(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, KesError> {
        let text = Zeroizing::new(self.string(name)?);
        STANDARD
            .decode(text.as_bytes())
            .or_else(|_| STANDARD_NO_PAD.decode(text.as_bytes()))
            .map(Zeroizing::new)
            .map_err(|_| KesError::bad_request("invalid request body"))
    }
}

/// A key in a KES filesystem key store: one file per key, named by the key, holding the
/// standard base64 of this protobuf message (KES since 2023), or JSON in older versions.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct KesKeyVersion {
    /// The key.
    #[prost(message, optional, tag = "1")]
    pub key: Option<KesSecretKey>,
    /// KES's separate HMAC key (minkms derives its MAC key from the key: not carried over).
    #[prost(message, optional, tag = "2")]
    pub hmac_key: Option<KesSecretKey>,
    /// When it was created.
    #[prost(message, optional, tag = "3")]
    pub created_at: Option<prost_types::Timestamp>,
    /// Who created it (hex identity).
    #[prost(string, tag = "4")]
    pub created_by: String,
}

/// Key material and its type in a [`KesKeyVersion`].
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct KesSecretKey {
    /// 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// 1: AES256, 2: ChaCha20 (for an HMAC key: 1, SHA-256).
    #[prost(uint32, tag = "2")]
    pub r#type: u32,
}

/// Key versions carry key material: `Debug` shows everything else.
impl std::fmt::Debug for KesKeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KesKeyVersion")
            .field("key", &self.key)
            .field("created_by", &self.created_by)
            .finish_non_exhaustive()
    }
}

/// Key material is wiped when a decoded key version is dropped: `import-kes` decodes KES's
/// separate HMAC keys too and does not keep them.
impl Drop for KesSecretKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl std::fmt::Debug for KesSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KesSecretKey")
            .field("type", &self.r#type)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .finish()
    }
}

/// The type (`AES256` or `ChaCha20`) and material of a KES key store file's content.
pub fn parse_key_file(content: &[u8]) -> Result<(&'static str, Zeroizing<Vec<u8>>), String> {
    let text = std::str::from_utf8(content)
        .map_err(|_| "not text".to_string())?
        .trim();
    let (kind, key) = if text.starts_with('{') {
        #[derive(serde::Deserialize)]
        struct Legacy {
            bytes: String,
            #[serde(default)]
            algorithm: String,
        }
        impl Drop for Legacy {
            fn drop(&mut self) {
                zeroize::Zeroize::zeroize(&mut self.bytes);
            }
        }
        let legacy: Legacy =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let key = Zeroizing::new(
            STANDARD
                .decode(&legacy.bytes)
                .map_err(|_| "invalid key bytes".to_string())?,
        );
        let kind = match legacy.algorithm.as_str() {
            "" | "AES256" | "AES256-GCM_SHA256" | "AES-256-GCM-HMAC-SHA-256" => "AES256",
            "ChaCha20" | "XCHACHA20-POLY1305" | "ChaCha20Poly1305" => "ChaCha20",
            other => return Err(format!("unknown algorithm '{other}'")),
        };
        (kind, key)
    } else {
        let raw = Zeroizing::new(
            STANDARD
                .decode(text)
                .map_err(|_| "neither JSON nor base64".to_string())?,
        );
        let version = <KesKeyVersion as prost::Message>::decode(raw.as_slice())
            .map_err(|_| "not a KES key version".to_string())?;
        let mut secret = version.key.ok_or_else(|| "no key".to_string())?;
        let kind = match secret.r#type {
            1 => "AES256",
            2 => "ChaCha20",
            other => return Err(format!("unknown key type {other}")),
        };
        (kind, Zeroizing::new(std::mem::take(&mut secret.key)))
    };
    if key.len() != 32 {
        return Err(format!("a key of {} bytes, not 32", key.len()));
    }
    Ok((kind, key))
}

/// minkms policy rules for KES path patterns (a KES policy's `allow` or `deny` list): for
/// each command with a KES route, the name patterns the KES patterns grant it; and a warning
/// for each pattern, or part of one, that has no minkms form.
///
/// A pattern ending in `*` is a prefix: one that covers a whole route (`/v1/key/*`) grants
/// its command on every name, one that reaches into a route's names
/// (`/v1/key/generate/my-app*`) grants the command on that name prefix. A pattern without `*`
/// grants the command on one name. Identity routes take hex identities, converted to `h1:`;
/// a hex prefix has no `h1:` equivalent. Paths without a command (`/v1/status`, `/v1/log/*`,
/// ...) are decided by fixed rules in minkms.
pub fn rules_from_patterns(
    patterns: &[String],
) -> (
    std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    Vec<String>,
) {
    let mut rules: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    let mut warnings = Vec::new();
    let routes: Vec<(&str, &str)> = ROUTES
        .iter()
        .filter(|r| r.path.ends_with('/'))
        .filter_map(|r| Some((r.path, r.command?.text())))
        .collect();
    for pattern in patterns {
        let mut granted = false;
        let mut add = |cmd: &str, name: String, warnings: &mut Vec<String>| {
            let name = if cmd.starts_with("IDENTITY:") && name != "*" {
                match Identity::from_hex(&name) {
                    Some(identity) => identity.to_string(),
                    None => {
                        warnings.push(format!(
                            "{pattern}: an identity pattern other than one hex identity or '*' has no minkms form; left out of {cmd}"
                        ));
                        return;
                    }
                }
            } else {
                name
            };
            rules.entry(cmd.to_string()).or_default().insert(name);
            granted = true;
        };
        match pattern.strip_suffix('*') {
            Some(prefix) => {
                for (route, cmd) in &routes {
                    if route.starts_with(prefix) {
                        add(cmd, "*".into(), &mut warnings);
                    } else if let Some(names) = prefix.strip_prefix(route) {
                        add(cmd, format!("{names}*"), &mut warnings);
                    }
                }
            }
            None => {
                for (route, cmd) in &routes {
                    if let Some(name) = pattern.strip_prefix(route).filter(|n| !n.is_empty()) {
                        add(cmd, name.to_string(), &mut warnings);
                    }
                }
            }
        }
        if !granted
            && !warnings
                .iter()
                .any(|w| w.starts_with(&format!("{pattern}:")))
        {
            warnings.push(format!(
                "{pattern}: no minkms command (minkms decides this path by fixed rules); left out"
            ));
        }
    }
    (rules, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_route_and_argument() {
        let cases = [
            (
                Method::POST,
                "/v1/key/create/my-key",
                Call::KeyCreate,
                "my-key",
            ),
            (
                Method::PUT,
                "/v1/key/create/my-key",
                Call::KeyCreate,
                "my-key",
            ),
            (Method::GET, "/v1/key/list", Call::KeyList, ""),
            (Method::GET, "/v1/key/list/%2A", Call::KeyList, "*"),
            (
                Method::GET,
                "/v1/key/list/my-app%2A",
                Call::KeyList,
                "my-app*",
            ),
            (
                Method::GET,
                "/v1/identity/self/describe",
                Call::IdentitySelf,
                "",
            ),
            (
                Method::GET,
                "/v1/identity/describe/ab12",
                Call::IdentityDescribe,
                "ab12",
            ),
            (Method::GET, "/v1/identity/list", Call::IdentityList, ""),
            (Method::DELETE, "/v1/key/delete/k", Call::KeyDelete, "k"),
            (Method::PUT, "/v1/key/hmac/k", Call::KeyHmac, "k"),
            (Method::GET, "/v1/status", Call::Status, ""),
            (
                Method::GET,
                "/v1/key/describe/a%2Fb",
                Call::KeyDescribe,
                "a/b",
            ),
        ];
        for (method, path, call, arg) in cases {
            let (route, got) = find(&method, path).unwrap();
            assert_eq!((route.call, got.as_str()), (call, arg), "{method} {path}");
        }
    }

    #[test]
    fn a_wrong_method_is_named_and_an_unknown_path_is_not_found() {
        let e = find(&Method::GET, "/v1/key/create/k").unwrap_err();
        assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(e.message, "received method 'GET' expected 'PUT'");
        let e = find(&Method::POST, "/v1/key/list/k").unwrap_err();
        assert_eq!(e.message, "received method 'POST' expected 'GET'");
        assert_eq!(
            find(&Method::GET, "/v1/key/nothing/k").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            find(&Method::GET, "/v1/key/list/%zz").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn only_kes_paths_are_claimed() {
        for path in [
            "/v1/key/create/k",
            "/v1/key/list",
            "/v1/status",
            "/v1/identity/self/describe",
            "/v1/log/audit",
            "/v1/policy/list",
        ] {
            assert!(claims(path), "{path}");
        }
        for path in [
            "/version",
            "/v1/kms/e",
            "/v1/health/ready",
            "/v1/db",
            "/v1/debug/log",
            "/v1/rpc/status",
            "/v1/keys",
        ] {
            assert!(!claims(path), "{path}");
        }
    }

    #[test]
    fn the_api_table_has_every_route_with_kes_limits() {
        let table = api_table();
        let rows = table.as_array().unwrap();
        assert_eq!(rows.len(), 22);
        assert_eq!(
            rows[10],
            serde_json::json!({"method": "PUT", "path": "/v1/key/generate/", "max_body": 1_000_000, "timeout": 15})
        );
        assert_eq!(prefix_of("KEY:GENERATE"), Some("/v1/key/generate/"));
        assert_eq!(prefix_of("KEY:LISTVERSIONS"), None);
    }

    #[test]
    fn requests_are_read_as_go_reads_them() {
        let f =
            Fields::parse(br#"{"Context":"e30=","version":"v1","unknown":[1]} trailing"#).unwrap();
        assert_eq!(f.bytes("context").unwrap().as_slice(), b"{}");
        for empty in [
            &b""[..],
            b"null",
            b"{}",
            br#"{"context":null}"#,
            br#"{"context":""}"#,
        ] {
            assert!(Fields::parse(empty)
                .unwrap()
                .bytes("context")
                .unwrap()
                .is_empty());
        }
        assert_eq!(
            Fields::parse(br#"{"message":"YWJj"}"#)
                .unwrap()
                .bytes("message")
                .unwrap()
                .as_slice(),
            b"abc"
        );
        for bad in [
            &b"[1]"[..],
            b"\"x\"",
            b"{",
            br#"{"context":5}"#,
            br#"{"context":"!!"}"#,
        ] {
            let e = Fields::parse(bad).and_then(|f| f.bytes("context").map(|_| ()));
            assert_eq!(e.unwrap_err().message, "invalid request body", "{bad:?}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("enclave-1").as_deref(), Some("enclave-1"));
        // Names without escapes (the common case) are borrowed, escaped ones decoded anew.
        assert!(matches!(
            percent_decode("enclave-1"),
            Some(std::borrow::Cow::Borrowed(_))
        ));
        assert!(matches!(
            percent_decode("a%20b"),
            Some(std::borrow::Cow::Owned(s)) if s == "a b"
        ));
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("a%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn kes_patterns_become_command_rules() {
        let hex = "978028566eb1280546b1fa3c27fb6d08e0ba39d82adc624b1e0e4db4074e02bd";
        let patterns: Vec<String> = [
            "/v1/key/generate/my-app*",
            "/v1/key/decrypt/my-app*",
            "/v1/key/create/exact-key",
            "/v1/key/list/*",
            "/v1/policy/*",
            "/v1/status",
            "/v1/log/*",
            &format!("/v1/identity/describe/{hex}"),
            "/v1/identity/describe/abc*",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (rules, warnings) = rules_from_patterns(&patterns);
        let shown: Vec<(String, Vec<String>)> = rules
            .into_iter()
            .map(|(c, n)| (c, n.into_iter().collect()))
            .collect();
        let h1 = "h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0";
        let expected: Vec<(String, Vec<String>)> = [
            ("IDENTITY:STATUS", vec![h1]),
            ("KEY:CREATE", vec!["exact-key"]),
            ("KEY:DECRYPT", vec!["my-app*"]),
            ("KEY:GENERATE", vec!["my-app*"]),
            ("KEY:LIST", vec!["*"]),
            ("POLICY:GET", vec!["*"]),
            ("POLICY:LIST", vec!["*"]),
            ("POLICY:STATUS", vec!["*"]),
        ]
        .iter()
        .map(|(c, n)| (c.to_string(), n.iter().map(|s| s.to_string()).collect()))
        .collect();
        assert_eq!(shown, expected);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].starts_with("/v1/status:"));
        assert!(warnings[1].starts_with("/v1/log/*:"));
        assert!(warnings[2].starts_with("/v1/identity/describe/abc*:"));
        // `*` alone grants every command with a route.
        let (all, none) = rules_from_patterns(&["*".to_string()]);
        assert_eq!(all.len(), 14);
        assert!(none.is_empty());
    }

    #[test]
    fn key_files_of_both_kes_formats_parse() {
        let key = [7u8; 32];
        let proto = KesKeyVersion {
            key: Some(KesSecretKey {
                key: key.to_vec(),
                r#type: 2,
            }),
            hmac_key: None,
            created_at: None,
            created_by: String::new(),
        };
        let text = STANDARD.encode(prost::Message::encode_to_vec(&proto));
        let (kind, material) = parse_key_file(text.as_bytes()).unwrap();
        assert_eq!((kind, material.as_slice()), ("ChaCha20", &key[..]));
        let legacy = format!(r#"{{"bytes":"{}","created_by":"x"}}"#, STANDARD.encode(key));
        let (kind, material) = parse_key_file(legacy.as_bytes()).unwrap();
        assert_eq!((kind, material.as_slice()), ("AES256", &key[..]));
        for bad in [&b"{\"bytes\":\"AAAA\"}"[..], b"!!", b"{", &[0xff]] {
            assert!(parse_key_file(bad).is_err());
        }
    }
}
