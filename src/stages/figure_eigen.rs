//! Figures of Sec 4: `figure_removal` (Fig 4.1: the test loss after removing the difference
//! between theta_test and theta_train along the first i eigendirections, and the output change
//! along the first nine) and `figure_projection` (Fig 4.2: projections of a parameter difference
//! on the Hessian eigenvectors with the cumulative lambda^2 ratio; one panel per input).

use anyhow::Result;

use crate::config::ParamSpec;
use crate::engine::context::{Input, StageContext};
use crate::engine::kind::{ParamsExt, StageKind};
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLUE, Mark, ORANGE, Panel, Series};
use crate::table::{col_f64, col_i64};

use super::figure::{self, Claim, Figure, publish, spearman};

struct Projections {
    index: Vec<f64>,
    abs: Vec<f64>,
    cum: Vec<f64>,
}

fn projections(input: &Input) -> Result<Projections> {
    let t = input.table("projections")?;
    Ok(Projections {
        index: col_i64(&t, "index")?
            .into_iter()
            .map(|i| i as f64)
            .collect(),
        abs: col_f64(&t, "abs_projection")?,
        cum: col_f64(&t, "cum_lambda2")?,
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

pub struct FigureRemoval;

impl StageKind for FigureRemoval {
    fn name(&self) -> &'static str {
        "figure_removal"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Fig 4.1: test loss after removing the train/test difference along the top eigendirections, output changes along them"
    }
    fn params(&self) -> Vec<ParamSpec> {
        figure::params("fig4_1", "Fig 4.1: two-layer tanh NN, width 500", vec![])
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let proj = ctx.input("projection")?;
        let removal = proj.table("removal")?;
        let i: Vec<f64> = col_i64(&removal, "i")?
            .into_iter()
            .map(|i| i as f64)
            .collect();
        let loss = col_f64(&removal, "test_loss")?;
        let pr = projections(proj)?;
        let mut data = FigureData::new();
        data.xy("a", "test_loss", &i, &loss);
        let dirs = proj.table("directions")?;
        let (d, x, delta) = (
            col_i64(&dirs, "direction")?,
            col_f64(&dirs, "x")?,
            col_f64(&dirs, "delta")?,
        );
        let lfp_t = proj.table("direction_lfp")?;
        let lfps = col_f64(&lfp_t, "lfp")?;
        let eig = col_f64(&lfp_t, "eigenvalue")?;
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
            "Removing the train/test difference along the largest-eigenvalue directions changes the test loss little compared with the small-eigenvalue directions.",
            "with k the number of directions holding 99.9% of sum lambda^2: |L(k) - L(0)| < 0.25 |L(N) - L(k)|",
            top_change < 0.25 * rest_change,
            format!(
                "k = {k} of N = {}; L(0) = {l0:.4e}, L(k) = {lk:.4e}, L(N) = {ln:.4e}; |L(k) - L(0)| = {top_change:.3e}, |L(N) - L(k)| = {rest_change:.3e}",
                pr.cum.len()
            ),
        );
        let third = (nd / 3).max(1);
        let (first, last) = (mean(&lfps[..third]), mean(&lfps[nd - third..]));
        let lfp_claim = Claim::new(
            "top_directions_are_low_frequency",
            "Moving along the eigendirections of larger eigenvalues changes the output at lower frequency.",
            "mean LFP of the output change over the first third of the plotted directions > mean over the last third",
            first > last,
            format!(
                "LFP of directions 1..={nd}: {}; first third mean {first:.3}, last third mean {last:.3}",
                lfps.iter()
                    .map(|v| format!("{v:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let spec = figure::spec(ctx, 5, panels)?;
        publish(
            ctx,
            &Figure {
                spec,
                data,
                claims: vec![removal_claim, lfp_claim],
                notes: vec![],
            },
        )
    }
}

pub struct FigureProjection;

impl StageKind for FigureProjection {
    fn name(&self) -> &'static str {
        "figure_projection"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Fig 4.2: projections of parameter differences on Hessian eigenvectors and the cumulative lambda^2 ratio"
    }
    fn params(&self) -> Vec<ParamSpec> {
        figure::params(
            "fig4_2",
            "Fig 4.2: projections on the Hessian eigendirections",
            vec![
                ParamSpec::strs("titles", "panel titles, one per input role in role order")
                    .default(Vec::<&str>::new()),
                ParamSpec::strs(
                    "batch_panels",
                    "roles whose claim is the batch-size one (Fig 4.2(d))",
                )
                .default(Vec::<&str>::new()),
            ],
        )
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let titles = p.strs("titles")?;
        let batch = p.strs("batch_panels")?;
        let mut data = FigureData::new();
        let mut panels = Vec::new();
        let mut claims = Vec::new();
        let roles: Vec<String> = ctx.roles().map(str::to_string).collect();
        for (n, role) in roles.iter().enumerate() {
            let pr = projections(ctx.input(role)?)?;
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
            let rho = spearman(&pr.index, &pr.abs);
            if batch.contains(role) {
                let s = pr
                    .cum
                    .iter()
                    .position(|&c| c >= 0.9)
                    .map_or(pr.cum.len(), |j| j + 1)
                    .min(pr.abs.len() - 1)
                    .max(1);
                let (top, rest) = (mean(&pr.abs[..s]), mean(&pr.abs[s..]));
                claims.push(Claim::new(
                    &format!("{role}: batch_sizes_agree_along_top_directions"),
                    "Minima found with large and small batches differ little along the eigendirections of the largest eigenvalues.",
                    "with s the number of directions holding 90% of sum lambda^2: mean |projection| over the first s < mean over the rest",
                    top < rest,
                    format!("s = {s} of {}; mean |projection| first s {top:.3e}, rest {rest:.3e}; Spearman(i, |projection|) = {rho:.3}", pr.abs.len()),
                ));
            } else {
                let tenth = (pr.abs.len() / 10).max(1);
                let (top, rest) = (mean(&pr.abs[..tenth]), mean(&pr.abs[tenth..]));
                claims.push(Claim::new(
                    &format!("{role}: projections_grow_with_index"),
                    "The projection of theta_test - theta_train on eigenvector i grows with the eigen-index i.",
                    "mean |projection| over the first 10% of directions < mean over the other 90%, and Spearman(i, |projection|) > 0",
                    top < rest && rho > 0.0,
                    format!("first {tenth} of {}: mean {top:.3e}; others: {rest:.3e}; Spearman {rho:.3}", pr.abs.len()),
                ));
            }
        }
        let spec = figure::spec(ctx, roles.len().min(4), panels)?;
        publish(
            ctx,
            &Figure {
                spec,
                data,
                claims,
                notes: p.strs("notes")?,
            },
        )
    }
}
