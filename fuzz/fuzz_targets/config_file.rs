//! The YAML config file (`minkms server --config FILE`): the server's own parser (the
//! `minkms-config` crate), on any text. It must answer every input with a config or an error, and
//! no error may repeat a value written inline under a secret's key (`pin`, `password`, `auth`).
#![no_main]

use libfuzzer_sys::fuzz_target;

use minkms_config as config;

/// Scalars written right after a secret's key (`key: value`: YAML needs the space, `pin:x` is
/// one plain scalar, not a key and its value): long enough that finding one in an error cannot
/// be a coincidence of the error's own words.
fn inline_secrets(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.trim_start().trim_start_matches("- ").split_once(": ")?;
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            (matches!(key.trim(), "pin" | "password" | "auth")
                && value.len() >= 12
                && value.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then_some(value)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::Config::parse(text) {
        Ok(parsed) => {
            // What the server reads of a parsed config must be there to read.
            let _ = (parsed.limits.max_connections, parsed.hsm.pkcs11.len());
        }
        Err(e) => {
            let message = format!("{e:#}");
            for secret in inline_secrets(text) {
                assert!(!message.contains(secret), "a secret in: {message}");
            }
        }
    }
});
