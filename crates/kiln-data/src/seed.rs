//! Seeds derived from (loader seed, epoch, sample index), so that every random choice the loader
//! makes is a pure function of those numbers: the same in every run, whatever the worker count,
//! and the same for a run resumed at epoch `e` as for the uninterrupted one.

use kiln_tensor::Generator;

/// Distinct streams for the shuffle permutation and per-sample transforms.
#[derive(Clone, Copy)]
#[repr(u64)]
pub(crate) enum Stream {
    Shuffle = 0x5348_5546,
    Sample = 0x5341_4d50,
    Split = 0x5350_4c54,
}

/// The splitmix64 finalizer: a bijective mix with full avalanche.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A generator seeded from `(stream, seed, a, b)`.
pub(crate) fn generator(stream: Stream, seed: u64, a: u64, b: u64) -> Generator {
    let mut h = mix(seed ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    h = mix(h ^ a.wrapping_add(0x632B_E59B_D9B4_E019));
    h = mix(h ^ b.wrapping_add(0xD1B5_4A32_D192_ED03));
    Generator::new(h)
}

/// A uniformly random permutation of `0..n` (Fisher-Yates) drawn from `g`.
pub(crate) fn permutation(n: usize, g: &mut Generator) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = g.next_range(0, i as i64 + 1) as usize;
        p.swap(i, j);
    }
    p
}
