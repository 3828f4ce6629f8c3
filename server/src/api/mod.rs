//! The HTTP API: connections and their limits, TLS identities, authorization, one dispatch over
//! the commands of the KMS protocol, the one mapping from errors to statuses, metrics and the
//! audit log. It calls the cluster layer for writes and the keystore for reads.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod connections;
pub(crate) mod error;
pub(crate) mod gate;
pub(crate) mod http;
pub(crate) mod kes;
pub(crate) mod kms;
pub(crate) mod metrics;
pub(crate) mod profiling;
pub(crate) mod response;
pub(crate) mod rpc;
