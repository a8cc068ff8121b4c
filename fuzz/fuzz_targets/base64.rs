//! base64url: `decode` accepts only canonical unpadded text, so decode → encode gives the input
//! back exactly; encode → decode gives the bytes back; the cap is applied to the input length.
#![no_main]

use ageband_core::b64::{self, Base64Error, encoded_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cap, rest)) = data.split_first() else {
        return;
    };
    let cap = usize::from(cap) * 4;
    if let Ok(text) = std::str::from_utf8(rest) {
        match b64::decode(text, cap) {
            Ok(bytes) => {
                assert!(bytes.len() <= cap);
                assert_eq!(b64::encode(&bytes), text, "accepted a non-canonical spelling");
                if let Ok(arr) = b64::decode_array::<32>(text) {
                    assert_eq!(arr.as_slice(), bytes.as_slice());
                }
            }
            Err(Base64Error::TooLong { len, max }) => {
                assert_eq!((len, max), (text.len(), encoded_len(cap)));
                assert!(len > max);
            }
            Err(_) => assert!(text.len() <= encoded_len(cap)),
        }
        assert!(!text.contains('=') || b64::decode(text, usize::MAX / 8).is_err());
    }
    let enc = b64::encode(rest);
    assert_eq!(enc.len(), encoded_len(rest.len()));
    assert_eq!(b64::decode(&enc, rest.len()).as_deref(), Ok(rest));
});
