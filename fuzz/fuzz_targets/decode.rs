//! libFuzzer target: arbitrary bytes decoded as lisafs requests and
//! responses must never panic and must round-trip when they decode. The
//! property itself is `lisafs::fuzz::decode`, shared with the stable
//! proptest suite.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lisafs::fuzz::decode(data);
});
