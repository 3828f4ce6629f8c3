//! A `POST /v1/kms` body: frames, then each frame's payload decoded as the message its
//! command id names, as the server does before anything else.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use minkms_client::wire::*;
use minkms_client::{decode_frames, Command};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let Ok(frames) = decode_frames(&body, 1000) else {
        return;
    };
    for f in frames {
        let Some(cmd) = Command::from_id(f.id) else {
            continue;
        };
        let p = f.payload;
        let _ = match cmd {
            Command::ClusterAddNode => AddClusterNodeRequest::decode(p).is_ok(),
            Command::ClusterRemoveNode => RemoveClusterNodeRequest::decode(p).is_ok(),
            Command::ClusterStatus => ClusterStatusRequest::decode(p).is_ok(),
            Command::ClusterEdit => EditClusterRequest::decode(p).is_ok(),
            Command::ClusterAddHsm => AddHsmRequest::decode(p).is_ok(),
            Command::ClusterRemoveHsm => RemoveHsmRequest::decode(p).is_ok(),
            Command::EnclaveCreate | Command::EnclaveDelete | Command::EnclaveStatus => {
                EnclaveRequest::decode(p).is_ok()
            }
            Command::EnclaveList
            | Command::KeyList
            | Command::KeyListVersions
            | Command::PolicyList
            | Command::IdentityList => ListRequest::decode(p).is_ok(),
            Command::KeyCreate => CreateKeyRequest::decode(p).is_ok(),
            Command::KeyDelete => DeleteKeyRequest::decode(p).is_ok(),
            Command::KeyImport => ImportKeyRequest::decode(p).is_ok(),
            Command::KeyWrappingKey => WrappingKeyRequest::decode(p).is_ok(),
            Command::KeyImportWrapped => ImportWrappedKeyRequest::decode(p).is_ok(),
            Command::KeyStatus => KeyStatusRequest::decode(p).is_ok(),
            Command::KeyEncrypt => EncryptRequest::decode(p).is_ok(),
            Command::KeyDecrypt => DecryptRequest::decode(p).is_ok(),
            Command::KeyGenerate => GenerateKeyRequest::decode(p).is_ok(),
            Command::KeyMac => MacRequest::decode(p).is_ok(),
            Command::PolicyCreate => CreatePolicyRequest::decode(p).is_ok(),
            Command::PolicyDelete | Command::PolicyGet | Command::PolicyStatus => {
                PolicyRequest::decode(p).is_ok()
            }
            Command::PolicyAssign => AssignPolicyRequest::decode(p).is_ok(),
            Command::IdentityCreate => CreateIdentityRequest::decode(p).is_ok(),
            Command::IdentityDelete | Command::IdentityStatus => IdentityRequest::decode(p).is_ok(),
        };
    }
});
