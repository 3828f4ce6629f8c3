//! YubiHSM 2 through `yubihsm` and its HTTP connector.
//!
//! Seal: AES-256-GCM in software under a KEK = HMAC-SHA256 computed *in the HSM* with an HMAC
//! key object over `"minkms/v1/yubihsm/seal" ‖ salt`; the 16-byte random salt and the 12-byte
//! nonce are the blob's nonce field. Derive: the HSM's HMAC over
//! `"minkms/v1/yubihsm/derive/" ‖ label`. Only the sign-HMAC capability and one object are
//! needed, which also runs on the crate's MockHsm (its `wrap_data`, the natural call on a
//! real device, is not implemented in the mock; HSM-NOTES.md §3).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use secrecy::{SecretBox, SecretSlice};
use yubihsm::client::ErrorKind;
use yubihsm::{Client, Connector, Credentials};
use zeroize::Zeroizing;

use crate::{HsmError, SealedBlob, SealingBackend, Secret32};

const SEAL_LABEL: &[u8] = crate::labels::YUBIHSM_SEAL;
const DERIVE_LABEL: &[u8] = crate::labels::YUBIHSM_DERIVE;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;

/// A YubiHSM 2 HMAC key.
pub struct YubiHsm {
    id: String,
    client: Client,
    hmac_key: u16,
}

impl std::fmt::Debug for YubiHsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YubiHsm")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn map_err(e: yubihsm::client::Error) -> HsmError {
    match e.kind() {
        ErrorKind::AuthenticationError => {
            HsmError::Authentication(format!("YubiHSM refused the authentication key: {e}"))
        }
        ErrorKind::DeviceError | ErrorKind::ResponseError => {
            HsmError::Config(format!("YubiHSM: {e}"))
        }
        _ => HsmError::Unavailable(format!("YubiHSM unreachable: {e}")),
    }
}

impl YubiHsm {
    /// Connects (`connector`: the HTTP connector's address, or MockHsm in tests), opens an
    /// authenticated session with `auth_key`/`password`, and checks the HMAC key exists.
    pub fn open(
        connector: Connector,
        auth_key: u16,
        password: &[u8],
        hmac_key: u16,
    ) -> Result<Self, HsmError> {
        let client = Client::open(
            connector,
            Credentials::from_password(auth_key, password),
            true,
        )
        .map_err(map_err)?;
        let serial = client.device_info().map_err(map_err)?.serial_number;
        let hsm = Self {
            id: format!("yubihsm:{serial}/{hmac_key:#06x}"),
            client,
            hmac_key,
        };
        // Proves the key exists and may sign, before anything depends on it.
        hsm.hmac(crate::labels::YUBIHSM_CHECK)?;
        Ok(hsm)
    }

    /// An HTTP connector to `yubihsm-connector` at `url` (`http://host:port`).
    pub fn http_connector(url: &str) -> Result<Connector, HsmError> {
        let rest = url
            .strip_prefix("http://")
            .unwrap_or(url)
            .trim_end_matches('/');
        let (addr, port) = rest
            .rsplit_once(':')
            .and_then(|(a, p)| p.parse::<u16>().ok().map(|p| (a.to_string(), p)))
            .ok_or_else(|| {
                HsmError::Config(format!(
                    "invalid YubiHSM connector URL '{url}': expected http://HOST:PORT"
                ))
            })?;
        Ok(Connector::http(&yubihsm::HttpConfig {
            addr,
            port,
            timeout_ms: 5000,
        }))
    }

    fn hmac(&self, msg: &[u8]) -> Result<Zeroizing<[u8; 32]>, HsmError> {
        let tag = self
            .client
            .sign_hmac(self.hmac_key, msg.to_vec())
            .map_err(|e| match e.kind() {
                ErrorKind::DeviceError | ErrorKind::ResponseError => HsmError::Config(format!(
                    "YubiHSM HMAC key {:#06x} is missing or may not sign: {e}",
                    self.hmac_key
                )),
                _ => map_err(e),
            })?;
        let mut out = Zeroizing::new([0u8; 32]);
        if tag.as_slice().len() != 32 {
            return Err(HsmError::Config(format!(
                "YubiHSM key {:#06x} is not an HMAC-SHA256 key",
                self.hmac_key
            )));
        }
        out.copy_from_slice(tag.as_slice());
        Ok(out)
    }

    fn kek(&self, salt: &[u8]) -> Result<Aes256Gcm, HsmError> {
        let key = self.hmac(&[SEAL_LABEL, salt].concat())?;
        Ok(Aes256Gcm::new(key.as_ref().into()))
    }
}

impl SealingBackend for YubiHsm {
    fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<SealedBlob, HsmError> {
        let mut salt_nonce = [0u8; SALT_LEN + NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt_nonce);
        let (salt, nonce) = salt_nonce.split_at(SALT_LEN);
        let aad = SealedBlob::associated_data(&self.id, context);
        let ciphertext = self
            .kek(salt)?
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| HsmError::Config("AES-GCM refused the plaintext".into()))?;
        SealedBlob::new(&self.id, salt_nonce.to_vec(), ciphertext)
    }

    fn unseal(&self, blob: &SealedBlob, context: &[u8]) -> Result<SecretSlice<u8>, HsmError> {
        if blob.backend_id() != self.id || blob.nonce().len() != SALT_LEN + NONCE_LEN {
            return Err(HsmError::InvalidCiphertext);
        }
        let (salt, nonce) = blob.nonce().split_at(SALT_LEN);
        let aad = SealedBlob::associated_data(&self.id, context);
        let plaintext = self
            .kek(salt)?
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: blob.ciphertext(),
                    aad: &aad,
                },
            )
            .map_err(|_| HsmError::InvalidCiphertext)?;
        Ok(SecretSlice::from(plaintext))
    }

    fn derive(&self, label: &str) -> Result<Secret32, HsmError> {
        let mac = self.hmac(&[DERIVE_LABEL, label.as_bytes()].concat())?;
        Ok(SecretBox::new(Box::new(*mac)))
    }
}
