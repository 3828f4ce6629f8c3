//! API keys and identities from the command line, the environment or requests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minkms_client::{ApiKey, Identity};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = ApiKey::parse(text) {
        assert_eq!(
            ApiKey::parse(&key.to_secret_string())
                .ok()
                .map(|k| k.identity().clone()),
            Some(key.identity().clone())
        );
    }
    if let Ok(id) = Identity::parse(text) {
        assert_eq!(id.as_str(), text);
    }
    let _ = minkms_hsm::SoftHsm::parse(text);
});
