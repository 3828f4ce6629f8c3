//! PKCS#11 HSMs through `cryptoki` (tested against SoftHSM2; also the base of the CloudHSM
//! backend).
//!
//! Seal: `CKM_AES_GCM` with an AES-256 key found by label; the IV actually used is stored in
//! the blob (some HSMs choose it). With `mechanism: aes-kwp`, for keys allowed to wrap but not
//! to encrypt: a fresh 256-bit key per blob is put in the session, wrapped by the token's key
//! with `CKM_AES_KEY_WRAP_PAD` (RFC 5649) and destroyed; it seals the secret with AES-256-GCM
//! here. Unsealing unwraps it with `C_UnwrapKey` into an extractable session object that is
//! read and destroyed at once. Blobs record their mechanism, so either kind unseals whatever
//! the configuration says now. Derive: `CKM_SHA256_HMAC` with a `CKK_GENERIC_SECRET` key,
//! since HSMs (SoftHSM among them) refuse HMAC with an AES key.
//!
//! Facts this module is built around (HSM-NOTES.md): tokens are found by label, never by slot
//! number; a module is initialized once per process; sessions are `Send` but not `Sync`; a bad
//! tag is `CKR_GENERAL_ERROR`; a wrong PIN must not be retried (real HSMs lock users out).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretBox, SecretSlice, SecretString};
use zeroize::Zeroizing;

use crate::{HsmError, SealMechanism, SealedBlob, SealingBackend, Secret32};

/// Where and how to reach a key on a PKCS#11 token.
#[derive(Debug, Clone)]
pub struct Pkcs11Config {
    /// The module (`.so`) to load.
    pub module: PathBuf,
    /// Token label; the token is found by label, never by slot number.
    pub token: String,
    /// Token serial number, when several tokens share a label.
    pub serial: Option<String>,
    /// The user PIN.
    pub pin: SecretString,
    /// Label of the AES-256 key that seals.
    pub key: String,
    /// Label of the generic-secret key that derives (needed on the communication HSM).
    pub hmac_key: Option<String>,
    /// Create missing keys instead of failing (off by default: a typo in a label must not
    /// silently make a new key that no blob was sealed with).
    pub generate_key: bool,
    /// How the key seals: AES-GCM (the key may encrypt) or AES-KWP (it may only wrap).
    pub mechanism: SealMechanism,
}

/// Modules are initialized once per process and shared: `C_Initialize` twice is an error, and
/// SoftHSM reads its configuration only then.
fn module(path: &Path) -> Result<Arc<Pkcs11>, HsmError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Pkcs11>>>> = OnceLock::new();
    let mut modules = MODULES.get_or_init(Default::default).lock();
    if let Some(m) = modules.get(path) {
        return Ok(m.clone());
    }
    let ctx = Pkcs11::new(path).map_err(|e| {
        HsmError::Config(format!(
            "failed to load PKCS#11 module {}: {e}",
            path.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(HsmError::Unavailable(format!(
                "failed to initialize PKCS#11 module {}: {}",
                path.display(),
                short(&e)
            )))
        }
    }
    let ctx = Arc::new(ctx);
    modules.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// A PKCS#11 error in a few words (cryptoki's own texts are paragraphs of the standard).
fn short(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, f) => format!("{f:?}: {rv:?}"),
        other => other.to_string(),
    }
}

fn is_auth_failure(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::PinIncorrect
                | RvError::PinInvalid
                | RvError::PinLenRange
                | RvError::PinLocked
                | RvError::PinExpired,
            _
        )
    )
}

fn is_session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceError
                | RvError::DeviceRemoved
                | RvError::UserNotLoggedIn
                | RvError::TokenNotPresent,
            _
        )
    )
}

/// A key on a PKCS#11 token.
pub struct Pkcs11Hsm {
    id: String,
    config: Pkcs11Config,
    ctx: Arc<Pkcs11>,
    slot: Slot,
    /// Idle logged-in sessions. A session is used by one thread at a time.
    sessions: Mutex<Vec<Session>>,
}

impl std::fmt::Debug for Pkcs11Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Hsm")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Hsm {
    /// Loads the module, finds the token, logs in and finds (or, with `generate_key`, creates)
    /// the keys. `id_prefix` names the kind of HSM in the backend id (`pkcs11`, `cloudhsm`).
    pub fn open(config: Pkcs11Config, id_prefix: &str) -> Result<Self, HsmError> {
        let ctx = module(&config.module)?;
        let slot = find_token(&ctx, &config)?;
        let hsm = Self {
            id: format!("{id_prefix}:{}/{}", config.token, config.key),
            config,
            ctx,
            slot,
            sessions: Mutex::new(Vec::new()),
        };
        hsm.with_session(|s| {
            hsm.find_key(s, KeyType::AES, &hsm.config.key)?;
            if let Some(label) = &hsm.config.hmac_key {
                hsm.find_key(s, KeyType::GENERIC_SECRET, label)?;
            }
            Ok(())
        })?;
        Ok(hsm)
    }

    /// Initializes a new token labelled `label` in the module's free slot, with its SO and user
    /// PINs: what `softhsm2-util --init-token --free` does, for set-up scripts and tests.
    pub fn init_token(
        module_path: &Path,
        label: &str,
        so_pin: &SecretString,
        user_pin: &SecretString,
    ) -> Result<(), HsmError> {
        let _one_at_a_time = SLOT_LIST.lock();
        let ctx = module(module_path)?;
        let fail = |what: &str, e: CkError| {
            HsmError::Config(format!("cannot {what} token '{label}': {}", short(&e)))
        };
        let free = ctx
            .get_all_slots()
            .map_err(|e| fail("list slots for", e))?
            .into_iter()
            .find(|s| ctx.get_token_info(*s).is_ok_and(|t| !t.token_initialized()))
            .ok_or_else(|| {
                HsmError::Config(format!("module {} has no free slot", module_path.display()))
            })?;
        let so = AuthPin::new(so_pin.expose_secret().into());
        ctx.init_token(free, &so, label)
            .map_err(|e| fail("initialize", e))?;
        let session = ctx.open_rw_session(free).map_err(|e| fail("open", e))?;
        session
            .login(UserType::So, Some(&so))
            .map_err(|e| fail("log in to", e))?;
        session
            .init_pin(&AuthPin::new(user_pin.expose_secret().into()))
            .map_err(|e| fail("set the user PIN of", e))?;
        Ok(())
    }

    fn open_session(&self) -> Result<Session, HsmError> {
        let session = self.ctx.open_rw_session(self.slot).map_err(|e| {
            HsmError::Unavailable(format!(
                "token '{}': cannot open a session: {}",
                self.config.token,
                short(&e)
            ))
        })?;
        let pin = AuthPin::new(self.config.pin.expose_secret().into());
        match session.login(UserType::User, Some(&pin)) {
            // Login state is per token and application: a second session is already in.
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) if is_auth_failure(&e) => Err(HsmError::Authentication(format!(
                "token '{}' of module {} refused the PIN ({})",
                self.config.token,
                self.config.module.display(),
                short(&e)
            ))),
            Err(e) => Err(HsmError::Unavailable(format!(
                "token '{}': login failed: {}",
                self.config.token,
                short(&e)
            ))),
        }
    }

    /// Runs `f` with a logged-in session from the pool; a session the HSM lost is replaced
    /// (new session, new login) and `f` retried once.
    fn with_session<T>(&self, f: impl Fn(&Session) -> Result<T, Op>) -> Result<T, HsmError> {
        for attempt in 0..2 {
            let session = match self.sessions.lock().pop() {
                Some(s) => s,
                None => self.open_session()?,
            };
            match f(&session) {
                Ok(v) => {
                    self.sessions.lock().push(session);
                    return Ok(v);
                }
                Err(Op::Ck(e)) if is_session_lost(&e) && attempt == 0 => {
                    tracing::warn!(hsm = %self.id, error = %short(&e), "PKCS#11 session lost; reopening");
                    drop(session);
                    continue;
                }
                Err(Op::LoggedOut) if attempt == 0 => {
                    tracing::warn!(hsm = %self.id, "logged out by the token; logging in again");
                    drop(session);
                    continue;
                }
                Err(other) => {
                    self.sessions.lock().push(session);
                    return Err(other.into_hsm(self));
                }
            }
        }
        Err(HsmError::Unavailable(format!(
            "token '{}' keeps losing sessions",
            self.config.token
        )))
    }

    fn find_key(&self, s: &Session, kind: KeyType, label: &str) -> Result<ObjectHandle, Op> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(kind),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let found = s.find_objects(&template).map_err(Op::Ck)?;
        if found.is_empty() && !logged_in(s)? {
            // The token logged this application out (a reset, a failover): its private keys
            // are invisible, not missing.
            return Err(Op::LoggedOut);
        }
        match found.as_slice() {
            [one] => Ok(*one),
            [] if self.config.generate_key => self.generate(s, kind, label),
            [] => Err(Op::Fatal(format!(
                "no {} key labelled '{label}' on token '{}' of module {}",
                if kind == KeyType::AES {
                    "AES"
                } else {
                    "generic-secret (HMAC)"
                },
                self.config.token,
                self.config.module.display()
            ))),
            many => Err(Op::Fatal(format!(
                "{} keys are labelled '{label}' on token '{}': labels must be unique",
                many.len(),
                self.config.token
            ))),
        }
    }

    fn generate(&self, s: &Session, kind: KeyType, label: &str) -> Result<ObjectHandle, Op> {
        let aes = kind == KeyType::AES;
        let wraps = aes && self.config.mechanism == SealMechanism::AesKwp;
        // Every usage attribute is set explicitly: SoftHSM defaults them to true.
        let template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(aes && !wraps),
            Attribute::Decrypt(aes && !wraps),
            Attribute::Sign(!aes),
            Attribute::Verify(!aes),
            Attribute::Wrap(wraps),
            Attribute::Unwrap(wraps),
            Attribute::Derive(false),
            Attribute::ValueLen(32.into()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let mechanism = if aes {
            Mechanism::AesKeyGen
        } else {
            Mechanism::GenericSecretKeyGen
        };
        tracing::info!(hsm = %self.id, label, "generating a missing key on the HSM");
        s.generate_key(&mechanism, &template).map_err(Op::Ck)
    }
}

impl Pkcs11Hsm {
    /// A key the token will not use as asked: say which attribute it lacks and which
    /// mechanism fits it, not a bare return code.
    fn not_permitted(&self, e: CkError, what: &str, other: SealMechanism) -> Op {
        match e {
            CkError::Pkcs11(RvError::KeyFunctionNotPermitted, _) => Op::Fatal(format!(
                "key '{}' on token '{}' may not {what} (its CKA_{} is false): a key that may only {} needs 'mechanism: {}'",
                self.config.key,
                self.config.token,
                what.to_ascii_uppercase(),
                if other == SealMechanism::AesKwp { "wrap and unwrap" } else { "encrypt and decrypt" },
                other.as_str(),
            )),
            e => Op::Ck(e),
        }
    }

    /// Seals with a fresh key wrapped by the token's (see the module).
    fn seal_wrapped(&self, plaintext: &[u8], context: &[u8]) -> Result<SealedBlob, HsmError> {
        let aad = SealedBlob::associated_data_for(SealMechanism::AesKwp, &self.id, context);
        let mut dek = Zeroizing::new([0u8; 32]);
        let mut iv = [0u8; IV_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, dek.as_mut());
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut iv);
        let wrapped = self.with_session(|s| {
            let key = self.find_key(s, KeyType::AES, &self.config.key)?;
            let mut template = [
                Attribute::Value(dek.to_vec()),
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ];
            let created = s.create_object(&template);
            if let Attribute::Value(copy) = &mut template[0] {
                zeroize::Zeroize::zeroize(copy);
            }
            let copy = created.map_err(Op::Ck)?;
            let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, key, copy);
            let _ = s.destroy_object(copy);
            wrapped.map_err(|e| self.not_permitted(e, "wrap", SealMechanism::AesGcm))
        })?;
        let sealed = Aes256Gcm::new(dek.as_ref().into())
            .encrypt(
                (&iv).into(),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| HsmError::Unavailable("cannot seal".into()))?;
        let ciphertext = [wrapped, sealed].concat();
        Ok(SealedBlob::new(&self.id, iv.to_vec(), ciphertext)?
            .with_mechanism(SealMechanism::AesKwp))
    }

    fn unseal_wrapped(
        &self,
        blob: &SealedBlob,
        context: &[u8],
    ) -> Result<SecretSlice<u8>, HsmError> {
        let aad = SealedBlob::associated_data_for(SealMechanism::AesKwp, &self.id, context);
        let (wrapped, sealed) = blob
            .ciphertext()
            .split_at_checked(WRAPPED_KEY_LEN)
            .ok_or(HsmError::InvalidCiphertext)?;
        let iv: [u8; IV_LEN] = blob
            .nonce()
            .try_into()
            .map_err(|_| HsmError::InvalidCiphertext)?;
        let dek = self.with_session(|s| {
            let key = self.find_key(s, KeyType::AES, &self.config.key)?;
            let copy = match s.unwrap_key(
                &Mechanism::AesKeyWrapPad,
                key,
                wrapped,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(false),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                ],
            ) {
                Ok(copy) => copy,
                Err(e @ CkError::Pkcs11(RvError::KeyFunctionNotPermitted, _)) => {
                    return Err(self.not_permitted(e, "unwrap", SealMechanism::AesGcm))
                }
                Err(e) if is_session_lost(&e) || is_auth_failure(&e) => return Err(Op::Ck(e)),
                // The wrap's integrity check failed: not ours, or altered.
                Err(_) => return Err(Op::NotAuthentic),
            };
            let value = s.get_attributes(copy, &[AttributeType::Value]);
            let _ = s.destroy_object(copy);
            match value.map_err(Op::Ck)?.pop() {
                Some(Attribute::Value(v)) => Ok(Zeroizing::new(v)),
                _ => Err(Op::NotAuthentic),
            }
        })?;
        let dek: &[u8; 32] = dek
            .as_slice()
            .try_into()
            .map_err(|_| HsmError::InvalidCiphertext)?;
        Aes256Gcm::new(dek.into())
            .decrypt(
                (&iv).into(),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map(SecretSlice::from)
            .map_err(|_| HsmError::InvalidCiphertext)
    }
}

/// Why an operation inside a session failed.
enum Op {
    Ck(CkError),
    Fatal(String),
    /// The HSM refused to authenticate data (bad tag, wrong context, wrong key).
    NotAuthentic,
    /// The session is no longer logged in (the token logged the application out).
    LoggedOut,
}

/// Whether `s` is a logged-in user session.
fn logged_in(s: &Session) -> Result<bool, Op> {
    let info = s.get_session_info().map_err(Op::Ck)?;
    Ok(matches!(
        info.session_state(),
        SessionState::RoUser | SessionState::RwUser
    ))
}

impl Op {
    fn into_hsm(self, hsm: &Pkcs11Hsm) -> HsmError {
        match self {
            Op::Ck(e) if is_auth_failure(&e) => HsmError::Authentication(short(&e)),
            Op::Ck(e) => {
                HsmError::Unavailable(format!("token '{}': {}", hsm.config.token, short(&e)))
            }
            Op::Fatal(msg) => HsmError::Config(msg),
            Op::NotAuthentic => HsmError::InvalidCiphertext,
            Op::LoggedOut => HsmError::Unavailable(format!(
                "token '{}' logged this node out again right after it logged in",
                hsm.config.token
            )),
        }
    }
}

/// Held while a thread lists slots or initializes a token. SoftHSM2 rescans its token
/// directory on every slot listing and aborts the process (`SlotManager::insertToken`
/// assertion) when two threads insert the same new token at once.
static SLOT_LIST: Mutex<()> = Mutex::new(());

fn find_token(ctx: &Pkcs11, config: &Pkcs11Config) -> Result<Slot, HsmError> {
    let _one_at_a_time = SLOT_LIST.lock();
    let slots = ctx.get_slots_with_initialized_token().map_err(|e| {
        HsmError::Unavailable(format!(
            "module {}: cannot list tokens: {}",
            config.module.display(),
            short(&e)
        ))
    })?;
    let mut matching = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        let serial_ok = config
            .serial
            .as_deref()
            .is_none_or(|s| info.serial_number().trim() == s);
        if info.label().trim() == config.token && serial_ok {
            matching.push(slot);
        }
    }
    match matching.as_slice() {
        [one] => Ok(*one),
        [] => Err(HsmError::Config(format!(
            "no token labelled '{}'{} in module {}",
            config.token,
            config
                .serial
                .as_deref()
                .map(|s| format!(" with serial {s}"))
                .unwrap_or_default(),
            config.module.display()
        ))),
        many => Err(HsmError::Config(format!(
            "{} tokens are labelled '{}' in module {}: set the token serial",
            many.len(),
            config.token,
            config.module.display()
        ))),
    }
}

const IV_LEN: usize = 12;
/// RFC 5649 wrap of a 256-bit key.
const WRAPPED_KEY_LEN: usize = 40;

impl SealingBackend for Pkcs11Hsm {
    fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<SealedBlob, HsmError> {
        if self.config.mechanism == SealMechanism::AesKwp {
            return self.seal_wrapped(plaintext, context);
        }
        let aad = SealedBlob::associated_data(&self.id, context);
        let (iv, ciphertext) = self.with_session(|s| {
            let key = self.find_key(s, KeyType::AES, &self.config.key)?;
            let mut iv = [0u8; IV_LEN];
            s.generate_random_slice(&mut iv).map_err(Op::Ck)?;
            let params = GcmParams::new(&mut iv, &aad, 128.into()).map_err(Op::Ck)?;
            let ciphertext = s
                .encrypt(&Mechanism::AesGcm(params), key, plaintext)
                .map_err(|e| self.not_permitted(e, "encrypt", SealMechanism::AesKwp))?;
            // The IV as the HSM left it: it may have chosen its own.
            Ok((iv, ciphertext))
        })?;
        SealedBlob::new(&self.id, iv.to_vec(), ciphertext)
    }

    fn unseal(&self, blob: &SealedBlob, context: &[u8]) -> Result<SecretSlice<u8>, HsmError> {
        if blob.backend_id() != self.id {
            return Err(HsmError::InvalidCiphertext);
        }
        if blob.mechanism() == SealMechanism::AesKwp {
            return self.unseal_wrapped(blob, context);
        }
        let aad = SealedBlob::associated_data(&self.id, context);
        let plaintext = self.with_session(|s| {
            let key = self.find_key(s, KeyType::AES, &self.config.key)?;
            let mut iv = blob.nonce().to_vec();
            let params = GcmParams::new(&mut iv, &aad, 128.into()).map_err(|_| Op::NotAuthentic)?;
            match s.decrypt(&Mechanism::AesGcm(params), key, blob.ciphertext()) {
                Ok(p) => Ok(p),
                Err(e @ CkError::Pkcs11(RvError::KeyFunctionNotPermitted, _)) => {
                    Err(self.not_permitted(e, "decrypt", SealMechanism::AesKwp))
                }
                // A bad tag is CKR_GENERAL_ERROR on SoftHSM, ENCRYPTED_DATA_INVALID elsewhere:
                // whatever the code, a blob that does not decrypt is not ours.
                Err(e) if is_session_lost(&e) || is_auth_failure(&e) => Err(Op::Ck(e)),
                Err(_) => Err(Op::NotAuthentic),
            }
        })?;
        Ok(SecretSlice::from(plaintext))
    }

    fn derive(&self, label: &str) -> Result<Secret32, HsmError> {
        let Some(hmac_label) = &self.config.hmac_key else {
            return Err(HsmError::Config(format!(
                "HSM {} has no hmac_key configured: it cannot be the communication HSM",
                self.id
            )));
        };
        let mac = self.with_session(|s| {
            let key = self.find_key(s, KeyType::GENERIC_SECRET, hmac_label)?;
            s.sign(&Mechanism::Sha256Hmac, key, label.as_bytes())
                .map_err(Op::Ck)
        })?;
        let out: [u8; 32] = mac.as_slice().try_into().map_err(|_| {
            HsmError::Config(format!(
                "HSM {} returned an HMAC of {} bytes",
                self.id,
                mac.len()
            ))
        })?;
        Ok(SecretBox::new(Box::new(out)))
    }
}
