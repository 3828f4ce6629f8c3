//! A key held by another minkms cluster ("HSM on MinIO KMS", seed 004): the root key is
//! sealed with the remote cluster's `KEY:ENCRYPT` under one of its keys, and the communication
//! secret is its `KEY:MAC`. Whoever reads this node's disk learns nothing without an identity
//! of the remote cluster that may use that key.

use minkms_client::{ApiKey, Client, Error as ClientError, ServerTrust};
use secrecy::{SecretBox, SecretSlice};

use crate::{HsmError, SealedBlob, SealingBackend, Secret32};

/// How to reach the remote cluster (the `hsm.minio.minkms` section).
#[derive(Debug)]
pub struct RemoteConfig {
    /// The remote cluster's nodes; the client fails over across them.
    pub servers: Vec<String>,
    /// Enclave of the key.
    pub enclave: String,
    /// The key that seals.
    pub key: String,
    /// An API key of the remote cluster allowed to encrypt, decrypt and MAC with `key`.
    pub api_key: ApiKey,
    /// How to trust the remote servers' certificates.
    pub trust: ServerTrust,
}

/// A minkms cluster used as an HSM.
pub struct RemoteMinkms {
    id: String,
    enclave: String,
    key: String,
    /// One client per server, tried in order: unlike MinIO's client, an HSM call also moves on
    /// after a server answers 5xx (sealed, no leader), not only after a transport error.
    clients: Vec<Client>,
}

impl std::fmt::Debug for RemoteMinkms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteMinkms")
            .field("id", &self.id)
            .field(
                "servers",
                &self
                    .clients
                    .iter()
                    .flat_map(|c| c.endpoints())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn map_err(e: ClientError) -> HsmError {
    match e {
        ClientError::Api {
            status: 400,
            message,
        } if message == "invalid ciphertext" => HsmError::InvalidCiphertext,
        ClientError::Api {
            status: 401 | 403,
            message,
        } => HsmError::Authentication(format!("remote minkms refused the API key: {message}")),
        ClientError::Api { status, message } if status >= 500 => {
            HsmError::Unavailable(format!("remote minkms: {message}"))
        }
        ClientError::Api { message, .. } => HsmError::Config(format!("remote minkms: {message}")),
        // Retrying cannot make a certificate trusted: the configuration must change.
        ClientError::Certificate(m) => HsmError::Config(format!(
            "remote minkms: {m}: set hsm.minio.minkms.ca to the CA that issued its certificate"
        )),
        ClientError::Transport(m) => {
            HsmError::Unavailable(format!("remote minkms unreachable: {m}"))
        }
        ClientError::Decode(m) => HsmError::Unavailable(format!("remote minkms: {m}")),
        ClientError::Config(m) => HsmError::Config(m),
    }
}

impl RemoteMinkms {
    /// A backend for the remote key. Nothing is contacted until the first call.
    pub fn new(config: RemoteConfig) -> Result<Self, HsmError> {
        if config.servers.is_empty() {
            return Err(HsmError::Config("hsm.minio.minkms: no server given".into()));
        }
        let clients = config
            .servers
            .iter()
            .map(|server| {
                Client::builder()
                    .endpoints([server])
                    .api_key(config.api_key.clone())
                    .trust(config.trust.clone())
                    .build()
                    .map_err(|e| HsmError::Config(format!("hsm.minio.minkms: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: format!("minkms:{}/{}", config.enclave, config.key),
            enclave: config.enclave,
            key: config.key,
            clients,
        })
    }

    /// Runs `call` against each server in turn until one answers; only unavailability moves on.
    fn run<'a, T, F, Fut>(&'a self, call: F) -> Result<T, HsmError>
    where
        T: Send,
        F: Fn(&'a Client) -> Fut + Send,
        Fut: std::future::Future<Output = Result<T, ClientError>> + Send,
    {
        let mut last = HsmError::Unavailable("remote minkms: no server given".into());
        for client in &self.clients {
            // 10 s per server: a few blackholed servers must not hold a boot for minutes.
            match crate::blocking::block_on(std::time::Duration::from_secs(10), call(client))
                .and_then(|r| r.map_err(map_err))
            {
                Err(e @ HsmError::Unavailable(_)) => last = e,
                other => return other,
            }
        }
        Err(last)
    }
}

impl SealingBackend for RemoteMinkms {
    fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<SealedBlob, HsmError> {
        let aad = SealedBlob::associated_data(&self.id, context);
        let resp = self.run(|c| c.encrypt(&self.enclave, &self.key, plaintext, &aad))?;
        // The remote ciphertext carries its own IV; the blob's nonce field stays empty.
        SealedBlob::new(&self.id, Vec::new(), resp.ciphertext)
    }

    fn unseal(&self, blob: &SealedBlob, context: &[u8]) -> Result<SecretSlice<u8>, HsmError> {
        if blob.backend_id() != self.id {
            return Err(HsmError::InvalidCiphertext);
        }
        let aad = SealedBlob::associated_data(&self.id, context);
        let resp = self.run(|c| c.decrypt(&self.enclave, &self.key, 0, blob.ciphertext(), &aad))?;
        Ok(SecretSlice::from(resp.plaintext))
    }

    fn derive(&self, label: &str) -> Result<Secret32, HsmError> {
        // Always version 1 of the key: the communication secret (and with it the root API key
        // and the peer identity) must not change when the remote key gets a new version.
        let resp = self.run(|c| c.mac(&self.enclave, &self.key, 1, label.as_bytes()))?;
        let mac: [u8; 32] = resp.mac.as_slice().try_into().map_err(|_| {
            HsmError::Config("remote minkms returned a MAC that is not 32 bytes".into())
        })?;
        Ok(SecretBox::new(Box::new(mac)))
    }
}
