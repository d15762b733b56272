//! Frequency content of network outputs (paper Sec 3.4, Definition 3.1): the power spectrum of a
//! function sampled on a uniform grid, and its low-frequency proportion
//! LFP(K) = sum_{|k| <= K} |f^(k)|^2 / sum_k |f^(k)|^2, where k is the frequency index of the
//! discrete Fourier transform (cycles over the sampled interval) and |k| folds negative
//! frequencies onto positive ones.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// |F_k|^2 per frequency magnitude |k| = 0 ..= N/2 (both signs summed).
pub(crate) fn power_by_frequency(signal: &[f64]) -> Vec<f64> {
    let n = signal.len();
    if n == 0 {
        return vec![];
    }
    let mut buf: Vec<Complex<f64>> = signal.iter().map(|&x| Complex::new(x, 0.0)).collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let mut power = vec![0.0; n / 2 + 1];
    for (k, c) in buf.iter().enumerate() {
        power[k.min(n - k)] += c.norm_sqr();
    }
    power
}

/// LFP(K) for each threshold K (NaN for a zero signal).
pub(crate) fn lfp(signal: &[f64], thresholds: &[usize]) -> Vec<f64> {
    let power = power_by_frequency(signal);
    let total: f64 = power.iter().sum();
    thresholds
        .iter()
        .map(|&k| power.iter().take(k + 1).sum::<f64>() / total)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn wave(n: usize, f: impl Fn(f64) -> f64) -> Vec<f64> {
        (0..n).map(|i| f(i as f64 / n as f64)).collect()
    }

    #[test]
    fn pure_sinusoids_put_all_power_at_their_frequency() {
        let s = wave(128, |t| (2.0 * PI * 3.0 * t).sin());
        let l = lfp(&s, &[0, 1, 2, 3, 4, 10]);
        for (got, want) in l.iter().zip([0.0, 0.0, 0.0, 1.0, 1.0, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{l:?}");
        }
        let c = wave(64, |_| 2.5);
        assert!((lfp(&c, &[0])[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn sums_split_power_by_amplitude_squared() {
        // 2 sin(2 pi 2 t) + cos(2 pi 7 t): power 4 : 1.
        let s = wave(256, |t| {
            2.0 * (2.0 * PI * 2.0 * t).sin() + (2.0 * PI * 7.0 * t).cos()
        });
        let l = lfp(&s, &[1, 2, 6, 7]);
        for (got, want) in l.iter().zip([0.0, 0.8, 0.8, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{l:?}");
        }
        // A constant offset of 3 adds power 9 (x n^2) at k = 0 against 4/2 + 1/2 per sample.
        let s = wave(256, |t| {
            3.0 + 2.0 * (2.0 * PI * 2.0 * t).sin() + (2.0 * PI * 7.0 * t).cos()
        });
        let l = lfp(&s, &[0, 2]);
        let (p0, p2, p7) = (9.0, 2.0, 0.5);
        assert!((l[0] - p0 / (p0 + p2 + p7)).abs() < 1e-12);
        assert!((l[1] - (p0 + p2) / (p0 + p2 + p7)).abs() < 1e-12);
    }
}
