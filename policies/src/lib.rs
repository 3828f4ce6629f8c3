//! Policy documents and their evaluation.
//!
//! A policy maps a command text (`"KEY:GENERATE"`) to a set of name patterns, once for what it
//! allows and once for what it denies. Evaluation is deny-by-default and an explicit deny always
//! wins over an allow, as MinIO KMS documents it. This crate is pure: it knows nothing of the
//! commands that exist (the caller validates command texts) and does no I/O.
#![forbid(unsafe_code)]
// Request handling never panics: errors are answers (see SECURITY.md).
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

mod document;
mod pattern;

pub use document::{Decision, Policy, PolicyError, RuleSet};
pub use pattern::Pattern;
