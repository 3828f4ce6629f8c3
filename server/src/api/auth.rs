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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use minkms_client::ApiKey;
    use minkms_hsm::{BackendSet, SoftHsm};
    use minkms_keystore::{Command as Change, Keystore, Timestamp};

    /// A keystore with enclave `e`: an Admin, a User with a policy (create and generate `my-*`
    /// but not generate `my-secret`, list keys `a*`, create identities), and a User without one.
    pub(crate) struct World {
        _dir: tempfile::TempDir,
        pub(crate) ks: Keystore,
        pub(crate) root: Identity,
        pub(crate) admin: Identity,
        pub(crate) user: Identity,
        pub(crate) bare: Identity,
    }

    pub(crate) fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let hsm = SoftHsm::parse(&SoftHsm::generate_key()).unwrap();
        let ks = Keystore::open_or_create(dir.path(), &BackendSet::single(Arc::new(hsm))).unwrap();
        let [root, admin, user, bare] = [(); 4].map(|()| ApiKey::generate().identity().clone());
        let at = Timestamp::now();
        let by = || root.to_string();
        let identity = |id: &Identity, privilege| Change::CreateIdentity {
            enclave: "e".into(),
            identity: id.to_string(),
            privilege,
            parent: String::new(),
            tags: Default::default(),
            at,
            by: by(),
        };
        for change in [
            Change::CreateEnclave { name: "e".into(), at, by: by() },
            Change::CreatePolicy {
                enclave: "e".into(),
                name: "p".into(),
                policy_json: r#"{"allow":{"KEY:CREATE":["my-*"],"KEY:GENERATE":["my-*"],"KEY:LIST":["a*"],"IDENTITY:CREATE":["*"]},"deny":{"KEY:GENERATE":["my-secret"]}}"#.into(),
                at,
                by: by(),
            },
            identity(&admin, Privilege::Admin),
            identity(&user, Privilege::User),
            identity(&bare, Privilege::User),
            Change::AssignPolicy {
                enclave: "e".into(),
                identity: user.to_string(),
                policy: "p".into(),
            },
        ] {
            ks.apply(&change).unwrap();
        }
        World {
            _dir: dir,
            ks,
            root,
            admin,
            user,
            bare,
        }
    }

    impl World {
        pub(crate) fn caller(&self, who: Option<&Identity>) -> Caller {
            Caller::new(who.cloned(), &self.root)
        }

        fn access(
            &self,
            who: Option<&Identity>,
            cmd: Command,
            enclave: &str,
        ) -> Result<Access, u16> {
            Access::resolve(&self.caller(who), &self.ks.state(), cmd, enclave)
                .map_err(|e| e.status.as_u16())
        }
    }

    #[test]
    fn the_root_is_recognised_by_its_identity_alone() {
        let w = world();
        assert!(w.caller(Some(&w.root)).is_root);
        assert!(!w.caller(Some(&w.admin)).is_root);
        assert!(!w.caller(None).is_root);
        assert_eq!(w.caller(Some(&w.user)).name(), w.user.to_string());
        assert_eq!(w.caller(None).name(), "");
    }

    #[test]
    fn callers_resolve_to_their_place_in_the_enclave() {
        let w = world();
        let gen = Command::KeyGenerate;
        assert!(matches!(
            w.access(Some(&w.root), gen, "elsewhere"),
            Ok(Access::Root)
        ));
        assert!(matches!(
            w.access(Some(&w.root), Command::ClusterStatus, ""),
            Ok(Access::Root)
        ));
        assert!(matches!(
            w.access(Some(&w.admin), gen, "e"),
            Ok(Access::Admin)
        ));
        assert!(matches!(
            w.access(Some(&w.user), gen, "e"),
            Ok(Access::User(Some(_)))
        ));
        assert!(matches!(
            w.access(Some(&w.bare), gen, "e"),
            Ok(Access::User(None))
        ));
        // Cluster commands are the root's; strangers, anonymous callers and other enclaves
        // all look the same: 403.
        assert_eq!(
            w.access(Some(&w.admin), Command::ClusterStatus, "e").err(),
            Some(403)
        );
        let stranger = ApiKey::generate().identity().clone();
        assert_eq!(w.access(Some(&stranger), gen, "e").err(), Some(403));
        assert_eq!(w.access(None, gen, "e").err(), Some(403));
        assert_eq!(w.access(Some(&w.admin), gen, "nope").err(), Some(403));
    }

    #[test]
    fn a_user_may_do_what_its_policy_allows_and_no_more() {
        let w = world();
        let user = w.access(Some(&w.user), Command::KeyGenerate, "e").unwrap();
        assert!(user.check(Command::KeyGenerate, "my-key").is_ok());
        // Deny wins over a matching allow; no allow means no.
        assert_eq!(
            user.check(Command::KeyGenerate, "my-secret")
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            user.check(Command::KeyGenerate, "other")
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            user.check(Command::KeyDecrypt, "my-key")
                .unwrap_err()
                .status,
            403
        );
        assert!(!user.is_admin());
        let bare = w.access(Some(&w.bare), Command::KeyGenerate, "e").unwrap();
        assert_eq!(
            bare.check(Command::KeyGenerate, "my-key")
                .unwrap_err()
                .status,
            403
        );
        let admin = w.access(Some(&w.admin), Command::KeyGenerate, "e").unwrap();
        assert!(admin.check(Command::KeyDelete, "anything").is_ok() && admin.is_admin());
    }

    #[test]
    fn a_user_lists_only_what_its_policy_allows() {
        let w = world();
        let user = w.access(Some(&w.user), Command::KeyList, "e").unwrap();
        let visible = user.list_filter(Command::KeyList).unwrap();
        assert!(visible("abc") && visible("a"));
        assert!(!visible("b") && !visible("my-key"));
        // A command the policy allows on nothing is refused outright.
        assert_eq!(
            user.list_filter(Command::PolicyList)
                .err()
                .map(|e| e.status.as_u16()),
            Some(403)
        );
        let admin = w.access(Some(&w.admin), Command::KeyList, "e").unwrap();
        assert!(admin.list_filter(Command::KeyList).unwrap()("anything"));
    }
}
