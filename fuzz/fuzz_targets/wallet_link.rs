//! Presentation requests as the wallet receives them: `openid4vp://` links with the request by
//! value, by reference or as an unsigned request object.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ageband_wallet::parse_link(text);
    // Links arrive with a scheme the fuzzer rarely guesses; try it prefixed as well.
    if !text.starts_with("openid4vp:") {
        let _ = ageband_wallet::parse_link(&format!("openid4vp://?{text}"));
    }
});
