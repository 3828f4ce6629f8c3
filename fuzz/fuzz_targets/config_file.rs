//! The YAML config file (`minkms server --config FILE`): the server's own parser, compiled
//! in from its source, on any text. It must answer every input with a config or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../server/src/server/config.rs"]
#[allow(dead_code, unreachable_pub)]
mod config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = config::Config::parse(text) {
        // What the server reads of a parsed config must be there to read.
        let _ = (parsed.limits.max_connections, parsed.hsm.pkcs11.len());
    }
});
