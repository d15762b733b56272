//! Figures of Sec 5: `figure_condensation` (Fig 5.1, B.1: loss, output and neuron features of a
//! net trained with a small and a large learning rate from the same initialisation),
//! `figure_sweep` (Fig 5.2, 5.4, B.2: final condensed variance and lambda_max against a swept
//! parameter) and `figure_early` (Fig 5.3, A.1, B.3: both during early training).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use crate::analysis::spikes::detect;
use crate::config::ParamSpec;
use crate::engine::context::{Input, StageContext};
use crate::engine::kind::{ParamsExt, StageKind};
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLACK, BLUE, GREEN, GREY, Mark, ORANGE, Panel, RED, Series};
use crate::table::{col_f64, col_i64};

use super::figure::{self, Claim, Figure, pearson, publish, spearman};
use super::train::final_theta;
use super::trained::{Log, Trained, read_log};

/// The spike rule of the Sec 5 claims: loss > 10x the lowest of the previous 100 epochs.
fn has_spike(log: &Log) -> Option<(usize, f64)> {
    detect(&log.loss, 10.0, 100, 2.0)
        .into_iter()
        .map(|s| (log.epoch[s.peak], s.peak_loss / s.pre_loss))
        .next()
}

fn describe_spike(s: Option<(usize, f64)>) -> String {
    match s {
        Some((e, r)) => format!("spike peaking at epoch {e} ({r:.1}x)"),
        None => "no spike".into(),
    }
}

struct Variance {
    epoch: Vec<usize>,
    v: Vec<f64>,
}

fn variance(cond: &Input) -> Result<Variance> {
    let t = cond.table("variance")?;
    Ok(Variance {
        epoch: col_i64(&t, "epoch")?
            .into_iter()
            .map(|e| e as usize)
            .collect(),
        v: col_f64(&t, "v_cond")?,
    })
}

/// The condensation stage among `conds` computed from `train`.
fn cond_of<'a>(conds: &'a [Input], train: &Input) -> Result<&'a Input> {
    conds
        .iter()
        .find(|c| c.inputs.get("train").and_then(|k| k.first()) == Some(&train.key))
        .with_context(|| {
            format!(
                "no condensation stage of `{}` among the `cond` inputs",
                train.stage
            )
        })
}

pub struct FigureCondensation;

impl StageKind for FigureCondensation {
    fn name(&self) -> &'static str {
        "figure_condensation"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Fig 5.1 / B.1: small vs large learning rate from one initialisation: loss, output, neuron features"
    }
    fn params(&self) -> Vec<ParamSpec> {
        figure::params(
            "fig5_1",
            "Fig 5.1",
            vec![
            ParamSpec::choice("features", &["amplitude", "normalized"], "amplitude: (orientation, A_j) as Fig 5.1; normalized: |a_j| and |w_j| over their maxima as Fig B.1").default("amplitude"),
        ],
        )
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let conds = ctx.inputs("cond")?;
        let small = Trained::from_roles(ctx, "small", "data")?;
        let large = Trained::from_roles(ctx, "large", "data")?;
        let width = small.fnn_width()?;
        let (small_log, large_log) = (small.log()?, large.log()?);
        let mut data = FigureData::new();
        let label = |t: &Trained| format!("lr = {}", t.lr);
        for (t, log, name) in [(&small, &small_log, "small"), (&large, &large_log, "large")] {
            let e: Vec<f64> = log.epoch.iter().map(|&e| e as f64).collect();
            data.xy("loss", name, &e, &log.loss);
            let (lo, hi) = t.input_range();
            let n = 400;
            let x = crate::plot::linspace(lo, hi, n);
            let obj = t.objective(crate::nn::backend::Precision::F64);
            let eval = crate::nn::eval::evaluator(
                super::backend_of(ctx)?,
                &obj,
                crate::nn::objective::HvpMethod::Exact,
            );
            data.xy(
                "output",
                name,
                &x,
                &eval.outputs(&final_theta(t.input)?, &x, &[n, 1])?,
            );
        }
        data.xy("output", "data", &small.train.x, &small.train.y);
        let normalized = p.str("features")? == "normalized";
        let mut features = |cond: &Input, which: &str, first: bool| -> Result<()> {
            let f = cond.table("features")?;
            let epochs = col_i64(&f, "epoch")?;
            let pick = if first {
                *epochs.first().context("no features")?
            } else {
                *epochs.last().context("no features")?
            };
            let rows: Vec<usize> = (0..epochs.len()).filter(|&i| epochs[i] == pick).collect();
            let get = |c: &str| -> Result<Vec<f64>> {
                let v = col_f64(&f, c)?;
                Ok(rows.iter().map(|&i| v[i]).collect())
            };
            let (o, a, mag, amp) = (
                get("orientation")?,
                get("output")?,
                get("magnitude")?,
                get("amplitude")?,
            );
            if normalized {
                let norm = |v: &[f64]| {
                    let m = v.iter().cloned().fold(0.0, f64::max);
                    v.iter().map(|x| x / m).collect::<Vec<_>>()
                };
                data.xy(&format!("features_{which}"), "a", &o, &norm(&a));
                data.xy(&format!("features_{which}"), "w", &o, &norm(&mag));
            } else {
                data.xy("features", which, &o, &amp);
            }
            Ok(())
        };
        let (cs, cl) = (cond_of(conds, small.input)?, cond_of(conds, large.input)?);
        features(cs, "initial", true)?;
        features(cs, &format!("lr={}", small.lr), false)?;
        features(cl, &format!("lr={}", large.lr), false)?;

        let mut panels = vec![
            Panel::new("loss", "loss", Axis::lin("epoch"), Axis::log("loss"))
                .with(Series::new("small", &label(&small), Mark::Line, BLUE))
                .with(Series::new("large", &label(&large), Mark::Line, ORANGE)),
            Panel::new("output", "output", Axis::lin("x"), Axis::lin("f(x)"))
                .with(Series::new("data", "training data", Mark::Points, BLACK))
                .with(Series::new("small", &label(&small), Mark::Line, BLUE))
                .with(Series::new("large", &label(&large), Mark::Line, ORANGE)),
        ];
        if normalized {
            for (which, title) in [
                ("initial", "initial"),
                (&*format!("lr={}", small.lr), "without spike"),
                (&*format!("lr={}", large.lr), "with spike"),
            ] {
                panels.push(
                    Panel::new(
                        &format!("features_{which}"),
                        &format!("features, {title} ({which})"),
                        Axis::lin("orientation (rad)"),
                        Axis::lin("normalized magnitude"),
                    )
                    .with(Series::new("a", "|a_j| / max", Mark::Points, BLUE))
                    .with(Series::new(
                        "w",
                        "|(w_j, b_j)| / max",
                        Mark::Points,
                        ORANGE,
                    )),
                );
            }
        } else {
            panels.push(
                Panel::new(
                    "features",
                    "features (orientation, amplitude A_j)",
                    Axis::lin("orientation (rad)"),
                    Axis::lin("A_j"),
                )
                .with(Series::new("initial", "initial", Mark::Points, GREEN))
                .with(Series::new(
                    &format!("lr={}", small.lr),
                    &label(&small),
                    Mark::Points,
                    BLUE,
                ))
                .with(Series::new(
                    &format!("lr={}", large.lr),
                    &label(&large),
                    Mark::Points,
                    ORANGE,
                )),
            );
        }
        let (ss, sl) = (has_spike(&small_log), has_spike(&large_log));
        let (vs, vl) = (
            *variance(cs)?.v.last().context("empty")?,
            *variance(cl)?.v.last().context("empty")?,
        );
        let claims = vec![
            Claim::new(
                "large_lr_spikes_small_does_not",
                "With the same initialisation, the large learning rate shows a loss spike and the small one does not.",
                "spike rule (loss > 10x the lowest of the previous 100 epochs) fires for the large learning rate and not for the small one",
                sl.is_some() && ss.is_none(),
                format!(
                    "lr {}: {}; lr {}: {}",
                    small.lr,
                    describe_spike(ss),
                    large.lr,
                    describe_spike(sl)
                ),
            ),
            Claim::new(
                "spike_condenses",
                "The run with the loss spike ends more condensed (its neurons' input weights closer in direction).",
                "final condensed variance of the large-lr run < that of the small-lr run",
                vl < vs,
                format!(
                    "V_cond final: lr {} -> {vs:.4}, lr {} -> {vl:.4} (width {width})",
                    small.lr, large.lr
                ),
            ),
        ];
        let spec = figure::spec(ctx, panels.len().min(3), panels)?;
        publish(
            ctx,
            &Figure {
                spec,
                data,
                claims,
                notes: vec![],
            },
        )
    }
}

pub struct FigureSweep;

impl StageKind for FigureSweep {
    fn name(&self) -> &'static str {
        "figure_sweep"
    }
    fn version(&self) -> u32 {
        2
    }
    fn doc(&self) -> &'static str {
        "Fig 5.2 / 5.4 / B.2: final condensed variance and lambda_max against a swept training parameter (mean +- std over seeds)"
    }
    fn params(&self) -> Vec<ParamSpec> {
        figure::params(
            "fig5_2",
            "Fig 5.2",
            vec![
                ParamSpec::choice(
                    "x",
                    &["lr", "init_gamma"],
                    "the swept parameter of the `runs`",
                )
                .default("lr"),
            ],
        )
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let xname = p.str("x")?;
        let runs = ctx.inputs("runs")?;
        let conds = ctx.inputs("cond")?;
        // x -> (V_cond, lambda_max, spike) per run.
        let mut by_x: BTreeMap<u64, (f64, Vec<f64>, Vec<f64>, bool)> = BTreeMap::new();
        for run in runs {
            let x = run.params.f64(xname)?;
            let log = read_log(run)?;
            let lambda = log.lambda.last().map(|l| l.1).with_context(|| {
                format!(
                    "`{}` tracked no lambda_max (set sharpness_every)",
                    run.stage
                )
            })?;
            let v = *variance(cond_of(conds, run)?)?
                .v
                .last()
                .context("no checkpoints")?;
            let entry = by_x
                .entry(x.to_bits())
                .or_insert((x, vec![], vec![], false));
            entry.1.push(v);
            entry.2.push(lambda);
            entry.3 |= has_spike(&log).is_some();
        }
        let mut rows: Vec<(f64, Vec<f64>, Vec<f64>, bool)> = by_x.into_values().collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        if rows.len() < 2 {
            bail!("a sweep needs at least two values of `{xname}`");
        }
        let stats = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (
                m,
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt(),
            )
        };
        let xs: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let (vm, vsd): (Vec<f64>, Vec<f64>) = rows.iter().map(|r| stats(&r.1)).unzip();
        let (lm, lsd): (Vec<f64>, Vec<f64>) = rows.iter().map(|r| stats(&r.2)).unzip();
        let mut data = FigureData::new();
        data.xyz("a", "v_cond", &xs, &vm, &vsd);
        data.xyz("a", "lambda_max", &xs, &lm, &lsd);
        let mut panel = Panel::new(
            "a",
            &format!("final condensed variance and lambda_max vs {xname}"),
            Axis::lin(xname),
            Axis::lin("condensed variance"),
        )
        .right_axis(Axis::lin("lambda_max"))
        .with(Series::new(
            "v_cond",
            "condensed variance",
            Mark::ErrorBars,
            BLUE,
        ))
        .with(Series::new("lambda_max", "lambda_max", Mark::ErrorBars, RED).right());
        let mut claims = Vec::new();
        let threshold = rows.iter().find(|r| r.3).map(|r| r.0);
        if xname != "lr" {
            // One learning rate for the whole sweep: 2/lr is a constant line.
            let lrs: Vec<f64> = runs
                .iter()
                .map(|r| r.params.f64("lr"))
                .collect::<Result<_>>()?;
            if lrs.windows(2).all(|w| w[0] == w[1]) {
                data.xy("a", "2/lr", &[xs[0], xs[xs.len() - 1]], &[2.0 / lrs[0]; 2]);
                panel = panel.with(Series::new("2/lr", "2/lr", Mark::Dashed, GREEN).right());
            }
        }
        if xname == "lr" {
            let two: Vec<f64> = xs.iter().map(|l| 2.0 / l).collect();
            data.xy("a", "2/lr", &xs, &two);
            panel = panel.with(Series::new("2/lr", "2/lr", Mark::Line, GREEN).right());
            if let Some(t) = threshold {
                let (lo, hi) = (
                    lm.iter().cloned().fold(f64::INFINITY, f64::min),
                    two.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                );
                data.xy("a", "spike threshold", &[t, t], &[lo, hi]);
                panel = panel.with(
                    Series::new("spike threshold", "spike threshold", Mark::Dashed, GREY).right(),
                );
            }
            let below = rows.iter().zip(&lm).all(|(r, l)| *l < 2.0 / r.0);
            claims.push(Claim::new(
                "lambda_max_below_2_over_lr",
                "At the end of training lambda_max stays below 2/lr for every learning rate.",
                "mean final lambda_max < 2/lr for every swept learning rate",
                below,
                xs.iter()
                    .zip(&lm)
                    .map(|(x, l)| format!("lr {x}: {l:.2} vs {:.2}", 2.0 / x))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        let (rv, rl) = (spearman(&xs, &vm), spearman(&xs, &lm));
        claims.insert(
            0,
            Claim::new(
                "both_fall_with_x",
                &format!("The condensed variance and lambda_max both decrease as {xname} grows."),
                &format!("Spearman correlation with {xname} < 0 for the mean final condensed variance and for the mean final lambda_max"),
                rv < 0.0 && rl < 0.0,
                format!(
                    "Spearman: condensed variance {rv:.3}, lambda_max {rl:.3}; {}; runs with a spike: {}",
                    xs.iter().zip(vm.iter().zip(&lm)).map(|(x, (v, l))| format!("{xname} {x}: V {v:.3}, lambda {l:.2}")).collect::<Vec<_>>().join("; "),
                    threshold.map_or("none".to_string(), |t| format!("from {xname} = {t}"))
                ),
            ),
        );
        let spec = figure::spec(ctx, 1, vec![panel])?;
        publish(
            ctx,
            &Figure {
                spec,
                data,
                claims,
                notes: vec![],
            },
        )
    }
}

pub struct FigureEarly;

impl StageKind for FigureEarly {
    fn name(&self) -> &'static str {
        "figure_early"
    }
    fn version(&self) -> u32 {
        2
    }
    fn doc(&self) -> &'static str {
        "Fig 5.3 / A.1 / B.3: condensed variance and lambda_max during early training, small and large learning rate"
    }
    fn params(&self) -> Vec<ParamSpec> {
        figure::params("fig5_3", "Fig 5.3", vec![])
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let conds = ctx.inputs("cond")?;
        let mut data = FigureData::new();
        let mut panels = Vec::new();
        let mut claims = Vec::new();
        let mut spikes = Vec::new();
        for role in ["small", "large"] {
            let run = ctx.input(role)?;
            let lr = run.params.f64("lr")?;
            let log = read_log(run)?;
            let var = variance(cond_of(conds, run)?)?;
            let lambda: BTreeMap<usize, f64> = log.lambda.iter().cloned().collect();
            let (mut e, mut v, mut l) = (vec![], vec![], vec![]);
            for (epoch, value) in var.epoch.iter().zip(&var.v) {
                if let Some(lam) = lambda.get(epoch) {
                    e.push(*epoch as f64);
                    v.push(*value);
                    l.push(*lam);
                }
            }
            if e.len() < 3 {
                bail!(
                    "`{}` has fewer than 3 epochs with both a checkpoint and lambda_max; make checkpoint_every a multiple of sharpness_every",
                    run.stage
                );
            }
            data.xy(role, "v_cond", &e, &v);
            data.xy(role, "lambda_max", &e, &l);
            data.xy(role, "2/lr", &[e[0], e[e.len() - 1]], &[2.0 / lr; 2]);
            panels.push(
                Panel::new(
                    role,
                    &format!("lr = {lr}"),
                    Axis::lin("epoch"),
                    Axis::lin("condensed variance"),
                )
                .right_axis(Axis::lin("lambda_max"))
                .with(Series::new(
                    "v_cond",
                    "condensed variance",
                    Mark::Line,
                    BLUE,
                ))
                .with(Series::new("lambda_max", "lambda_max", Mark::Line, RED).right())
                .with(Series::new("2/lr", "2/lr", Mark::Dashed, GREY).right()),
            );
            let r = pearson(&v, &l);
            claims.push(Claim::new(
                &format!("{role}_lr_trends_agree"),
                "During early training lambda_max and the condensed variance move together.",
                "Pearson correlation of condensed variance and lambda_max over the epochs where both are recorded > 0",
                r > 0.0,
                format!("lr {lr}: Pearson {r:.3} over {} epochs ({} to {})", e.len(), e[0], e[e.len() - 1]),
            ));
            spikes.push((lr, has_spike(&log)));
        }
        claims.push(Claim::new(
            "spike_only_at_large_lr",
            "A loss spike occurs at the large learning rate but not at the small one.",
            "spike rule (loss > 10x the lowest of the previous 100 epochs) fires for the large learning rate only",
            spikes[0].1.is_none() && spikes[1].1.is_some(),
            spikes.iter().map(|(lr, s)| format!("lr {lr}: {}", describe_spike(*s))).collect::<Vec<_>>().join("; "),
        ));
        let spec = figure::spec(ctx, 2, panels)?;
        publish(
            ctx,
            &Figure {
                spec,
                data,
                claims,
                notes: vec![],
            },
        )
    }
}
