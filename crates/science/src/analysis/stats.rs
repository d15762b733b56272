//! The statistics the claim checks use: correlations, a one-sided significance test of Spearman's
//! rank correlation (so that a trend over a handful of points is judged by a stated level, not by
//! its sign), means and medians.

/// Significance level of every trend test of the claim checks (one-sided).
pub(crate) const ALPHA: f64 = 0.05;

/// Spearman's rank correlation (average ranks for ties).
pub(crate) fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

pub(crate) fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Up to this many points the null distribution of Spearman's rho is enumerated exactly (8! =
/// 40,320 orderings); above it the normal approximation rho sqrt(n - 1) ~ N(0, 1) is used.
const EXACT_UP_TO: usize = 8;

/// One-sided p-value of Spearman's rho between `x` and `y` under the null hypothesis of no
/// association: P(rho >= observed) for `increasing`, P(rho <= observed) otherwise. NaN for
/// fewer than 3 points.
pub(crate) fn spearman_p(x: &[f64], y: &[f64], increasing: bool) -> f64 {
    let n = x.len().min(y.len());
    if n < 3 {
        return f64::NAN;
    }
    let rho = spearman(&x[..n], &y[..n]);
    let sign = if increasing { 1.0 } else { -1.0 };
    if n <= EXACT_UP_TO {
        let rx = ranks(&x[..n]);
        let mut ry = ranks(&y[..n]);
        // Every ordering of y's ranks against x's is equally likely under the null; a tiny
        // margin counts ties of rho as "at least as extreme" despite rounding.
        let (mut extreme, mut total) = (0u64, 0u64);
        permutations(&mut ry, 0, &mut |perm| {
            total += 1;
            if sign * pearson(&rx, perm) >= sign * rho - 1e-12 {
                extreme += 1;
            }
        });
        extreme as f64 / total as f64
    } else {
        let z = sign * rho * ((n - 1) as f64).sqrt();
        0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
    }
}

fn permutations(v: &mut [f64], k: usize, visit: &mut impl FnMut(&[f64])) {
    if k == v.len() {
        visit(v);
        return;
    }
    for i in k..v.len() {
        v.swap(k, i);
        permutations(v, k + 1, visit);
        v.swap(k, i);
    }
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Population standard deviation.
pub(crate) fn std_dev(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt()
}

/// The 95% Wilson score interval of a share of `k` in `n` (`None` for n = 0): the interval the
/// atlas's claims give their shares with, sound for shares near 0 or 1 and for small n.
pub(crate) fn wilson(k: usize, n: usize) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 100.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[5.0, 1.0, 5.0]), vec![1.5, 0.0, 1.5]);
    }

    #[test]
    fn exact_spearman_p_values_by_hand() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        // A perfect decrease on 5 points: 1 ordering of 120.
        let down = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert!((spearman_p(&x, &down, false) - 1.0 / 120.0).abs() < 1e-15);
        // rho = -0.9 (one adjacent swap): the 4 orderings with rho <= -0.9 out of 120.
        let near = [5.0, 4.0, 3.0, 1.0, 2.0];
        assert!((spearman(&x, &near) + 0.9).abs() < 1e-12);
        assert!((spearman_p(&x, &near, false) - 5.0 / 120.0).abs() < 1e-15);
        // The other direction of the same data is not significant.
        assert!(spearman_p(&x, &near, true) > 0.9);
        // Seven points, rho = -25/28: 31 of the 5,040 orderings are at least as low.
        let x7 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let y7 = [7.0, 5.0, 6.0, 3.0, 4.0, 1.0, 2.0];
        let p = spearman_p(&x7, &y7, false);
        assert!((spearman(&x7, &y7) + 25.0 / 28.0).abs() < 1e-12);
        assert!((p - 31.0 / 5040.0).abs() < 1e-15, "{p}");
        assert!(spearman_p(&x[..2], &down[..2], false).is_nan());
    }

    #[test]
    fn normal_approximation_above_eight_points() {
        // rho = 1 on 10 points: z = 3, p = 1 - Phi(3) = 0.0013499.
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        assert!((spearman_p(&x, &x, true) - 0.001_349_898).abs() < 1e-8);
        // rho = 0 (alternating): p = 1/2.
        let y = [1.0, 0.0, 3.0, 2.0, 5.0, 4.0, 7.0, 6.0, 9.0, 8.0];
        let rho = spearman(&x, &y);
        let z = rho * 3.0;
        assert!((spearman_p(&x, &y, true) - 0.5 * libm::erfc(z / 2f64.sqrt())).abs() < 1e-15);
    }

    #[test]
    fn wilson_intervals_by_hand() {
        // 8 of 10: centre (0.8 + z^2/20) / (1 + z^2/10), as tabulated: [0.4902, 0.9433].
        let (lo, hi) = wilson(8, 10).unwrap();
        assert!((lo - 0.490_162).abs() < 1e-5, "{lo}");
        assert!((hi - 0.943_318).abs() < 1e-5, "{hi}");
        // 0 of 5 starts at 0 and 5 of 5 ends at 1; the two mirror each other.
        let (a, b) = wilson(0, 5).unwrap();
        let (c, d) = wilson(5, 5).unwrap();
        assert!(a.abs() < 1e-15);
        assert!((b - (1.0 - c)).abs() < 1e-15 && (d - 1.0).abs() < 1e-15);
        assert!((b - 0.434_482).abs() < 1e-5, "{b}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn summaries() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(mean(&[1.0, 2.0, 3.0]), 2.0);
        assert!((std_dev(&[1.0, 3.0]) - 1.0).abs() < 1e-15);
    }
}
