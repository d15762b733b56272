//! Figures of Sec 4: `figure_removal` (Fig 4.1: the test loss after removing the difference
//! between theta_test and theta_train along the first i eigendirections, and the output change
//! along the first nine) and `figure_projection` (Fig 4.2: projections of a parameter difference
//! on the Hessian eigenvectors with the cumulative lambda^2 ratio; one panel per input).

use anyhow::Result;

use crate::config::{ANY_ROLE, InputSpec};
use crate::engine::context::{Input, StageContext};
use crate::engine::kind::Kind;
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLUE, Mark, ORANGE, Panel, Series};

use crate::analysis::stats::{ALPHA, mean, spearman, spearman_p};

use super::eigen::{DirectionLfp, DirectionTable, Fits, ProjectionTable, RemovalTable, RunFit};
use super::figure::{Claim, Figure, FigureParams, Quote};

struct Projections {
    index: Vec<f64>,
    abs: Vec<f64>,
    cum: Vec<f64>,
}

impl Projections {
    /// The first `n` directions (all for 0). The cumulative lambda^2 ratio stays that of all the
    /// directions the eigen stage found.
    fn first(self, n: usize) -> Projections {
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

fn projections(input: &Input) -> Result<Projections> {
    let t: ProjectionTable = input.read()?;
    Ok(Projections {
        index: t.index.into_iter().map(|i| i as f64).collect(),
        abs: t.abs_projection,
        cum: t.cum_lambda2,
    })
}

pub(crate) struct FigureRemoval;

crate::figure_params! {
    id: "fig4_1",
    title: "Fig 4.1: two-layer tanh NN, width 500",
    pub(crate) struct FigureRemovalParams {}
}

impl Kind for FigureRemoval {
    const NAME: &'static str = "figure_removal";
    const VERSION: u32 = 2;
    const DOC: &'static str = "Fig 4.1: test loss after removing the train/test difference along the top eigendirections, output changes along them";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one("projection", &["eigen_projection"])];
    type Params = FigureRemovalParams;
    type Output = Figure;

    fn run(&self, p: &FigureRemovalParams, ctx: &mut StageContext) -> Result<Figure> {
        let proj = ctx.input("projection")?;
        let removal: RemovalTable = proj.read()?;
        let i: Vec<f64> = removal.i.iter().map(|&i| i as f64).collect();
        let loss = removal.test_loss;
        let pr = projections(proj)?;
        let mut data = FigureData::new();
        data.xy("a", "test_loss", &i, &loss);
        let DirectionTable {
            direction: d,
            x,
            delta,
        } = proj.read()?;
        let DirectionLfp {
            lfp: lfps,
            eigenvalue: eig,
            ..
        } = proj.read()?;
        let nd = lfps.len();
        let mut panels = vec![
            Panel::new(
                "a",
                "(a) test loss L(i) after removing the difference along the first i directions",
                Axis::lin("eigen-index i"),
                Axis::lin("test loss"),
            )
            .with(Series::new("test_loss", "L(i)", Mark::Line, BLUE)),
        ];
        for k in 1..=nd {
            let name = format!("b{k}");
            let (xs, ys): (Vec<f64>, Vec<f64>) = d
                .iter()
                .zip(x.iter().zip(&delta))
                .filter(|(dd, _)| **dd == k as i64)
                .map(|(_, (a, b))| (*a, *b))
                .unzip();
            data.xy(&name, "delta", &xs, &ys);
            panels.push(
                Panel::new(
                    &name,
                    &format!(
                        "(b) direction {k}: lambda = {:.3e}, LFP = {:.2}",
                        eig[k - 1],
                        lfps[k - 1]
                    ),
                    Axis::lin("x"),
                    Axis::lin("output change"),
                )
                .with(Series::new("delta", "", Mark::Line, ORANGE)),
            );
        }

        // (a): the directions holding 99.9% of sum lambda^2 against all the others.
        let k = pr
            .cum
            .iter()
            .position(|&c| c >= 0.999)
            .map_or(pr.cum.len(), |j| j + 1);
        let at = |n: usize| {
            i.iter()
                .position(|&v| v as usize >= n)
                .map(|j| loss[j])
                .unwrap_or(*loss.last().unwrap_or(&f64::NAN))
        };
        let (l0, lk, ln) = (loss[0], at(k), *loss.last().unwrap_or(&f64::NAN));
        let top_change = (lk - l0).abs();
        let rest_change = (ln - lk).abs();
        let removal_claim = Claim::new(
            "top_directions_matter_little_for_test_loss",
            Quote {
                text: "The movement of parameters on the eigenvectors corresponding to large eigenvalues has a weak impact on the test loss, while the movement of parameters on the eigenvectors corresponding to small eigenvalues has a significant impact on the test loss.",
                source: "Sec 4.1, Fig 4.1(a)",
            },
            "with k the number of directions holding 99.9% of sum lambda^2: |L(k) - L(0)| < 0.25 |L(N) - L(k)| (the top directions move the test loss less than a quarter as much as the rest)",
            top_change < 0.25 * rest_change,
            format!(
                "k = {k} of N = {}; L(0) = {l0:.4e}, L(k) = {lk:.4e}, L(N) = {ln:.4e} (theta_test reached {:.1}% of L(0)); |L(k) - L(0)| = {top_change:.3e}, |L(N) - L(k)| = {rest_change:.3e}",
                pr.cum.len(),
                100.0 * ln / l0
            ),
        );
        let third = (nd / 3).max(1);
        let (first, last) = (mean(&lfps[..third]), mean(&lfps[nd - third..]));
        let lfp_claim = Claim::new(
            "top_directions_are_low_frequency",
            Quote {
                text: "From the difference between the outputs before and after the movement, it can be seen that when the parameters move along the eigendirection corresponding to the larger eigenvalue, the change of the model output is often less oscillated, i.e. dominated by the lower-frequency.",
                source: "Sec 4.1, Fig 4.1(b)",
            },
            "mean LFP of the output change over the first third of the plotted directions > mean over the last third (\"often\": on average, not direction by direction)",
            first > last,
            format!(
                "LFP of directions 1..={nd}: {}; first third mean {first:.3}, last third mean {last:.3}",
                lfps.iter()
                    .map(|v| format!("{v:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        Ok(Figure {
            spec: p.spec(5, panels),
            data,
            claims: vec![removal_claim, lfp_claim],
            notes: vec![],
        })
    }
}

pub(crate) struct FigureProjection;

crate::figure_params! {
    id: "fig4_2",
    title: "Fig 4.2: projections on the Hessian eigendirections",
    pub(crate) struct FigureProjectionParams {
        /// panel titles, one per input role in role order
        pub titles: Vec<String> = Vec::new(),
        /// roles whose claim is the batch-size one (Fig 4.2(d))
        pub batch_panels: Vec<String> = Vec::new(),
        /// plot and test the first N eigendirections of each input, as the paper's first N by
        /// Lanczos (0: all)
        pub directions: usize = 0; range(0.0, 1e9),
    }
}

impl Kind for FigureProjection {
    const NAME: &'static str = "figure_projection";
    const VERSION: u32 = 3;
    const DOC: &'static str = "Fig 4.2: projections of parameter differences on Hessian eigenvectors and the cumulative lambda^2 ratio";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one(ANY_ROLE, &["eigen_projection"])];
    type Params = FigureProjectionParams;
    type Output = Figure;

    fn run(&self, p: &FigureProjectionParams, ctx: &mut StageContext) -> Result<Figure> {
        let (titles, batch) = (&p.titles, &p.batch_panels);
        let mut data = FigureData::new();
        let mut panels = Vec::new();
        let mut claims = Vec::new();
        let roles: Vec<String> = ctx.roles().map(str::to_string).collect();
        let first = p.directions;
        for (n, role) in roles.iter().enumerate() {
            let pr = projections(ctx.input(role)?)?.first(first);
            data.xy(role, "projection", &pr.index, &pr.abs);
            data.xy(role, "cum_lambda2", &pr.index, &pr.cum);
            let title = titles
                .get(n)
                .cloned()
                .unwrap_or_else(|| format!("({role})"));
            panels.push(
                Panel::new(
                    role,
                    &title,
                    Axis::lin("eigen-index i"),
                    Axis::lin("|projection|"),
                )
                .right_axis(Axis::lin("sum_{j<=i} lambda_j^2 / sum lambda^2"))
                .with(Series::new("projection", "|projection|", Mark::Bars, BLUE))
                .with(
                    Series::new(
                        "cum_lambda2",
                        "cumulative lambda^2 ratio",
                        Mark::Line,
                        ORANGE,
                    )
                    .right(),
                ),
            );
            let input = ctx.input(role)?;
            let fits: Fits = serde_json::from_value(input.read_json("fit.json")?)?;
            claims.push(if batch.contains(role) {
                batch_claim(role, &pr, &fits)
            } else {
                growth_claim(role, &pr, &fits.base)
            });
        }
        Ok(Figure {
            spec: p.spec(roles.len().min(4), panels),
            data,
            claims,
            notes: vec![],
        })
    }
}

const GROWTH_QUOTE: Quote<'static> = Quote {
    text: "For different network structures and model tasks, the projection value of θtest − θtrain on the eigenvector νi has a positive correlation with the eigenvalue index i, which confirms that θtrain and θtest have little difference on low-frequency part.",
    source: "Sec 4.2, Fig 4.2(a-c)",
};

/// "A positive correlation with the eigenvalue index": Spearman's rho of |projection| against
/// i over the directions shown is positive with one-sided p < `ALPHA`. Its premise: theta_train
/// is a minimum of the training loss (Sec 4.1 defines it as one), by the rule of Fig 4.2(d).
fn growth_claim(role: &str, pr: &Projections, train: &RunFit) -> Claim {
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
    fit.final_loss <= MINIMUM_FRACTION * fit.initial_loss
}

/// "Little difference in the eigendirections of the largest s eigenvalues, with s such that
/// sum_{i<=s} lambda_i^2 / sum lambda^2 is close to 1": both runs at a minimum
/// (`MINIMUM_FRACTION`); with s the first index where that ratio reaches 0.9, the mean
/// |projection| over the first s directions is below the mean over the rest; at least
/// `MIN_SIDE` directions on each side.
fn batch_claim(role: &str, pr: &Projections, fits: &Fits) -> Claim {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::figure::Verdict;

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
}
