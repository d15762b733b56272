//! The claims of Sec 4 (Figs 4.1, 4.2): which eigendirections of the Hessian the difference
//! between two minima lies along, and what moving along them does. Pure functions from measured
//! series to claims; the figure kinds of `stages::figure_eigen` read and draw.

use crate::analysis::stats::{ALPHA, mean, spearman, spearman_p};

use super::{Claim, Quote};

/// Projections of a parameter difference on the Hessian's eigendirections, by eigen-index.
pub(crate) struct Projections {
    pub index: Vec<f64>,
    pub abs: Vec<f64>,
    /// The cumulative lambda^2 ratio.
    pub cum: Vec<f64>,
}

impl Projections {
    /// The first `n` directions (all for 0). The cumulative lambda^2 ratio stays that of all the
    /// directions the eigen stage found.
    pub(crate) fn first(self, n: usize) -> Projections {
        if n == 0 || n >= self.index.len() {
            return self;
        }
        Projections {
            index: self.index[..n].to_vec(),
            abs: self.abs[..n].to_vec(),
            cum: self.cum[..n].to_vec(),
        }
    }
}

/// The training loss of a run whose theta a projection uses, at its first and last epoch (of
/// the split it trained on).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct RunFit {
    pub stage: String,
    pub epochs: usize,
    pub initial_loss: f64,
    pub final_loss: f64,
    /// The epoch it diverged at, when kept as a result (`on_divergence: stop`).
    #[serde(default)]
    pub diverged_at: Option<usize>,
}

/// How far each of the two runs of a projection trained (`fit.json` of `eigen_projection`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct Fits {
    pub base: RunFit,
    pub other: RunFit,
}

/// The share of sum lambda^2 that counts as "the directions of large eigenvalues" in Fig 4.1(a).
const TOP_SHARE: f64 = 0.999;
/// "A weak impact" against "a significant impact": less than a quarter of the change.
const WEAK: f64 = 0.25;

/// Fig 4.1(a): with `removed` the numbers i of directions removed and `test_loss` L(i), and
/// k the first index whose cumulative lambda^2 ratio reaches `TOP_SHARE`: removing the
/// difference along the top k directions changes the test loss by less than `WEAK` times what
/// removing the rest does.
pub(crate) fn removal_claim(removed: &[f64], test_loss: &[f64], cum: &[f64]) -> Claim {
    let id = "top_directions_matter_little_for_test_loss";
    let quote = Quote {
        text: "The movement of parameters on the eigenvectors corresponding to large eigenvalues has a weak impact on the test loss, while the movement of parameters on the eigenvectors corresponding to small eigenvalues has a significant impact on the test loss.",
        source: "Sec 4.1, Fig 4.1(a)",
    };
    let criterion = format!(
        "with k the number of directions holding {}% of sum lambda^2: |L(k) - L(0)| < {WEAK} |L(N) - L(k)| (the top directions move the test loss less than a quarter as much as the rest)",
        100.0 * TOP_SHARE
    );
    if test_loss.len() < 2 || cum.is_empty() {
        return Claim::not_tested(
            id,
            quote,
            &criterion,
            format!(
                "{} removal steps, {} directions",
                test_loss.len(),
                cum.len()
            ),
        );
    }
    let k = cum
        .iter()
        .position(|&c| c >= TOP_SHARE)
        .map_or(cum.len(), |j| j + 1);
    let last = test_loss[test_loss.len() - 1];
    let at = |n: usize| {
        removed
            .iter()
            .position(|&v| v as usize >= n)
            .map_or(last, |j| test_loss[j])
    };
    let (l0, lk, ln) = (test_loss[0], at(k), last);
    let top_change = (lk - l0).abs();
    let rest_change = (ln - lk).abs();
    Claim::new(
        id,
        quote,
        &criterion,
        top_change < WEAK * rest_change,
        format!(
            "k = {k} of N = {}; L(0) = {l0:.4e}, L(k) = {lk:.4e}, L(N) = {ln:.4e} (theta_test reached {:.1}% of L(0)); |L(k) - L(0)| = {top_change:.3e}, |L(N) - L(k)| = {rest_change:.3e}",
            cum.len(),
            100.0 * ln / l0
        ),
    )
    .margin(format!(
        "|L(k) - L(0)| / |L(N) - L(k)| {:.3} (needs < {WEAK})",
        top_change / rest_change
    ))
}

/// Fig 4.1(b): the output change along the directions of the largest eigenvalues is "often"
/// lower-frequency: the mean LFP over the first third of the directions drawn is above the mean
/// over the last third.
pub(crate) fn top_directions_low_frequency_claim(lfps: &[f64]) -> Claim {
    let id = "top_directions_are_low_frequency";
    let quote = Quote {
        text: "From the difference between the outputs before and after the movement, it can be seen that when the parameters move along the eigendirection corresponding to the larger eigenvalue, the change of the model output is often less oscillated, i.e. dominated by the lower-frequency.",
        source: "Sec 4.1, Fig 4.1(b)",
    };
    let criterion = "mean LFP of the output change over the first third of the plotted directions > mean over the last third (\"often\": on average, not direction by direction)";
    let nd = lfps.len();
    if nd < 3 {
        return Claim::not_tested(id, quote, criterion, format!("{nd} directions drawn"));
    }
    let third = nd / 3;
    let (first, last) = (mean(&lfps[..third]), mean(&lfps[nd - third..]));
    Claim::new(
        id,
        quote,
        criterion,
        first > last,
        format!(
            "LFP of directions 1..={nd}: {}; first third mean {first:.3}, last third mean {last:.3}",
            lfps.iter()
                .map(|v| format!("{v:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .margin(format!("first - last {:+.3} (needs > 0)", first - last))
}

const GROWTH_QUOTE: Quote<'static> = Quote {
    text: "For different network structures and model tasks, the projection value of θtest − θtrain on the eigenvector νi has a positive correlation with the eigenvalue index i, which confirms that θtrain and θtest have little difference on low-frequency part.",
    source: "Sec 4.2, Fig 4.2(a-c)",
};

/// "A positive correlation with the eigenvalue index": Spearman's rho of |projection| against
/// i over the directions shown is positive with one-sided p < `ALPHA`. Its premise: theta_train
/// is a minimum of the training loss (Sec 4.1 defines it as one), by the rule of Fig 4.2(d).
pub(crate) fn growth_claim(role: &str, pr: &Projections, train: &RunFit) -> Claim {
    let id = format!("{role}: projections_grow_with_index");
    let criterion = format!(
        "theta_train at a minimum (last training loss <= {MINIMUM_FRACTION} x the first); Spearman correlation of |projection| with the eigen-index i over the {} directions shown > 0 at one-sided p < {ALPHA}",
        pr.abs.len()
    );
    if !at_minimum(train) {
        return Claim::premise_failed(
            &id,
            GROWTH_QUOTE,
            &criterion,
            "theta_train is a minimum of the training loss",
            describe_fit(train),
        );
    }
    if pr.abs.len() < 3 {
        return Claim::not_tested(
            &id,
            GROWTH_QUOTE,
            &criterion,
            format!("{} directions", pr.abs.len()),
        );
    }
    let (rho, pv) = (
        spearman(&pr.index, &pr.abs),
        spearman_p(&pr.index, &pr.abs, true),
    );
    Claim::new(
        &id,
        GROWTH_QUOTE,
        &criterion,
        rho > 0.0 && pv < ALPHA,
        format!(
            "Spearman {rho:.3} (p = {pv:.4}) over {} directions",
            pr.abs.len()
        ),
    )
    .margin(format!(
        "rho {rho:.3}, one-sided p {pv:.4} (needs rho > 0 and p < {ALPHA})"
    ))
}

fn describe_fit(f: &RunFit) -> String {
    if let Some(e) = f.diverged_at {
        return format!("{} diverged at epoch {e}", f.stage);
    }
    format!(
        "{} ends at training loss {:.4} after {} epochs, {:.1}% of its first {:.4}",
        f.stage,
        f.final_loss,
        f.epochs,
        100.0 * f.final_loss / f.initial_loss,
        f.initial_loss
    )
}

/// Fewer directions than this on either side of s: the comparison of two means is not tested.
const MIN_SIDE: usize = 5;

/// The paper compares "the two minima, θsmall and θlarge"; it does not say when training
/// stopped. A run counts as at a minimum when its last training loss is at most this fraction
/// of its first (for cross-entropy on 10 classes: 2.30 -> 0.115, nearly every training image
/// fitted).
const MINIMUM_FRACTION: f64 = 0.05;

fn at_minimum(fit: &RunFit) -> bool {
    fit.diverged_at.is_none() && fit.final_loss <= MINIMUM_FRACTION * fit.initial_loss
}

/// "Little difference in the eigendirections of the largest s eigenvalues, with s such that
/// sum_{i<=s} lambda_i^2 / sum lambda^2 is close to 1": both runs at a minimum
/// (`MINIMUM_FRACTION`); with s the first index where that ratio reaches 0.9, the mean
/// |projection| over the first s directions is below the mean over the rest; at least
/// `MIN_SIDE` directions on each side.
pub(crate) fn batch_claim(role: &str, pr: &Projections, fits: &Fits) -> Claim {
    let id = format!("{role}: batch_sizes_agree_along_top_directions");
    let quote = Quote {
        text: "Note that in Fig. 4.2(d), the two minima, θsmall and θlarge, found by small and large batch sizes, respectively, have little difference in eigendirections corresponding to the largest s eigenvalues which are enough that ∑_{i=1}^{s} λi² / ∑_{i=1}^{N} λi² is close to 1.",
        source: "Sec 4.2, Fig 4.2(d)",
    };
    let criterion = format!(
        "both runs at a minimum (last training loss <= {MINIMUM_FRACTION} x the first); with s the first index where the cumulative lambda^2 ratio >= 0.9: mean |projection| over the first s < mean over the rest, at least {MIN_SIDE} directions on each side"
    );
    let short: Vec<String> = [&fits.base, &fits.other]
        .into_iter()
        .filter(|f| !at_minimum(f))
        .map(describe_fit)
        .collect();
    if !short.is_empty() {
        return Claim::premise_failed(
            &id,
            quote,
            &criterion,
            "both runs are minima of the training loss",
            short.join("; "),
        );
    }
    let n = pr.abs.len();
    let s = pr.cum.iter().position(|&c| c >= 0.9).map_or(n, |j| j + 1);
    if s < MIN_SIDE || n - s.min(n) < MIN_SIDE {
        return Claim::not_tested(
            &id,
            quote,
            &criterion,
            format!("s = {s} of {n} directions: too few on one side (compute more eigenpairs, k)"),
        );
    }
    let (top, rest) = (mean(&pr.abs[..s]), mean(&pr.abs[s..]));
    Claim::new(
        &id,
        quote,
        &criterion,
        top < rest,
        format!("s = {s} of {n}; mean |projection| first s {top:.3e}, rest {rest:.3e}"),
    )
    .margin(format!("first s / rest {:.3} (needs < 1)", top / rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Verdict;

    fn proj(abs: &[f64], cum: &[f64]) -> Projections {
        Projections {
            index: (1..=abs.len()).map(|i| i as f64).collect(),
            abs: abs.to_vec(),
            cum: cum.to_vec(),
        }
    }

    #[test]
    fn growth_needs_a_significant_positive_trend() {
        let cum = vec![1.0; 20];
        let grow: Vec<f64> = (0..20)
            .map(|i| 1.0 + i as f64 + if i % 2 == 0 { 3.0 } else { 0.0 })
            .collect();
        let min = fit("train", 0.01);
        assert!(growth_claim("a", &proj(&grow, &cum), &min).supported());
        // A run kept up to its divergence is no minimum, whatever its last finite loss.
        let diverged = RunFit {
            diverged_at: Some(40),
            ..min.clone()
        };
        let c = growth_claim("a", &proj(&grow, &cum), &diverged);
        assert_eq!(c.verdict, Verdict::NotTested);
        assert!(
            c.measured.contains("train diverged at epoch 40"),
            "{}",
            c.measured
        );
        // Premise: theta_train is a minimum; at 83% of its first loss it is not.
        let c = growth_claim("a", &proj(&grow, &cum), &fit("train", 1.9));
        assert_eq!(c.verdict, Verdict::NotTested);
        assert!(
            c.measured
                .starts_with("premise not met: theta_train is a minimum"),
            "{}",
            c.measured
        );
        // Small first, flat afterwards: the old "first 2 of 20 below the rest" passed this.
        let mut flat: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 5.0 } else { 1.0 })
            .collect();
        flat[0] = 0.1;
        flat[1] = 0.1;
        let c = growth_claim("a", &proj(&flat, &cum), &min);
        assert_eq!(c.verdict, Verdict::NotSupported, "{}", c.measured);
        // The first N of many.
        let p = proj(&grow, &cum).first(5);
        assert_eq!(p.abs.len(), 5);
    }

    fn fit(stage: &str, final_loss: f64) -> RunFit {
        RunFit {
            stage: stage.into(),
            epochs: 100,
            initial_loss: 2.3,
            final_loss,
            diverged_at: None,
        }
    }

    #[test]
    fn batch_claim_needs_directions_on_both_sides() {
        let minima = Fits {
            base: fit("large", 0.05),
            other: fit("small", 0.01),
        };
        let cum: Vec<f64> = (1..=20).map(|i| (i as f64 / 10.0).min(1.0)).collect();
        let small_top: Vec<f64> = (0..20).map(|i| if i < 9 { 0.1 } else { 1.0 }).collect();
        assert!(batch_claim("d", &proj(&small_top, &cum), &minima).supported());
        let big_top: Vec<f64> = small_top.iter().map(|x| 1.1 - x).collect();
        assert_eq!(
            batch_claim("d", &proj(&big_top, &cum), &minima).verdict,
            Verdict::NotSupported
        );
        // Ten directions with s = 8: two on one side, not tested.
        let cum10: Vec<f64> = [0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.88, 0.9, 0.95, 1.0].to_vec();
        assert_eq!(
            batch_claim("d", &proj(&small_top[..10], &cum10), &minima).verdict,
            Verdict::NotTested
        );
    }

    #[test]
    fn batch_claim_needs_two_minima() {
        let cum: Vec<f64> = (1..=20).map(|i| (i as f64 / 10.0).min(1.0)).collect();
        let small_top: Vec<f64> = (0..20).map(|i| if i < 9 { 0.1 } else { 1.0 }).collect();
        // 0.1 (4% of 2.3) is a minimum; theta_large at 1.9 (83%) is not.
        let large_short = Fits {
            base: fit("large", 1.9),
            other: fit("small", 0.1),
        };
        let c = batch_claim("d", &proj(&small_top, &cum), &large_short);
        assert_eq!(c.verdict, Verdict::NotTested, "{}", c.measured);
        assert!(
            c.measured.contains("large ends at training loss 1.9000")
                && !c.measured.contains("small ends"),
            "{}",
            c.measured
        );
    }

    #[test]
    fn removal_needs_the_top_directions_to_matter_little() {
        // 10 directions, the first 2 hold 99.9% of sum lambda^2.
        let cum = [
            0.9, 0.999, 0.9995, 0.9996, 0.9997, 0.9998, 0.9999, 1.0, 1.0, 1.0,
        ];
        let removed: Vec<f64> = (0..=10).map(f64::from).collect();
        // L(i) falls by `top` per direction over the first two, then by `rest` per direction.
        let path = |top: f64, rest: f64| -> Vec<f64> {
            (0..=10)
                .map(|i| 1.0 - top * f64::from(i.min(2)) - rest * f64::from((i - 2).max(0)))
                .collect()
        };
        // L(0) 1.0, L(2) 0.98, L(10) 0.2: 0.02 against 0.78.
        let weak = path(0.01, 0.0975);
        let c = removal_claim(&removed, &weak, &cum);
        assert!(c.supported(), "{}", c.measured);
        assert!(
            c.margin
                .unwrap()
                .starts_with("|L(k) - L(0)| / |L(N) - L(k)| 0.026")
        );
        // The top two carry most of the change: not supported.
        let strong = path(0.35, 0.01);
        assert_eq!(
            removal_claim(&removed, &strong, &cum).verdict,
            Verdict::NotSupported
        );
        assert_eq!(
            removal_claim(&[0.0], &[1.0], &cum).verdict,
            Verdict::NotTested
        );
    }

    #[test]
    fn top_directions_low_frequency_compares_the_thirds() {
        let c = top_directions_low_frequency_claim(&[0.9, 0.8, 0.7, 0.5, 0.4, 0.6, 0.3, 0.2, 0.1]);
        assert!(c.supported(), "{}", c.measured);
        let c = top_directions_low_frequency_claim(&[0.1, 0.2, 0.3, 0.5, 0.4, 0.6, 0.7, 0.8, 0.9]);
        assert_eq!(c.verdict, Verdict::NotSupported);
        let c = top_directions_low_frequency_claim(&[0.9, 0.1]);
        assert_eq!(c.verdict, Verdict::NotTested);
    }
}
