//! Claims about optimisers other than GD, from the papers that state them, held to the seed
//! paper's rules: Cohen et al. 2022 (arXiv 2207.14484) on Adam's preconditioned sharpness.

use super::sec5::END_FRACTION;
use super::{Claim, Quote};
use crate::analysis::spikes::EDGE_TOLERANCE;
use crate::analysis::stats::{median, std_dev};

const AEOS_QUOTE: Quote<'static> = Quote {
    text: "Specifically, we empirically demonstrate that during full-batch training, the maximum eigenvalue of the preconditioned Hessian typically equilibrates at a certain numerical value -- the stability threshold of a gradient descent algorithm. For Adam with step size η and β1 = 0.9, this stability threshold is 38/η.",
    source: "Cohen et al. 2022, \"Adaptive Gradient Methods at the Edge of Stability\" (arXiv 2207.14484), abstract",
};

pub(crate) const AEOS_ID: &str = "preconditioned_sharpness_equilibrates_at_threshold";

/// "Equilibrates at the stability threshold": over the measurements `(epoch, value)` of the
/// preconditioned sharpness, (a) it rises to the threshold (some measurement at least
/// (1 - `EDGE_TOLERANCE`) x threshold, as the spike classification reads "at the edge"), and
/// (b) it stays there: over the last fifth of the epochs, at least 3 measurements whose median
/// is within the window's own oscillation (its standard deviation) plus `EDGE_TOLERANCE` of the
/// threshold (the tolerance of Fig 5.2's "2/eta remains higher" check, with the edge's).
pub(crate) fn equilibrium_claim(measure: &[(usize, f64)], threshold: f64) -> Claim {
    let criterion = format!(
        "the preconditioned sharpness reaches {:.2} x the threshold (2 + 2 beta1)/((1 - beta1) eta), and over the last fifth of the epochs (at least 3 measurements) its median is within the window's standard deviation + {EDGE_TOLERANCE} x the threshold of it",
        1.0 - EDGE_TOLERANCE
    );
    let last = measure.last().map_or(0, |m| m.0) as f64;
    let window: Vec<f64> = measure
        .iter()
        .filter(|(e, _)| *e as f64 >= last * (1.0 - END_FRACTION))
        .map(|m| m.1)
        .collect();
    if window.len() < 3 {
        return Claim::not_tested(
            AEOS_ID,
            AEOS_QUOTE,
            &criterion,
            format!(
                "{} measurements in the last fifth of the epochs (set sharpness_every to at most a fifteenth of the epochs)",
                window.len()
            ),
        );
    }
    let peak = measure
        .iter()
        .map(|m| m.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let reached = peak >= (1.0 - EDGE_TOLERANCE) * threshold;
    let (m, tol) = (
        median(&window),
        std_dev(&window) + EDGE_TOLERANCE * threshold,
    );
    let off = (m - threshold).abs();
    Claim::new(
        AEOS_ID,
        AEOS_QUOTE,
        &criterion,
        reached && off <= tol,
        format!(
            "threshold {threshold:.3}; largest preconditioned sharpness {peak:.3} ({:.3} of it); median over the last fifth {m:.3} ({:.3} of it, {} measurements, tolerance {tol:.3})",
            peak / threshold,
            m / threshold,
            window.len()
        ),
    )
    .margin(format!(
        "largest / threshold {:.3} (needs >= {:.2}); |median - threshold| - tolerance {:.3} (needs <= 0)",
        peak / threshold,
        1.0 - EDGE_TOLERANCE,
        off - tol
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Verdict;

    fn series(values: &[f64]) -> Vec<(usize, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i * 10, v))
            .collect()
    }

    #[test]
    fn the_measure_must_rise_to_the_threshold_and_stay_there() {
        // Threshold 38: rising, then oscillating 37-39 over the last fifth.
        let mut up: Vec<f64> = (0..40).map(|i| i as f64).collect();
        up.extend([37.0, 39.0, 37.5, 38.5, 37.0, 39.0, 38.0, 38.2, 37.8, 38.1]);
        let c = equilibrium_claim(&series(&up), 38.0);
        assert_eq!(c.verdict, Verdict::Supported, "{}", c.measured);
        // Never reaching it: rising to 30 and flat there.
        let mut low: Vec<f64> = (0..30).map(|i| i as f64).collect();
        low.extend([30.0; 20]);
        let c = equilibrium_claim(&series(&low), 38.0);
        assert_eq!(c.verdict, Verdict::NotSupported, "{}", c.measured);
        assert!(c.margin.unwrap().contains("largest / threshold 0.789"));
        // Overshooting and staying at 60: reached, but not equilibrated at the threshold.
        let mut over: Vec<f64> = (0..40).map(|i| i as f64).collect();
        over.extend([60.0; 12]);
        assert_eq!(
            equilibrium_claim(&series(&over), 38.0).verdict,
            Verdict::NotSupported
        );
        // Too few measurements at the end.
        assert_eq!(
            equilibrium_claim(&series(&[1.0, 2.0]), 38.0).verdict,
            Verdict::NotTested
        );
    }
}
