//! Arbitrary bytes through the frame decoder: it must never panic, and whatever it accepts must
//! re-encode to a frame that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalar::proto::{Status, decode_frame};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Status::Complete((decoded, used))) = decode_frame(rest) {
        if let Ok(msg) = decoded {
            let frame = msg.to_frame().expect("a decoded message fits a frame");
            let Ok(Status::Complete((Ok(again), n))) = decode_frame(&frame) else {
                panic!("re-encoded frame does not decode: {msg:?}");
            };
            assert_eq!(n, frame.len());
            assert_eq!(again, msg);
        }
        rest = &rest[used..];
    }
});
