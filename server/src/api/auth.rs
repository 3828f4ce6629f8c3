//! Who may run which command (API.md §4.3): the root (SysAdmin) everything; an enclave's Admin
//! everything in its enclave but cluster and enclave management; a User what its policy allows.

use std::sync::Arc;

use minkms_client::{Command, Identity};
use minkms_keystore::{Privilege, State};
use minkms_policies::{Decision, Policy};

use crate::api::error::ApiError;

/// The authenticated caller of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// From the client certificate; `None` without one.
    pub(crate) identity: Option<Identity>,
    pub(crate) is_root: bool,
}

impl Caller {
    pub(crate) fn new(identity: Option<Identity>, root: &Identity) -> Self {
        let is_root = identity
            .as_ref()
            .is_some_and(|i| constant_time_eq(i.as_str(), root.as_str()));
        Self { identity, is_root }
    }

    /// The `created_by` of what this caller creates.
    pub(crate) fn name(&self) -> String {
        self.identity
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_default()
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// What the caller is inside the addressed enclave.
#[derive(Debug, Clone)]
pub(crate) enum Access {
    Root,
    Admin,
    User(Option<Arc<Policy>>),
}

impl Access {
    /// Resolves the caller in `enclave`. Unknown callers and unknown enclaves look the same to
    /// anyone but the root: 403, so enclave names do not leak.
    pub(crate) fn resolve(
        caller: &Caller,
        state: &State,
        cmd: Command,
        enclave: &str,
    ) -> Result<Self, ApiError> {
        if caller.is_root {
            return Ok(Access::Root);
        }
        if cmd.is_cluster() {
            return Err(ApiError::forbidden());
        }
        let identity = caller.identity.as_ref().ok_or_else(ApiError::forbidden)?;
        match state.principal(enclave, identity.as_str()) {
            Ok(Some(p)) if p.privilege == Privilege::Admin => Ok(Access::Admin),
            Ok(Some(p)) => Ok(Access::User(p.policy)),
            Ok(None) | Err(_) => Err(ApiError::forbidden()),
        }
    }

    /// Whether `cmd` on `resource` is allowed.
    pub(crate) fn check(&self, cmd: Command, resource: &str) -> Result<(), ApiError> {
        match self {
            Access::Root | Access::Admin => Ok(()),
            Access::User(Some(p)) if p.evaluate(cmd.text(), resource) == Decision::Allow => Ok(()),
            Access::User(_) => Err(ApiError::forbidden()),
        }
    }

    /// For list commands: refuses callers whose policy allows the command on nothing, and
    /// otherwise returns which names the caller may see.
    pub(crate) fn list_filter(&self, cmd: Command) -> Result<impl Fn(&str) -> bool + '_, ApiError> {
        let policy = match self {
            Access::Root | Access::Admin => None,
            Access::User(Some(p)) if p.allows_some(cmd.text()) => Some(p),
            Access::User(_) => return Err(ApiError::forbidden()),
        };
        Ok(
            move |name: &str| {
                policy.is_none_or(|p| p.evaluate(cmd.text(), name) == Decision::Allow)
            },
        )
    }

    pub(crate) fn is_admin(&self) -> bool {
        matches!(self, Access::Root | Access::Admin)
    }
}
