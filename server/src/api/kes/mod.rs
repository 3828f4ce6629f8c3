//! The KES v1 API on the node's port (docs/kes.md): the second front end of the same
//! node. A KES call is mapped to the minkms command it stands for and run through the KMS
//! protocol's dispatch; only the paths, the JSON bodies and the error texts are KES's.
//!
//! A caller acts in its own enclave (every identity but the root's lives in exactly one); the
//! root acts in `kes.enclave`. KES's hex identities are the same hashes as `h1:` identities.

mod body;
mod calls;
mod logs;
mod metrics;
pub(crate) mod routes;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::gate::Gate;
use crate::api::http::Body;
use crate::node::state::Node;
use routes::{Call, Route};

/// `kes:` of the config file, when the KES API is on.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The enclave the root acts in.
    pub(crate) enclave: String,
}

/// What the HTTP layer needs to know about a KES request once it is answered.
pub(crate) struct Handled {
    pub(crate) response: Response<Body>,
    /// The command for metrics and the audit log.
    pub(crate) command: &'static str,
    /// The enclave it acted in ("" for calls outside enclaves).
    pub(crate) enclave: String,
}

/// Answers a request to a KES path (see [`routes::claims`]); never an error: KES's clients
/// get every answer as JSON.
pub(crate) async fn handle(
    gate: &Gate,
    settings: &Settings,
    caller: impl FnOnce(&Arc<Node>) -> Arc<Caller>,
    request_timeout: Duration,
    req: http::Request<Incoming>,
) -> Handled {
    let mut command = "KES";
    let mut enclave = String::new();
    let (route, arg) = match routes::find(req.method(), req.uri().path()) {
        Ok(found) => found,
        Err(e) => return handled(Err(e), command, enclave),
    };
    command = route.command.map_or(kes_command(route.call), |c| c.text());
    let counted = route.command.is_some();
    let _active = counted.then(metrics::Active::start);
    let started = std::time::Instant::now();
    let whole = |r: Response<Full<Bytes>>| r.map(Either::Left);
    let result = async {
        if route.call == Call::Version {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "not found"));
        }
        let node = gate.node().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("node is sealed: {}", gate.sealed_reason()),
            )
        })?;
        match route.call {
            Call::Ready => return Ok(whole(body::empty())),
            Call::Metrics => return Ok(whole(body::text(metrics::render(node)))),
            _ => {}
        }
        let caller = caller(node);
        if caller.identity.is_none() {
            return Err(ApiError::bad_request("tls: client certificate is required"));
        }
        enclave = acting_enclave(node, &caller, settings).await?;
        let ctx = calls::Ctx {
            node: node.clone(),
            caller,
            enclave: enclave.clone(),
        };
        match route.call {
            Call::Status => Ok(whole(body::json(&status(node)))),
            Call::Api => Ok(whole(body::json(&routes::api_table()))),
            Call::IdentitySelf => calls::describe_self(&ctx).await.map(whole),
            Call::ErrorLog | Call::AuditLog if !ctx.caller.is_root => Err(ApiError::forbidden()),
            Call::ErrorLog => Ok(logs::errors(&gate.stopping)),
            Call::AuditLog => Ok(logs::audit(&gate.stopping)),
            _ => {
                let body = read_body(route, request_timeout, req).await?;
                calls::answer(&ctx, route, &arg, &body).await.map(whole)
            }
        }
    }
    .await;
    let response =
        result.unwrap_or_else(|e| body::error(body::translate(e, &arg)).map(Either::Left));
    if counted {
        metrics::record(response.status().as_u16(), started.elapsed());
    }
    Handled {
        response,
        command,
        enclave,
    }
}

fn handled(
    result: Result<Response<Full<Bytes>>, ApiError>,
    command: &'static str,
    enclave: String,
) -> Handled {
    Handled {
        response: result.unwrap_or_else(body::error).map(Either::Left),
        command,
        enclave,
    }
}

/// Metrics and audit names of the calls without a minkms command.
fn kes_command(call: Call) -> &'static str {
    match call {
        Call::Ready => "KES:READY",
        Call::Status => "KES:STATUS",
        Call::Metrics => "KES:METRICS",
        Call::Api => "KES:API",
        Call::IdentitySelf => "KES:SELF",
        Call::ErrorLog => "KES:LOG",
        Call::AuditLog => "KES:AUDIT",
        _ => "KES",
    }
}

/// The enclave a caller's KES calls act in: the root's configured one, anyone else's own. A
/// caller in no enclave may do nothing. An identity not found may be being created right now:
/// the answer comes after that write, as for any read.
async fn acting_enclave(
    node: &Node,
    caller: &Caller,
    settings: &Settings,
) -> Result<String, ApiError> {
    if caller.is_root {
        return Ok(settings.enclave.clone());
    }
    let identity = caller.identity.as_ref().ok_or_else(ApiError::forbidden)?;
    let find = || {
        node.keystore
            .state()
            .enclave_of(identity.as_str())
            .map(str::to_string)
    };
    if let Some(enclave) = find() {
        return Ok(enclave);
    }
    let _ = node.cluster.readable("", None).await;
    find().ok_or_else(ApiError::forbidden)
}

/// The call's body within its route's limit. KES answers an over-long or broken body as a
/// bad one (400); one that does not arrive in time is 408 as on every route.
async fn read_body(
    route: &Route,
    request_timeout: Duration,
    req: http::Request<Incoming>,
) -> Result<Bytes, ApiError> {
    let limit = usize::try_from(route.max_body).unwrap_or(usize::MAX);
    crate::api::http::collect_body(req, limit, request_timeout)
        .await
        .map_err(|e| match e.status {
            StatusCode::REQUEST_TIMEOUT => e,
            _ => ApiError::bad_request("invalid request body"),
        })
}

/// `GET /v1/status` in KES's shape (Go's names for the OS and architecture).
fn status(node: &Node) -> serde_json::Value {
    let s = node.status();
    let arch = match s.sys_cpu_arch.as_str() {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let started = std::time::Instant::now();
    let _ = node.keystore.state().enclave_count();
    let latency_ms = started.elapsed().as_millis().max(1) as u64;
    serde_json::json!({
        "version": s.version,
        "os": s.sys_os,
        "arch": arch,
        "uptime": s.uptime.map_or(0, |u| u.seconds.max(0)),
        "num_cpu": s.sys_cpu_num.max(1),
        "num_cpu_used": s.sys_cpu_used.max(1),
        "mem_heap_used": s.heap_mem_in_use.max(1),
        "mem_stack_used": s.stack_mem_in_use.max(1),
        "keystore_latency": latency_ms,
    })
}
