//! Condensation of the input weights of a two-layer net with 1-D input (paper Sec 5.1,
//! Definitions 5.1 and 5.2). Neuron j has input weights (w_j, b_j) and output weight a_j:
//! orientation theta_j = atan2(b_j, w_j) in (-pi, pi], magnitude r_j = |(w_j, b_j)|, amplitude
//! A_j = |a_j| r_j. The condensed variance is V = sum r_i d_i^2 / sum r_i with d_i the angle from
//! theta_i to the r-weighted circular mean direction, wrapped into (-pi, pi] (so neurons just
//! either side of +-pi are close, not 2 pi apart).

use std::f64::consts::PI;

#[derive(Clone, Debug, PartialEq)]
pub struct Neuron {
    pub orientation: f64,
    /// |(w, b)|.
    pub magnitude: f64,
    /// |a|.
    pub output: f64,
    /// |a| |(w, b)|.
    pub amplitude: f64,
}

/// Neurons of a two-layer net from theta = [a (m), w (m), b (m), ...].
pub fn neurons(theta: &[f64], width: usize) -> Vec<Neuron> {
    (0..width)
        .map(|j| {
            let (a, w, b) = (theta[j], theta[width + j], theta[2 * width + j]);
            let magnitude = w.hypot(b);
            Neuron {
                orientation: b.atan2(w),
                magnitude,
                output: a.abs(),
                amplitude: a.abs() * magnitude,
            }
        })
        .collect()
}

/// Wraps an angle into (-pi, pi].
pub fn wrap(angle: f64) -> f64 {
    let a = angle.rem_euclid(2.0 * PI);
    if a > PI { a - 2.0 * PI } else { a }
}

/// (weighted mean direction, condensed variance) of points (angle, weight).
pub fn condensed_variance(points: &[(f64, f64)]) -> (f64, f64) {
    let total: f64 = points.iter().map(|p| p.1).sum();
    if total == 0.0 {
        return (0.0, 0.0);
    }
    let s: f64 = points.iter().map(|(t, r)| r * t.sin()).sum::<f64>() / total;
    let c: f64 = points.iter().map(|(t, r)| r * t.cos()).sum::<f64>() / total;
    let mean = s.atan2(c);
    let v = points
        .iter()
        .map(|(t, r)| r * wrap(t - mean).powi(2))
        .sum::<f64>()
        / total;
    (mean, v)
}

/// The condensed variance of a two-layer net's input weights (weights r_j, Definition 5.2).
pub fn network_variance(theta: &[f64], width: usize) -> f64 {
    let points: Vec<(f64, f64)> = neurons(theta, width)
        .iter()
        .map(|n| (n.orientation, n.magnitude))
        .collect();
    condensed_variance(&points).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_configurations() {
        // All aligned: zero, whatever the weights.
        assert_eq!(
            condensed_variance(&[(0.7, 1.0), (0.7, 5.0), (0.7, 0.1)]).1,
            0.0
        );
        // Weights 1 at 0 and 3 at pi/2: mean atan2(3, 1); V by hand.
        let (m, v) = condensed_variance(&[(0.0, 1.0), (PI / 2.0, 3.0)]);
        let mean = 3f64.atan2(1.0);
        assert!((m - mean).abs() < 1e-15);
        let want = (mean.powi(2) + 3.0 * (PI / 2.0 - mean).powi(2)) / 4.0;
        assert!((v - want).abs() < 1e-15);
        // Two opposite clusters, the heavier wins the mean; the lighter is pi away.
        let (m, v) = condensed_variance(&[(0.3, 3.0), (0.3 - PI, 1.0)]);
        assert!((m - 0.3).abs() < 1e-12);
        assert!((v - PI * PI / 4.0).abs() < 1e-12);
        // Across the +-pi cut: 0.1 either side of pi is 0.1 from the mean, not 2 pi - 0.1.
        let (m, v) = condensed_variance(&[(PI - 0.1, 1.0), (-PI + 0.1, 1.0)]);
        assert!((wrap(m - PI)).abs() < 1e-12);
        assert!((v - 0.01).abs() < 1e-12);
    }

    #[test]
    fn neurons_of_a_net() {
        // a = [2, -1], w = [1, 0], b = [1, -3]
        let theta = [2.0, -1.0, 1.0, 0.0, 1.0, -3.0];
        let n = neurons(&theta, 2);
        assert!(
            (n[0].orientation - PI / 4.0).abs() < 1e-15
                && (n[0].amplitude - 2.0 * 2f64.sqrt()).abs() < 1e-15
        );
        assert!(
            (n[1].orientation + PI / 2.0).abs() < 1e-15 && (n[1].amplitude - 3.0).abs() < 1e-15
        );
        assert_eq!(wrap(PI), PI);
        assert!((wrap(-PI) - PI).abs() < 1e-15);
        assert!((wrap(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-15);
    }
}
