//! A KES API request: method, path and JSON body, through the route table and the lenient
//! body reader the node uses before acting. Every input gets a route or a refusal, and a
//! routed path is one the node claims for the KES API (or `/version`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use minkms_client::kes::{claims, find, Fields};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method: http::Method = METHODS[usize::from(m) % METHODS.len()].parse().unwrap();
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (path, body) = rest.split_at(split);
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    if let Ok((route, arg)) = find(&method, path) {
        assert!(route.path == "/version" || claims(path), "{path} routed but not claimed");
        assert!(arg.is_empty() || route.path.ends_with('/'));
    }
    if let Ok(fields) = Fields::parse(body) {
        for member in ["context", "plaintext", "ciphertext", "message", "key", "cipher"] {
            let _ = fields.bytes(member);
            let _ = fields.string(member);
        }
    }
});
