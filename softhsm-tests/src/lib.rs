//! SoftHSM2 set-up for end-to-end tests: one token directory per test process, one token per
//! test, found by label, shared with the `minkms` processes the test starts.
//!
//! Without the module, tests fail under `CI=true` and are skipped loudly elsewhere
//! (`admin/test.sh` installs `softhsm2`).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use minkms_hsm::Pkcs11Hsm;
use secrecy::SecretString;

/// Where Debian's `softhsm2` package puts the module.
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The user PIN of every test token; given to nodes through this environment variable.
pub const PIN: &str = "1234";
/// The environment variable nodes read the PIN from (`pin: {env: ...}` in their config).
pub const PIN_ENV: &str = "MINKMS_TEST_PKCS11_PIN";

/// This process's SoftHSM2: the module and the configuration file every node must be given
/// (`SOFTHSM2_CONF`).
#[derive(Debug, Clone)]
pub struct SoftHsm2 {
    pub module: PathBuf,
    pub conf: PathBuf,
}

/// The SoftHSM2 of this test process, or `None` (skip) when the module is missing outside CI.
pub fn softhsm2() -> Option<SoftHsm2> {
    static SOFTHSM: OnceLock<Option<SoftHsm2>> = OnceLock::new();
    SOFTHSM
        .get_or_init(|| {
            let module = PathBuf::from(
                std::env::var("TEST_PKCS11_MODULE").unwrap_or_else(|_| MODULE.into()),
            );
            if !module.exists() {
                minkms_testkit::not_run(
                    "the SoftHSM2 tests",
                    &format!(
                        "module {} not found (apt-get install softhsm2)",
                        module.display()
                    ),
                );
                return None;
            }
            let dir = tempfile::tempdir().expect("a temporary directory").keep();
            std::fs::create_dir(dir.join("tokens")).expect("a token directory");
            let conf = dir.join("softhsm2.conf");
            let text = format!(
                "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.display()
            );
            std::fs::write(&conf, text).expect("a SoftHSM2 configuration");
            // Before this process loads the module: SoftHSM reads it once, at C_Initialize.
            std::env::set_var("SOFTHSM2_CONF", &conf);
            Some(SoftHsm2 { module, conf })
        })
        .clone()
}

impl SoftHsm2 {
    /// Creates a token labelled `label` (SO PIN "so-pin-1234", user PIN [`PIN`]).
    pub fn token(&self, label: &str) -> &Self {
        Pkcs11Hsm::init_token(
            &self.module,
            label,
            &SecretString::from("so-pin-1234"),
            &SecretString::from(PIN),
        )
        .unwrap_or_else(|e| panic!("cannot create token {label}: {e}"));
        self
    }

    /// The `hsm.pkcs11` entry of a node's config for a token.
    pub fn yaml(&self, token: &str, generate_key: bool) -> String {
        format!(
            "  pkcs11:\n    - module: {}\n      token: {token}\n      pin:\n        env: {PIN_ENV}\n      key: minkms-seal\n      hmac_key: minkms-hmac\n      generate_key: {generate_key}\n",
            self.module.display()
        )
    }

    /// A logged-in read-write session on token `label`, for what a test does on the token
    /// itself (keys with other attributes than minkms makes, wrapping keys out).
    pub fn session(&self, label: &str) -> cryptoki::session::Session {
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        use cryptoki::error::{Error, RvError};
        let ctx = Pkcs11::new(&self.module).expect("the module");
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => panic!("cannot initialize {}: {e}", self.module.display()),
        }
        let slot = ctx
            .get_slots_with_initialized_token()
            .expect("a slot list")
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|t| t.label().trim() == label)
            })
            .unwrap_or_else(|| panic!("no token {label}"));
        let session = ctx.open_rw_session(slot).expect("a session");
        match session.login(
            cryptoki::session::UserType::User,
            Some(&cryptoki::types::AuthPin::new(PIN.into())),
        ) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => panic!("cannot log in to {label}: {e}"),
        }
        session
    }

    /// Makes an AES-256 key labelled `key` on token `label` that may wrap and unwrap but not
    /// encrypt or decrypt (a strict HSM policy).
    pub fn add_wrap_only_key(&self, label: &str, key: &str) {
        use cryptoki::object::Attribute;
        self.session(label)
            .generate_key(
                &cryptoki::mechanism::Mechanism::AesKeyGen,
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(false),
                    Attribute::Decrypt(false),
                    Attribute::Wrap(true),
                    Attribute::Unwrap(true),
                    Attribute::ValueLen(32.into()),
                    Attribute::Label(key.as_bytes().to_vec()),
                ],
            )
            .expect("a wrap-only key");
    }

    /// Environment a node needs to use this SoftHSM2.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SOFTHSM2_CONF", self.conf.display().to_string()),
            (PIN_ENV, PIN.to_string()),
        ]
    }
}

/// Writes `version: v1` + `hsm:` + `hsm_body` as a config file in `dir`; returns its path.
pub fn write_config(dir: &Path, name: &str, hsm_body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("version: v1\nhsm:\n{hsm_body}")).expect("a config file");
    path
}
