//! [`stable_unit`]: a seeded hash of string keys to a number in [0, 1) that never
//! changes, for draws that must come out the same on every machine and release.
//!
//! It lives here, with the control groups, so that retain-policy needs no model crate;
//! retain-pipeline (which depends on both) draws its calibration hold-out with it too.

/// A number in [0, 1) fixed by a seed and a key (a customer id, or an action and a
/// customer id): seeded, stable per key, and the same on every machine and release.
/// The next-best-action control groups draw with it, and so does training's calibration
/// hold-out (retain-pipeline).
/// Written by hand because no hashing crate promises values stable across releases:
/// FNV-1a over the parts (a 0xff byte between them), then a splitmix64 finaliser.
pub fn stable_unit(seed: u64, parts: &[&str]) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for (i, part) in parts.iter().enumerate() {
        let sep: &[u8] = if i == 0 { &[] } else { &[0xff] };
        for b in sep.iter().chain(part.as_bytes()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stable_unit` decides calibration hold-outs and control groups, so its values
    /// must never change: these were computed with it before it moved anywhere.
    #[test]
    fn stable_unit_values_are_pinned() {
        let cases: [(u64, &[&str], u64); 9] = [
            (0, &[], 0x3fee_a542_bd35_36bd),
            (0, &[""], 0x3fee_a542_bd35_36bd),
            (0, &["c1"], 0x3fce_d69c_6cb6_6c54),
            (42, &["c1"], 0x3fc4_8c47_13c3_7f40),
            (42, &["C000123"], 0x3fe2_0b77_c8f0_2551),
            (7, &["winback_email", "C000123"], 0x3faf_6109_e32f_3b90),
            (7, &["winback_email", ""], 0x3fbe_e228_f332_a040),
            // The separator keeps ("a", "b") apart from ("ab").
            (7, &["winback_emailC000123"], 0x3fc5_5145_0716_1380),
            (u64::MAX, &["ünïcode", "x"], 0x3fef_7d9f_5894_88fe),
        ];
        for (seed, parts, bits) in cases {
            let v = stable_unit(seed, parts);
            assert_eq!(v.to_bits(), bits, "stable_unit({seed}, {parts:?}) = {v}");
            assert!((0.0..1.0).contains(&v));
        }
        assert_eq!(stable_unit(42, &["C000123"]), 0.563_899_891_335_646_4);
    }
}
