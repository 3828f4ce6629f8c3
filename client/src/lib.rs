//! The wire types of the minkms API (MinIO KMS compatible) and the typed async client that the
//! CLI, the tests, the benchmarks and the remote-minkms HSM backend share.
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

mod apikey;
mod client;
mod command;
mod commands;
mod error;
mod frame;
pub mod kes;
mod node;
mod tls;
mod transport;
pub mod wire;

pub use apikey::{ApiKey, Identity, KeyFormatError};
pub use client::{error_message, Client, ClientBuilder, HttpVersion, RawResponse};
pub use command::Command;
pub use commands::LogReader;
pub use error::Error;
pub use frame::{decode_frames, encode_frames, put_frame, Frame, FrameError, FRAME_HEADER_LEN};
pub use kes::percent_decode;
pub use node::{NodeName, PeerSecret};
pub use tls::{
    client_config, provider, tls_client_config, ServerCertificateRule, ServerTrust, SignatureCheck,
};
pub use transport::{error_chain, https_client, HttpsClient, Transport};

/// The default port of minkms and of MinIO's KMS client.
pub const DEFAULT_PORT: u16 = 7373;

/// Normalizes an endpoint as MinIO's client does: strips `https://` / `http://` and a trailing
/// slash, and adds the default port when none is given.
pub fn normalize_endpoint(endpoint: &str) -> String {
    let e = endpoint.trim();
    let e = e
        .strip_prefix("https://")
        .or_else(|| e.strip_prefix("http://"))
        .unwrap_or(e);
    let e = e.trim_end_matches('/');
    let has_port = match e.rsplit_once(':') {
        Some((host, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        e.to_string()
    } else {
        format!("{e}:{DEFAULT_PORT}")
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_endpoint;

    #[test]
    fn endpoints_are_normalized() {
        assert_eq!(
            normalize_endpoint("https://kms.example:7373/"),
            "kms.example:7373"
        );
        assert_eq!(normalize_endpoint("127.0.0.1"), "127.0.0.1:7373");
        assert_eq!(normalize_endpoint("http://[::1]:8000"), "[::1]:8000");
        assert_eq!(normalize_endpoint("[::1]"), "[::1]:7373");
    }
}
