//! Reads: one method per command, over the committed state.

use super::*;

/// Runs a read-only batch against the committed state; one response frame per request frame.
pub(crate) fn read(
    node: &Node,
    caller: &Caller,
    enclave: &str,
    batch: &Batch,
) -> Result<Bytes, ApiError> {
    let state = node.keystore.state();
    let cmd = batch.cmd;
    let access = Access::resolve(caller, &state, cmd, enclave)?;
    let mut read = Read {
        state: &state,
        sealer: state.sealer(),
        scratch: Scratch::default(),
        access: &access,
        caller,
        enclave,
        cmd,
    };
    let mut out = BytesMut::new();
    // Each method answers one request with its own response type.
    macro_rules! answer {
        ($method:ident, $payload:expr) => {
            put_frame(&mut out, cmd.id(), &read.$method($payload)?)
        };
    }
    for payload in &batch.payloads {
        match cmd {
            Command::EnclaveStatus => answer!(enclave_status, payload),
            Command::EnclaveList => answer!(enclave_list, payload),
            Command::KeyStatus => answer!(key_status, payload),
            Command::KeyEncrypt => read.key_encrypt(payload, &mut out)?,
            Command::KeyDecrypt => answer!(key_decrypt, payload),
            Command::KeyGenerate => read.key_generate(payload, &mut out)?,
            Command::KeyMac => answer!(key_mac, payload),
            Command::KeyList => answer!(key_list, payload),
            Command::KeyListVersions => answer!(key_list_versions, payload),
            Command::PolicyGet => answer!(policy_get, payload),
            Command::PolicyStatus => answer!(policy_status, payload),
            Command::PolicyList => answer!(policy_list, payload),
            Command::IdentityStatus => answer!(identity_status, payload),
            Command::IdentityList => answer!(identity_list, payload),
            _ => return Err(misrouted(cmd)),
        }
    }
    Ok(out.freeze())
}

/// The buffers that the frames of a batch reuse: a batch of data keys allocates them once
/// instead of per frame. A request's plaintext is wiped after each frame and on drop.
#[derive(Default)]
struct Scratch {
    generate: GenerateKeyRequest,
    data_key: ks::DataKey,
    encrypt: EncryptRequest,
    ciphertext: Vec<u8>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.encrypt.plaintext);
    }
}

/// What the requests of a read batch share.
struct Read<'a> {
    state: &'a State,
    /// Frames under one key version share a sub-key.
    sealer: ks::Sealer<'a>,
    scratch: Scratch,
    access: &'a Access,
    caller: &'a Caller,
    enclave: &'a str,
    cmd: Command,
}

impl Read<'_> {
    /// The page a `*:LIST` request asks for, of the names the caller may see; `list` is the
    /// keystore's listing of keys, policies or identities.
    fn page<T>(
        &self,
        payload: &Bytes,
        list: impl FnOnce(
            &State,
            &str,
            &str,
            &str,
            usize,
            &dyn Fn(&str) -> bool,
        ) -> Result<ks::Page<T>, ks::Error>,
    ) -> Result<ks::Page<T>, ApiError> {
        let req: ListRequest = decode(self.cmd, payload)?;
        let visible = self.access.list_filter(self.cmd)?;
        let limit = list_limit(req.limit);
        Ok(list(
            self.state,
            self.enclave,
            &req.prefix,
            &req.continue_at,
            limit,
            &visible,
        )?)
    }

    /// `ENCLAVE:STATUS`.
    fn enclave_status(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let req: EnclaveRequest = decode(self.cmd, payload)?;
        Ok(enclave_status(self.state.enclave_info(&req.name)?))
    }

    /// `ENCLAVE:LIST`.
    fn enclave_list(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let req: ListRequest = decode(self.cmd, payload)?;
        let page = self
            .state
            .list_enclaves(&req.prefix, &req.continue_at, list_limit(req.limit));
        Ok(ListEnclavesResponse {
            enclaves: page.items.into_iter().map(enclave_status).collect(),
            continue_at: page.continue_at,
        })
    }

    /// `KEY:STATUS`.
    fn key_status(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let req: KeyStatusRequest = decode(self.cmd, payload)?;
        self.access.check(self.cmd, &req.name)?;
        Ok(key_status(self.state.key_info(
            self.enclave,
            &req.name,
            req.version,
        )?))
    }

    /// `KEY:ENCRYPT`.
    fn key_encrypt(&mut self, payload: &Bytes, out: &mut BytesMut) -> Result<(), ApiError> {
        let req = &mut self.scratch.encrypt;
        decode_into(self.cmd, payload, req)?;
        self.access.check(self.cmd, &req.name)?;
        let mut response = EncryptResponse {
            version: 0,
            ciphertext: std::mem::take(&mut self.scratch.ciphertext),
        };
        let sealed = self.sealer.encrypt(
            &mut response.ciphertext,
            self.enclave,
            &req.name,
            req.version,
            &req.plaintext,
            &req.associated_data,
        );
        zeroize::Zeroize::zeroize(&mut req.plaintext);
        response.version = sealed?;
        put_frame(out, self.cmd.id(), &response);
        self.scratch.ciphertext = response.ciphertext;
        Ok(())
    }

    /// `KEY:DECRYPT`.
    fn key_decrypt(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let req: DecryptRequest = decode(self.cmd, payload)?;
        self.access.check(self.cmd, &req.name)?;
        let plaintext = self.state.decrypt(
            self.enclave,
            &req.name,
            req.version,
            &req.ciphertext,
            &req.associated_data,
        )?;
        Ok(DecryptResponse {
            plaintext: plaintext.to_vec(),
        })
    }

    /// `KEY:GENERATE`.
    fn key_generate(&mut self, payload: &Bytes, out: &mut BytesMut) -> Result<(), ApiError> {
        let req = &mut self.scratch.generate;
        decode_into(self.cmd, payload, req)?;
        self.access.check(self.cmd, &req.name)?;
        let dk = &mut self.scratch.data_key;
        self.sealer.generate(
            dk,
            self.enclave,
            &req.name,
            req.version,
            &req.associated_data,
            req.length as usize,
        )?;
        // The data key's buffers lend themselves to the response and come back, so the
        // plaintext is wiped when the batch ends (the response buffer is not: SECURITY.md).
        let response = GenerateKeyResponse {
            version: dk.version,
            plaintext: std::mem::take(&mut *dk.plaintext),
            ciphertext: std::mem::take(&mut dk.ciphertext),
        };
        put_frame(out, self.cmd.id(), &response);
        *dk.plaintext = response.plaintext;
        dk.ciphertext = response.ciphertext;
        Ok(())
    }

    /// `KEY:MAC`.
    fn key_mac(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let req: MacRequest = decode(self.cmd, payload)?;
        self.access.check(self.cmd, &req.name)?;
        let (version, mac) = self
            .state
            .mac(self.enclave, &req.name, req.version, &req.message)?;
        Ok(MacResponse {
            version,
            mac: mac.to_vec(),
        })
    }

    /// `KEY:LIST`.
    fn key_list(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let page = self.page(payload, |s, e, p, c, l, v| s.list_keys(e, p, c, l, v))?;
        Ok(ListKeysResponse {
            keys: page.items.into_iter().map(key_status).collect(),
            continue_at: page.continue_at,
        })
    }

    /// `KEY:LISTVERSIONS`.
    fn key_list_versions(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let req: ListRequest = decode(self.cmd, payload)?;
        self.access.check(self.cmd, &req.prefix)?;
        let versions = self.state.key_versions(self.enclave, &req.prefix)?;
        Ok(ListKeysResponse {
            keys: versions.into_iter().map(key_status).collect(),
            continue_at: String::new(),
        })
    }

    /// `POLICY:GET`.
    fn policy_get(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let req: PolicyRequest = decode(self.cmd, payload)?;
        self.access.check(self.cmd, &req.name)?;
        let p = self.state.policy_info(self.enclave, &req.name)?;
        Ok(PolicyResponse {
            name: p.name.clone(),
            allow: wire_rules(&p.policy.allow),
            deny: wire_rules(&p.policy.deny),
            created_at: timestamp(p.created_at),
            created_by: p.created_by.clone(),
        })
    }

    /// `POLICY:STATUS`.
    fn policy_status(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let req: PolicyRequest = decode(self.cmd, payload)?;
        self.access.check(self.cmd, &req.name)?;
        Ok(policy_status(
            &self.state.policy_info(self.enclave, &req.name)?,
        ))
    }

    /// `POLICY:LIST`.
    fn policy_list(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let page = self.page(payload, |s, e, p, c, l, v| s.list_policies(e, p, c, l, v))?;
        Ok(ListPoliciesResponse {
            policies: page.items.iter().map(policy_status).collect(),
            continue_at: page.continue_at,
        })
    }

    /// `IDENTITY:STATUS`.
    fn identity_status(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let req: IdentityRequest = decode(self.cmd, payload)?;
        // Every identity may look itself up.
        if self.caller.identity.as_ref().map(Identity::as_str) != Some(req.identity.as_str()) {
            self.access.check(self.cmd, &req.identity)?;
        }
        Ok(identity_response(
            self.state.identity_info(self.enclave, &req.identity)?,
        ))
    }

    /// `IDENTITY:LIST`.
    fn identity_list(&self, payload: &Bytes) -> Result<impl Message, ApiError> {
        let page = self.page(payload, |s, e, p, c, l, v| s.list_identities(e, p, c, l, v))?;
        Ok(ListIdentitiesResponse {
            identities: page.items.into_iter().map(identity_response).collect(),
            continue_at: page.continue_at,
        })
    }
}
