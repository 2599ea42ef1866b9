//! The seedable random generator behind `rand`, `randn`, `randint`, `dropout` and init functions.
//!
//! A xoshiro256++ stream seeded through splitmix64: fast, with a 256-bit state that checkpoints
//! can save and restore ([`get_rng_state`], [`set_rng_state`]). Sequences are deterministic for a
//! seed but are not PyTorch's (which uses MT19937).

use std::sync::Mutex;

/// A xoshiro256++ generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generator {
    s: [u64; 4],
    /// Second Box-Muller value, kept for the next normal draw.
    spare_normal: Option<u64>,
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        Generator {
            s: [
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
            ],
            spare_normal: None,
        }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller, both values used).
    pub fn next_normal(&mut self) -> f64 {
        if let Some(bits) = self.spare_normal.take() {
            return f64::from_bits(bits);
        }
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        self.spare_normal = Some((r * s).to_bits());
        r * c
    }

    /// Uniform integer in `[low, high)`; `high > low`.
    pub fn next_range(&mut self, low: i64, high: i64) -> i64 {
        let span = (high - low) as u64;
        // Lemire's nearly divisionless method would be faster; rejection keeps it unbiased.
        let zone = u64::MAX - (u64::MAX % span);
        loop {
            let v = self.next_u64();
            if v < zone {
                return low + (v % span) as i64;
            }
        }
    }

    /// The full state, for checkpoints.
    pub fn state(&self) -> [u64; 5] {
        [
            self.s[0],
            self.s[1],
            self.s[2],
            self.s[3],
            self.spare_normal.map_or(u64::MAX, |b| b),
        ]
    }

    /// Restores a state from [`Generator::state`].
    pub fn from_state(st: [u64; 5]) -> Self {
        Generator {
            s: [st[0], st[1], st[2], st[3]],
            spare_normal: (st[4] != u64::MAX).then_some(st[4]),
        }
    }
}

static GLOBAL: Mutex<Option<Generator>> = Mutex::new(None);

/// Seeds the global generator (`torch.manual_seed`).
pub fn manual_seed(seed: u64) {
    *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(Generator::new(seed));
}

/// Runs `f` with the global generator (seeded with 0 on first use if never seeded).
pub fn with_rng<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
    let mut g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(|| Generator::new(0)))
}

/// The global generator's state (`torch.get_rng_state`).
pub fn get_rng_state() -> [u64; 5] {
    with_rng(|g| g.state())
}

/// Restores the global generator's state (`torch.set_rng_state`).
pub fn set_rng_state(state: [u64; 5]) {
    *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(Generator::from_state(state));
}
