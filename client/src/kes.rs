//! The KES v1 API's wire layer (docs/kes.md on the server side): which path is which call,
//! the method each takes, the table `GET /v1/api` answers, and request bodies read as
//! leniently as Go's `encoding/json` reads them. Pure functions of the request, so the fuzz
//! target and unit tests reach them without a node.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use http::{Method, StatusCode};
use zeroize::Zeroizing;

use crate::Command;

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

/// Decodes `%XX` escapes; `None` for malformed escapes or non-UTF-8 results.
pub fn percent_decode(s: &str) -> Option<String> {
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
    String::from_utf8(out).ok()
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
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("a%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
