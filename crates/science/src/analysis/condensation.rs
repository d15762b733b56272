//! Condensation of the input weights of a two-layer net with 1-D input (paper Sec 5.1,
//! Definitions 5.1 and 5.2). Neuron j has input weights (w_j, b_j) and output weight a_j.
//!
//! The paper's condensed variance, as written (Definitions 5.1, 5.2):
//! theta_i = arctan(b_i / w_i) in (-pi/2, pi/2], r_i = |(w_i, b_i)|, the weighted mean direction
//! theta_bar = arctan2(sum r_i sin theta_i / sum r_i, sum r_i cos theta_i / sum r_i), and
//! V_cond = sum r_i (theta_i - theta_bar)^2 / sum r_i, with no wrapping. (w, b) and (-w, -b) have
//! one orientation. The definition leaves w_i = 0 open (b/0); we take the limit's line, the
//! vertical, theta = +pi/2, whatever the signs of b and of the zero. It is discontinuous there:
//! a neuron with w slightly below 0 has theta near -pi/2, one slightly above near +pi/2.
//!
//! A circular variant (not the paper's, named `v_cond_circular` everywhere): the orientation
//! is the full angle atan2(b, w) in (-pi, pi] and the difference from the r-weighted circular
//! mean is wrapped into (-pi, pi], so neurons either side of the +-pi cut are close and
//! (w, b) and (-w, -b) are opposite. It has no jump at w = 0.
//!
//! The features of Fig 5.1 (right) use the full angle too: the paper's "angle between w_j and
//! the unit vector (1, 0)" of Sec 5.1.

use std::f64::consts::{FRAC_PI_2, PI};

use spike_nn::layout::TwoLayer;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Neuron {
    /// The full angle atan2(b, w) in (-pi, pi] (Fig 5.1's orientation).
    pub orientation: f64,
    /// |(w, b)|.
    pub magnitude: f64,
    /// |a|.
    pub output: f64,
    /// |a| |(w, b)|.
    pub amplitude: f64,
}

/// Neurons of a two-layer net.
pub(crate) fn neurons(net: &TwoLayer<&[f64]>) -> Vec<Neuron> {
    (0..net.a.len())
        .map(|j| {
            let (a, w, b) = (net.a[j], net.w[j], net.b[j]);
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

/// Definition 5.1's orientation arctan(b / w) in (-pi/2, pi/2]; +pi/2 at w = 0.
pub(crate) fn paper_orientation(w: f64, b: f64) -> f64 {
    if w == 0.0 { FRAC_PI_2 } else { (b / w).atan() }
}

/// Wraps an angle into (-pi, pi].
pub(crate) fn wrap(angle: f64) -> f64 {
    let a = angle.rem_euclid(2.0 * PI);
    if a > PI { a - 2.0 * PI } else { a }
}

/// The r-weighted mean direction of points (angle, r): Definition 5.1's arctan2 of the weighted
/// sine and cosine means.
fn mean_direction(points: &[(f64, f64)], total: f64) -> f64 {
    let s: f64 = points.iter().map(|(t, r)| r * t.sin()).sum::<f64>() / total;
    let c: f64 = points.iter().map(|(t, r)| r * t.cos()).sum::<f64>() / total;
    s.atan2(c)
}

/// Definition 5.2 on points (theta_i, r_i): (theta_bar, V_cond), the squared differences taken
/// as they are. (0, 0) when every r_i is 0.
pub(crate) fn condensed_variance(points: &[(f64, f64)]) -> (f64, f64) {
    weighted_variance(points, |d| d)
}

/// The circular variant on points (full angle, r): differences wrapped into (-pi, pi].
pub(crate) fn circular_variance(points: &[(f64, f64)]) -> (f64, f64) {
    weighted_variance(points, wrap)
}

fn weighted_variance(points: &[(f64, f64)], difference: impl Fn(f64) -> f64) -> (f64, f64) {
    let total: f64 = points.iter().map(|p| p.1).sum();
    if total == 0.0 {
        return (0.0, 0.0);
    }
    let mean = mean_direction(points, total);
    let v = points
        .iter()
        .map(|(t, r)| r * difference(t - mean).powi(2))
        .sum::<f64>()
        / total;
    (mean, v)
}

/// Both condensed variances of a two-layer net's input weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Variances {
    /// Definition 5.2: (theta_bar, V_cond).
    pub paper: (f64, f64),
    /// The circular variant: (mean direction, variance).
    pub circular: (f64, f64),
    /// Share of sum r_i on neurons within 0.1 rad of the vertical (|theta_i| > pi/2 - 0.1),
    /// where the paper's theta jumps between +-pi/2.
    pub near_vertical: f64,
}

/// Width of the band around w = 0 reported as `near_vertical`.
pub(crate) const VERTICAL_BAND: f64 = 0.1;

pub(crate) fn network_variances(net: &TwoLayer<&[f64]>) -> Variances {
    let (w, b, width) = (net.w, net.b, net.w.len());
    let paper: Vec<(f64, f64)> = (0..width)
        .map(|j| (paper_orientation(w[j], b[j]), w[j].hypot(b[j])))
        .collect();
    let circular: Vec<(f64, f64)> = (0..width)
        .map(|j| (b[j].atan2(w[j]), w[j].hypot(b[j])))
        .collect();
    let total: f64 = paper.iter().map(|p| p.1).sum();
    let vertical: f64 = paper
        .iter()
        .filter(|(t, _)| t.abs() > FRAC_PI_2 - VERTICAL_BAND)
        .map(|p| p.1)
        .sum();
    Variances {
        paper: condensed_variance(&paper),
        circular: circular_variance(&circular),
        near_vertical: if total > 0.0 { vertical / total } else { 0.0 },
    }
}

/// Bins of the full circle for `effective_orientations`: 5 degrees each.
pub(crate) const ORIENTATION_BINS: usize = 72;

/// How many discrete orientations carry the weight of points (full angle, weight): exp of the
/// entropy of the weights' distribution over `ORIENTATION_BINS` equal bins of (-pi, pi]. One
/// direction gives 1, k equally weighted separate directions give k, weight spread evenly over
/// the circle gives 72. NaN when every weight is 0.
pub(crate) fn effective_orientations(points: &[(f64, f64)]) -> f64 {
    let mut bins = [0.0; ORIENTATION_BINS];
    for (angle, weight) in points {
        let b = ((wrap(*angle) + PI) / (2.0 * PI) * ORIENTATION_BINS as f64) as usize;
        bins[b.min(ORIENTATION_BINS - 1)] += weight;
    }
    let total: f64 = bins.iter().sum();
    let entropy: f64 = bins
        .iter()
        .filter(|&&w| w > 0.0)
        .map(|&w| -(w / total) * (w / total).ln())
        .sum();
    if total > 0.0 { entropy.exp() } else { f64::NAN }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spike_nn::model::Arch;
    use spike_nn::ops::Activation;

    /// The two-layer net of theta = [a, w, b] (no output bias).
    fn two_layer(theta: &[f64]) -> TwoLayer<&[f64]> {
        let arch = Arch::Fnn {
            width: theta.len() / 3,
            act: Activation::Tanh,
            out_bias: false,
        };
        TwoLayer::of(&arch, theta).expect("a two-layer net")
    }

    const EPS: f64 = 1e-14;

    #[test]
    fn paper_orientation_by_hand() {
        assert!((paper_orientation(1.0, 1.0) - PI / 4.0).abs() < EPS);
        // w < 0: (-1, 1) and (1, -1) are one orientation, -pi/4.
        assert!((paper_orientation(-1.0, 1.0) + PI / 4.0).abs() < EPS);
        assert_eq!(paper_orientation(-1.0, 1.0), paper_orientation(1.0, -1.0));
        // w = 0: the vertical, +pi/2, for either sign of b and of the zero.
        assert_eq!(paper_orientation(0.0, 2.0), FRAC_PI_2);
        assert_eq!(paper_orientation(-0.0, -2.0), FRAC_PI_2);
        // Just either side of w = 0 the orientation jumps from +pi/2 to -pi/2.
        assert!((paper_orientation(1e-12, 1.0) - FRAC_PI_2).abs() < 1e-11);
        assert!((paper_orientation(-1e-12, 1.0) + FRAC_PI_2).abs() < 1e-11);
    }

    #[test]
    fn paper_variance_by_hand() {
        // All aligned: zero, whatever the weights.
        assert_eq!(
            condensed_variance(&[(0.7, 1.0), (0.7, 5.0), (0.7, 0.1)]).1,
            0.0
        );
        // Weights 1 at 0 and 3 at pi/2: theta_bar = atan2(3/4, 1/4) = atan(3);
        // V = (1 atan(3)^2 + 3 (pi/2 - atan(3))^2) / 4.
        let (m, v) = condensed_variance(&[(0.0, 1.0), (FRAC_PI_2, 3.0)]);
        let mean = 3f64.atan();
        assert!((m - mean).abs() < EPS);
        let want = (mean.powi(2) + 3.0 * (FRAC_PI_2 - mean).powi(2)) / 4.0;
        assert!((v - want).abs() < EPS);
        // No wrapping: two neurons at +-(pi/2 - 0.1), nearly the same line, are 2 (pi/2 - 0.1)
        // apart; theta_bar = 0, so V = (pi/2 - 0.1)^2.
        let t = FRAC_PI_2 - 0.1;
        let (m, v) = condensed_variance(&[(t, 1.0), (-t, 1.0)]);
        assert!(m.abs() < EPS);
        assert!((v - t * t).abs() < EPS);
    }

    #[test]
    fn a_net_with_negative_and_zero_w() {
        // a = [1, 1, 1], w = [1, -1, 0], b = [1, 1, 2]: theta = pi/4, -pi/4, pi/2;
        // r = sqrt 2, sqrt 2, 2.
        let theta = [1.0, 1.0, 1.0, 1.0, -1.0, 0.0, 1.0, 1.0, 2.0];
        let v = network_variances(&two_layer(&theta));
        let r = [2f64.sqrt(), 2f64.sqrt(), 2.0];
        let t = [PI / 4.0, -PI / 4.0, FRAC_PI_2];
        let total: f64 = r.iter().sum();
        let s = (r[0] * t[0].sin() + r[1] * t[1].sin() + r[2] * t[2].sin()) / total;
        let c = (r[0] * t[0].cos() + r[1] * t[1].cos() + r[2] * t[2].cos()) / total;
        // sin sum: 1 - 1 + 2 = 2; cos sum: 1 + 1 + 0 = 2: theta_bar = pi/4.
        assert!((s.atan2(c) - PI / 4.0).abs() < EPS);
        assert!((v.paper.0 - PI / 4.0).abs() < EPS);
        let want = (r[1] * (PI / 2.0).powi(2) + r[2] * (PI / 4.0).powi(2)) / total;
        assert!((v.paper.1 - want).abs() < EPS, "{} vs {want}", v.paper.1);
        // The r = 2 neuron at w = 0 is vertical: 2 / (2 sqrt 2 + 2) of the weight.
        assert!((v.near_vertical - 2.0 / total).abs() < EPS);
        // Circular: full angles pi/4, 3pi/4, pi/2; mean pi/2 (symmetric), V by hand.
        let want = (2.0 * 2f64.sqrt() * (PI / 4.0).powi(2)) / total;
        assert!((v.circular.0 - FRAC_PI_2).abs() < EPS);
        assert!((v.circular.1 - want).abs() < EPS);
    }

    #[test]
    fn isotropic_cloud_and_two_kinks() {
        // Uniform orientations: the paper's V tends to pi^2/12 (about 0.82), the circular one to
        // pi^2/3 (about 3.29).
        let n = 100_000;
        let theta: Vec<f64> = (0..n)
            .map(|j| -PI + 2.0 * PI * (j as f64 + 0.5) / n as f64)
            .collect();
        let mut net = vec![1.0; n];
        net.extend(theta.iter().map(|t| t.cos()));
        net.extend(theta.iter().map(|t| t.sin()));
        let v = network_variances(&two_layer(&net));
        assert!((v.paper.1 - PI * PI / 12.0).abs() < 1e-3, "{}", v.paper.1);
        assert!(
            (v.circular.1 - PI * PI / 3.0).abs() < 1e-3,
            "{}",
            v.circular.1
        );
        // Two kinks of the relu-pair target, ReLU(-x - 1/3) and ReLU(x - 1/3): input weights
        // (-1, -1/3) and (1, -1/3). Paper: theta = +-atan(1/3), theta_bar = 0, V = atan(1/3)^2
        // (about 0.10); circular: full angles -pi + atan(1/3) and -atan(1/3), about 1.6.
        let net = [1.0, 1.0, -1.0, 1.0, -1.0 / 3.0, -1.0 / 3.0];
        let v = network_variances(&two_layer(&net));
        let k = (1.0f64 / 3.0).atan();
        assert!((v.paper.1 - k * k).abs() < EPS);
        let half = (PI - 2.0 * k) / 2.0;
        assert!(
            (v.circular.1 - half * half).abs() < 1e-12,
            "{}",
            v.circular.1
        );
    }

    #[test]
    fn circular_wraps_across_the_cut() {
        let (m, v) = circular_variance(&[(PI - 0.1, 1.0), (-PI + 0.1, 1.0)]);
        assert!((wrap(m - PI)).abs() < 1e-12);
        assert!((v - 0.01).abs() < 1e-12);
        assert_eq!(wrap(PI), PI);
        assert!((wrap(-PI) - PI).abs() < 1e-15);
        assert!((wrap(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-15);
    }

    #[test]
    fn effective_orientations_by_hand() {
        // One direction, whatever the weights.
        assert!((effective_orientations(&[(0.3, 1.0), (0.31, 5.0)]) - 1.0).abs() < EPS);
        // Three well-separated equal directions: 3.
        let three = [(0.0, 2.0), (2.0, 2.0), (-2.0, 2.0)];
        assert!((effective_orientations(&three) - 3.0).abs() < 1e-12);
        // Weights 3:1 on two directions: exp(-(3/4) ln(3/4) - (1/4) ln(1/4)).
        let h: f64 = -(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
        let got = effective_orientations(&[(1.0, 3.0), (-1.0, 1.0)]);
        assert!((got - h.exp()).abs() < 1e-12);
        // Evenly over the circle: every bin, 72.
        let even: Vec<(f64, f64)> = (0..720)
            .map(|j| (-PI + 2.0 * PI * (j as f64 + 0.5) / 720.0, 1.0))
            .collect();
        assert!((effective_orientations(&even) - 72.0).abs() < 1e-9);
        assert!(effective_orientations(&[(0.0, 0.0)]).is_nan());
    }

    #[test]
    fn neurons_of_a_net() {
        // a = [2, -1], w = [1, 0], b = [1, -3]
        let theta = [2.0, -1.0, 1.0, 0.0, 1.0, -3.0];
        let n = neurons(&two_layer(&theta));
        assert!(
            (n[0].orientation - PI / 4.0).abs() < 1e-15
                && (n[0].amplitude - 2.0 * 2f64.sqrt()).abs() < 1e-15
        );
        assert!(
            (n[1].orientation + PI / 2.0).abs() < 1e-15 && (n[1].amplitude - 3.0).abs() < 1e-15
        );
    }
}
