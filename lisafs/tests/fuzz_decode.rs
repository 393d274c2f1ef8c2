//! Property tests of lisafs decoding against hostile bytes, on the stable
//! toolchain: the same property the cargo-fuzz target checks
//! (`lisafs::fuzz::decode`), driven by proptest over random inputs and over
//! mutations of valid encodings of every message type.

use lisafs::fuzz;
use lisafs::message::Mid;
use proptest::prelude::*;

/// One edit of a valid encoding. Length fields sit at the places that
/// matter, so besides byte flips the edits overwrite 32-bit words with
/// values a hostile peer would choose.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip { at: usize, mask: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Extend(Vec<u8>),
    Word { at: usize, value: u32 },
    Selector(u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = prop_oneof![
        Just(0u32),
        Just(1),
        Just(255),
        Just(256),
        Just(4096),
        Just(u32::MAX),
        Just(u32::MAX / 2),
        any::<u32>(),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        (any::<usize>(), word).prop_map(|(at, value)| Mutation::Word { at, value }),
        any::<u8>().prop_map(Mutation::Selector),
    ]
}

fn apply(input: &mut Vec<u8>, m: &Mutation) {
    let len = input.len();
    match m {
        Mutation::Truncate(n) => input.truncate(n % (len + 1)),
        Mutation::Flip { at, mask } if len > 0 => input[at % len] ^= mask,
        Mutation::Insert { at, bytes } => {
            let at = at % (len + 1);
            input.splice(at..at, bytes.iter().copied());
        }
        Mutation::Extend(bytes) => input.extend_from_slice(bytes),
        // Never the selector byte: that is `Selector`'s job.
        Mutation::Word { at, value } if len >= 5 => {
            let at = 1 + at % (len - 4);
            input[at..at + 4].copy_from_slice(&value.to_ne_bytes());
        }
        Mutation::Selector(s) if len > 0 => input[0] = *s,
        _ => {}
    }
}

/// A few thousand cases keep CI fast; `PROPTEST_CASES` asks for more.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // A failure here is a decoder bug; the shrunk input is what matters,
        // not a file that a fresh CI checkout would not have anyway.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzz::decode(&data);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec(mutation(), 1..4),
    ) {
        let seeds = fuzz::seeds();
        let mut input = seeds[seed.index(seeds.len())].clone();
        for m in &edits {
            apply(&mut input, m);
        }
        fuzz::decode(&input);
    }
}

/// Every valid encoding read under every other message id: the confusion a
/// peer causes by sending one message's body with another's id.
#[test]
fn every_seed_under_every_id() {
    for seed in fuzz::seeds() {
        for mid in Mid::ALL {
            fuzz::decode_as(mid, &seed[1..]);
        }
    }
}

/// Every truncation of every valid encoding: the shapes a short read or a
/// lying length field produce.
#[test]
fn every_truncation_is_harmless() {
    for seed in fuzz::seeds() {
        let full = fuzz::decode(&seed);
        assert!(full > 0);
        for len in 1..seed.len() {
            fuzz::decode(&seed[..len]);
        }
    }
}
