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
        access: &access,
        caller,
        enclave,
        cmd,
        out: BytesMut::new(),
    };
    for payload in &batch.payloads {
        match cmd {
            Command::EnclaveStatus => read.enclave_status(payload)?,
            Command::EnclaveList => read.enclave_list(payload)?,
            Command::KeyStatus => read.key_status(payload)?,
            Command::KeyEncrypt => read.key_encrypt(payload)?,
            Command::KeyDecrypt => read.key_decrypt(payload)?,
            Command::KeyGenerate => read.key_generate(payload)?,
            Command::KeyMac => read.key_mac(payload)?,
            Command::KeyList => read.key_list(payload)?,
            Command::KeyListVersions => read.key_list_versions(payload)?,
            Command::PolicyGet => read.policy_get(payload)?,
            Command::PolicyStatus => read.policy_status(payload)?,
            Command::PolicyList => read.policy_list(payload)?,
            Command::IdentityStatus => read.identity_status(payload)?,
            Command::IdentityList => read.identity_list(payload)?,
            _ => return Err(misrouted(cmd)),
        }
    }
    Ok(read.out.freeze())
}

/// A read batch being answered: what its requests share, and the response frames so far.
struct Read<'a> {
    state: &'a State,
    access: &'a Access,
    caller: &'a Caller,
    enclave: &'a str,
    cmd: Command,
    out: BytesMut,
}

impl Read<'_> {
    /// Appends the response frame of one request.
    fn answer(&mut self, msg: &impl Message) {
        put_frame(&mut self.out, self.cmd.id(), msg);
    }

    /// `ENCLAVE:STATUS`.
    fn enclave_status(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let cmd = self.cmd;
        let req: EnclaveRequest = decode(cmd, payload)?;
        self.answer(&enclave_status(state.enclave_info(&req.name)?));
        Ok(())
    }

    /// `ENCLAVE:LIST`.
    fn enclave_list(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let cmd = self.cmd;
        let req: ListRequest = decode(cmd, payload)?;
        let page = state.list_enclaves(&req.prefix, &req.continue_at, list_limit(req.limit));
        self.answer(&ListEnclavesResponse {
            enclaves: page.items.into_iter().map(enclave_status).collect(),
            continue_at: page.continue_at,
        });
        Ok(())
    }

    /// `KEY:STATUS`.
    fn key_status(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: KeyStatusRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        self.answer(&key_status(state.key_info(
            enclave,
            &req.name,
            req.version,
        )?));
        Ok(())
    }

    /// `KEY:ENCRYPT`.
    fn key_encrypt(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let mut req: EncryptRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let sealed = state.encrypt(
            enclave,
            &req.name,
            req.version,
            &req.plaintext,
            &req.associated_data,
        );
        zeroize::Zeroize::zeroize(&mut req.plaintext);
        let (version, ciphertext) = sealed?;
        self.answer(&EncryptResponse {
            version,
            ciphertext,
        });
        Ok(())
    }

    /// `KEY:DECRYPT`.
    fn key_decrypt(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: DecryptRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let plaintext = state.decrypt(
            enclave,
            &req.name,
            req.version,
            &req.ciphertext,
            &req.associated_data,
        )?;
        self.answer(&DecryptResponse {
            plaintext: plaintext.to_vec(),
        });
        Ok(())
    }

    /// `KEY:GENERATE`.
    fn key_generate(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: GenerateKeyRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let dk = state.generate(
            enclave,
            &req.name,
            req.version,
            &req.associated_data,
            req.length as usize,
        )?;
        self.answer(&GenerateKeyResponse {
            version: dk.version,
            plaintext: dk.plaintext.to_vec(),
            ciphertext: dk.ciphertext,
        });
        Ok(())
    }

    /// `KEY:MAC`.
    fn key_mac(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: MacRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let (version, mac) = state.mac(enclave, &req.name, req.version, &req.message)?;
        self.answer(&MacResponse {
            version,
            mac: mac.to_vec(),
        });
        Ok(())
    }

    /// `KEY:LIST`.
    fn key_list(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: ListRequest = decode(cmd, payload)?;
        let visible = access.list_filter(cmd)?;
        let page = state.list_keys(
            enclave,
            &req.prefix,
            &req.continue_at,
            list_limit(req.limit),
            visible,
        )?;
        self.answer(&ListKeysResponse {
            keys: page.items.into_iter().map(key_status).collect(),
            continue_at: page.continue_at,
        });
        Ok(())
    }

    /// `KEY:LISTVERSIONS`.
    fn key_list_versions(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: ListRequest = decode(cmd, payload)?;
        access.check(cmd, &req.prefix)?;
        let versions = state.key_versions(enclave, &req.prefix)?;
        self.answer(&ListKeysResponse {
            keys: versions.into_iter().map(key_status).collect(),
            continue_at: String::new(),
        });
        Ok(())
    }

    /// `POLICY:GET`.
    fn policy_get(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: PolicyRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        let p = state.policy_info(enclave, &req.name)?;
        self.answer(&PolicyResponse {
            name: p.name.clone(),
            allow: wire_rules(&p.policy.allow),
            deny: wire_rules(&p.policy.deny),
            created_at: timestamp(p.created_at),
            created_by: p.created_by.clone(),
        });
        Ok(())
    }

    /// `POLICY:STATUS`.
    fn policy_status(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: PolicyRequest = decode(cmd, payload)?;
        access.check(cmd, &req.name)?;
        self.answer(&policy_status(&state.policy_info(enclave, &req.name)?));
        Ok(())
    }

    /// `POLICY:LIST`.
    fn policy_list(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: ListRequest = decode(cmd, payload)?;
        let visible = access.list_filter(cmd)?;
        let page = state.list_policies(
            enclave,
            &req.prefix,
            &req.continue_at,
            list_limit(req.limit),
            visible,
        )?;
        self.answer(&ListPoliciesResponse {
            policies: page.items.iter().map(policy_status).collect(),
            continue_at: page.continue_at,
        });
        Ok(())
    }

    /// `IDENTITY:STATUS`.
    fn identity_status(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let caller = self.caller;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: IdentityRequest = decode(cmd, payload)?;
        // Every identity may look itself up.
        if caller.identity.as_ref().map(Identity::as_str) != Some(req.identity.as_str()) {
            access.check(cmd, &req.identity)?;
        }
        self.answer(&identity_response(
            state.identity_info(enclave, &req.identity)?,
        ));
        Ok(())
    }

    /// `IDENTITY:LIST`.
    fn identity_list(&mut self, payload: &Bytes) -> Result<(), ApiError> {
        let state = self.state;
        let access = self.access;
        let enclave = self.enclave;
        let cmd = self.cmd;
        let req: ListRequest = decode(cmd, payload)?;
        let visible = access.list_filter(cmd)?;
        let page = state.list_identities(
            enclave,
            &req.prefix,
            &req.continue_at,
            list_limit(req.limit),
            visible,
        )?;
        self.answer(&ListIdentitiesResponse {
            identities: page.items.into_iter().map(identity_response).collect(),
            continue_at: page.continue_at,
        });
        Ok(())
    }
}
