//! tanh in f64 from a polynomial exp, to within a few ulps of the correctly rounded value
//! (tested against the C library's), with no library call: the benchmark net spends most of its
//! time in tanh, and this form lets the compiler keep it in registers. Pure arithmetic, so
//! every run gives the same bits.

/// `1 / n!` for `n = 0..=14`.
const INV_FACTORIAL: [f64; 15] = {
    let mut c = [1.0; 15];
    let mut n = 1;
    while n < 15 {
        c[n] = c[n - 1] / n as f64;
        n += 1;
    }
    c
};

/// fdlibm's split of ln 2 (its bit patterns): `k * LN2_HI` is exact for the `k` used here.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// Adding and subtracting 1.5 * 2^52 rounds to the nearest integer.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `e^y - 1` for `0 <= y <= 40`: `y = k ln 2 + r` with `|r| <= ln 2 / 2`, `e^r - 1` by its
/// Taylor series to `r^14` (the rest is below 1e-18 of it), and
/// `e^y - 1 = 2^k (e^r - 1) + (2^k - 1)`. No branch and no float-to-int conversion, so a loop
/// of these vectorises.
#[inline(always)]
fn expm1(y: f64) -> f64 {
    let shifted = y * std::f64::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = (y - k * LN2_HI) - k * LN2_LO;
    let mut p = INV_FACTORIAL[14];
    for n in (1..14).rev() {
        p = p * r + INV_FACTORIAL[n];
    }
    let k_int = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_k = f64::from_bits(k_int.wrapping_add(1023) << 52);
    two_k * (p * r) + (two_k - 1.0)
}

/// `tanh x = m / (m + 2)` with `m = e^{2|x|} - 1`, and the sign of `x`. NaN stays NaN.
#[inline(always)]
pub(crate) fn tanh(x: f64) -> f64 {
    let a = x.abs();
    // tanh 20 rounds to 1
    let y = 2.0 * if a > 20.0 { 20.0 } else { a };
    let m = expm1(y);
    (m / (m + 2.0)).copysign(x)
}

/// `tanh` of every element, vectorised.
pub(crate) fn tanh_slice(z: &[f64]) -> Vec<f64> {
    super::vectorized(
        #[inline(always)]
        || {
            let mut h = vec![0.0; z.len()];
            for (h, &z) in h.iter_mut().zip(z) {
                *h = tanh(z);
            }
            h
        },
    )
}

#[cfg(test)]
mod tests {
    /// Distance in units in the last place.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn within_a_few_ulps_of_the_c_library() {
        let mut worst = 0;
        let mut x = 1e-300f64;
        while x < 30.0 {
            for v in [x, -x] {
                let d = ulps(super::tanh(v), v.tanh());
                assert!(d <= 4, "tanh({v:e}) = {} vs {}", super::tanh(v), v.tanh());
                worst = worst.max(d);
            }
            x *= 1.0 + 1e-4;
        }
        assert!(
            worst >= 1,
            "a different function than the library's would not be this close"
        );
        assert_eq!(super::tanh(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(super::tanh(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(super::tanh(f64::INFINITY), 1.0);
        assert_eq!(super::tanh(f64::NEG_INFINITY), -1.0);
        assert!(super::tanh(f64::NAN).is_nan());
        let z: Vec<f64> = (0..999).map(|i| (i as f64 - 499.0) / 37.0).collect();
        let all = super::tanh_slice(&z);
        assert!(
            z.iter()
                .zip(&all)
                .all(|(z, t)| super::tanh(*z).to_bits() == t.to_bits())
        );
    }
}
