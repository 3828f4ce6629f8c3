//! The KES v1 routes: which path is which call, the method each takes, and the table
//! `GET /v1/api` answers (docs/kes.md). Pure functions of the method and path, so the fuzz
//! target and unit tests reach them without a node.

use http::{Method, StatusCode};
use minkms_client::Command;

use crate::api::error::ApiError;

/// What a KES request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
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
pub(crate) struct Route {
    pub(crate) call: Call,
    /// The method KES declares (a `PUT` route takes `POST` too: KES's client posts).
    pub(crate) method: Method,
    /// The path; one ending in `/` takes an argument after it.
    pub(crate) path: &'static str,
    /// Largest body, in bytes.
    pub(crate) max_body: u64,
    /// Seconds KES gives the call (0: none, for the log streams).
    pub(crate) timeout: u64,
    /// The minkms command the call runs, whose policy rules decide it; `None` for calls with
    /// fixed rules.
    pub(crate) command: Option<Command>,
}

/// Largest body of the calls that take one: KES's limit.
pub(crate) const MAX_BODY: u64 = 1_000_000;

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
pub(crate) static ROUTES: [Route; 22] = [
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
pub(crate) fn claims(path: &str) -> bool {
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
pub(crate) fn find(method: &Method, path: &str) -> Result<(&'static Route, String), ApiError> {
    let path = crate::api::http::percent_decode(path)
        .ok_or_else(|| ApiError::bad_request("invalid request: malformed path"))?;
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
            found.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not found"))?
        }
    };
    let allowed =
        *method == route.method || (route.method == Method::PUT && *method == Method::POST);
    if !allowed {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("received method '{method}' expected '{}'", route.method),
        ));
    }
    Ok((route, arg))
}

/// `GET /v1/api`: the route table as KES describes it.
pub(crate) fn api_table() -> serde_json::Value {
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
pub(crate) fn prefix_of(command: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|r| r.command.is_some_and(|c| c.text() == command) && r.path.ends_with('/'))
        .map(|r| r.path)
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
}
