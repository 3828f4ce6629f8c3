//! Policy documents (`minkms add-policy NAME FILE`), parsed and evaluated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minkms_client::Command;
use minkms_policies::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(policy) = Policy::from_json(data, &Command::grantable_texts()) else {
        return;
    };
    for c in Command::grantable_texts() {
        let _ = policy.evaluate(c, "my-key");
        let _ = policy.allows_some(c);
    }
});
