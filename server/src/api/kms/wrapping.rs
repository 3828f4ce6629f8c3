//! `KEY:WRAPPINGKEY`: an enclave's import wrapping key, made on first use. Making it is a
//! write (the private key is replicated like every record); fetching it afterwards is a read.

use super::*;

pub(super) async fn wrapping_key(
    node: Arc<Node>,
    caller: Arc<Caller>,
    enclave: &str,
    batch: Batch,
) -> Result<Bytes, ApiError> {
    node.cluster.readable(enclave, None).await?;
    if let Some(answer) = answer(&node, &caller, enclave, &batch)? {
        return Ok(answer);
    }
    // The caller may fetch it and there is none yet. RSA-4096 generation takes a while: off
    // the runtime. Two first fetches at once make two; the first committed stays.
    let private_key = tokio::task::spawn_blocking(ks::WrappingPrivateKey::generate)
        .await
        .map_err(|_| misrouted(batch.cmd))??;
    let cmd = ks::Command::CreateWrappingKey {
        enclave: enclave.to_string(),
        private_key,
        at: Timestamp::now(),
        by: caller.name(),
    };
    node.keystore.check(&cmd)?;
    node.cluster.write(&node, cmd).await?;
    node.cluster.readable(enclave, None).await?;
    answer(&node, &caller, enclave, &batch)?.ok_or_else(|| misrouted(batch.cmd))
}

/// The answer when the enclave has its wrapping key; `None` when the caller may fetch it but
/// there is none yet. A caller may fetch it when its policy allows `KEY:WRAPPINGKEY` on
/// anything: the key belongs to the enclave, not to a key name.
fn answer(
    node: &Node,
    caller: &Caller,
    enclave: &str,
    batch: &Batch,
) -> Result<Option<Bytes>, ApiError> {
    let state = node.keystore.state();
    let access = Access::resolve(caller, &state, batch.cmd, enclave)?;
    let _may_fetch = access.list_filter(batch.cmd)?;
    let _: WrappingKeyRequest = decode(batch.cmd, &batch.payloads[0])?;
    let Some(info) = state.wrapping_key(enclave)? else {
        return Ok(None);
    };
    let mut out = BytesMut::new();
    put_frame(
        &mut out,
        batch.cmd.id(),
        &WrappingKeyResponse {
            public_key: info.public_key,
            created_at: timestamp(info.created_at),
            created_by: info.created_by,
        },
    );
    Ok(Some(out.freeze()))
}
