//! The sealing layer: what protects the root encryption key (REK) of a minkms node and yields
//! the secret every node of a cluster derives its shared identities from.
//!
//! [`SealingBackend`] is the one trait every HSM implements; [`BackendSet`] is the configured
//! list of them (several may unseal, exactly one communicates). Nothing here knows what a
//! keystore is: backends seal and unseal bytes and derive secrets.
#![forbid(unsafe_code)]
// Code that runs inside the server never panics: errors are answers (see SECURITY.md).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]
#![warn(missing_docs)]

mod backend;
mod blob;
#[cfg(any(feature = "remote", feature = "cloudhsm"))]
mod blocking;
#[cfg(feature = "cloudhsm")]
pub mod cloudhsm;
mod error;
mod kdf;
pub mod labels;
#[cfg(feature = "pkcs11")]
mod pkcs11;
#[cfg(feature = "remote")]
mod remote;
mod set;
mod soft;
#[cfg(feature = "yubihsm")]
mod yubihsm;

pub use backend::{SealingBackend, Secret32};
pub use blob::{SealMechanism, SealedBlob};
pub use error::HsmError;
#[cfg(feature = "pkcs11")]
pub use pkcs11::{Pkcs11Config, Pkcs11Hsm};
#[cfg(feature = "remote")]
pub use remote::{RemoteConfig, RemoteMinkms};
pub use set::{BackendSet, UnsealError, Unsealed};
pub use soft::SoftHsm;
#[cfg(feature = "yubihsm")]
pub use yubihsm::YubiHsm;
