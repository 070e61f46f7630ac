//! Stable, seeded hashing (FNV-1a 64 + SplitMix64) and per-field value derivation.
//!
//! Every generated value is `f(hash(seed, entity_key, field))`, never the next draw of a sequential RNG,
//! so adding a field never reshuffles existing data (docs/design/upstreams.md §7.3).

/// FNV-1a 64-bit hash of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a 64-bit hash of the concatenation of `parts`.
pub fn fnv1a64_parts(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One SplitMix64 output step for state `x`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps a hash to a float in `[0, 1)`.
pub fn unit_of(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A deterministic value source for one entity (a product id, a keyword, a video id…).
#[derive(Clone, Copy, Debug)]
pub struct Gen {
    base: u64,
}

impl Gen {
    /// The generator of `entity_key` under `seed`.
    pub fn new(seed: u64, entity_key: &str) -> Self {
        Self {
            base: splitmix64(seed ^ splitmix64(fnv1a64(entity_key.as_bytes()))),
        }
    }

    /// A child generator for item `index` of the list named `field` (ads of a keyword, SKUs of a product…).
    pub fn child(&self, field: &str, index: u64) -> Self {
        Self {
            base: splitmix64(self.u64(field) ^ splitmix64(index.wrapping_add(1))),
        }
    }

    /// The raw 64-bit hash of `field`.
    pub fn u64(&self, field: &str) -> u64 {
        splitmix64(self.base ^ fnv1a64(field.as_bytes()))
    }

    /// A float in `[0, 1)` for `field`.
    pub fn unit(&self, field: &str) -> f64 {
        unit_of(self.u64(field))
    }

    /// A float in `[lo, hi)` for `field`.
    pub fn range_f(&self, field: &str, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit(field)
    }

    /// An integer in `[lo, hi]` (inclusive) for `field`.
    pub fn range_u(&self, field: &str, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.u64(field) % (hi - lo + 1)
    }

    /// An integer in `[lo, hi]`, log-uniformly distributed (for counts spanning orders of magnitude).
    pub fn log_range(&self, field: &str, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let (l, h) = ((lo as f64 + 1.0).ln(), (hi as f64 + 1.0).ln());
        let v = (l + (h - l) * self.unit(field)).exp() - 1.0;
        (v.round() as u64).clamp(lo, hi)
    }

    /// True with probability `p`.
    pub fn chance(&self, field: &str, p: f64) -> bool {
        self.unit(field) < p
    }

    /// One element of a non-empty list.
    pub fn pick<'a>(&self, field: &str, list: &[&'a str]) -> &'a str {
        match list.len() {
            0 => "",
            n => list[(self.u64(field) % n as u64) as usize],
        }
    }

    /// A standard normal draw (Box–Muller over two derived uniforms).
    pub fn normal(&self, field: &str) -> f64 {
        let u1 = self.unit(&format!("{field}#1")).max(1e-12);
        let u2 = self.unit(&format!("{field}#2"));
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A string of `len` decimal digits whose first digit is not zero.
    pub fn digits(&self, field: &str, len: usize) -> String {
        let mut out = String::with_capacity(len);
        let mut h = self.u64(field);
        for i in 0..len {
            if i % 16 == 0 {
                h = splitmix64(h ^ i as u64);
            }
            let d = (h % 10) as u8;
            h /= 10;
            let d = if i == 0 && d == 0 { 1 } else { d };
            out.push(char::from(b'0' + d));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64_parts(&[b"ab", b"", b"c"]), fnv1a64(b"abc"));
    }

    #[test]
    fn derivation_is_stable_and_field_specific() {
        let g = Gen::new(42, "1005000000000001");
        assert_eq!(g.u64("price"), Gen::new(42, "1005000000000001").u64("price"));
        assert_ne!(g.u64("price"), g.u64("stock"));
        assert_ne!(g.u64("price"), Gen::new(43, "1005000000000001").u64("price"));
        let v = g.range_u("x", 3, 7);
        assert!((3..=7).contains(&v));
        assert_eq!(g.digits("id", 15).len(), 15);
    }
}
