//! Figures of Sec 5: `figure_condensation` (Fig 5.1, B.1: loss, output and neuron features of a
//! net trained with a small and a large learning rate from the same initialisation),
//! `figure_sweep` (Fig 5.2, 5.4, B.2: final condensed variance and lambda_max against a swept
//! parameter) and `figure_early` (Fig 5.3, A.1, B.3: both during early training).
//!
//! The condensed variance (Definition 5.2) is computed with both readings of Definition 5.1's
//! angle: `v_cond` with the printed arctan(b/w), `v_cond_circular` with the two-argument angle
//! (see `analysis::condensation`). Both are plotted; the claims use the one of the variant's
//! `angle` reading. These kinds measure and draw; `claims::sec5` decides.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use crate::analysis::condensation::effective_orientations;
use crate::analysis::spikes::{PAPER_RULE, Rule};
use crate::analysis::stats::{mean, median, std_dev};
use crate::claims::readings::{Angle, spike_factor};
use crate::claims::sec5::{
    Condensation, END_FRACTION, Pair, PairRun, SWEEP_L_GAMMA, SWEEP_L_LR, SWEEP_V_GAMMA,
    SWEEP_V_LR, SpikeReport, SweepRun, TRAINS, TrendSeries, below_claim, early_spike_claim,
    falls_claim, lambda_spikes_claim, local_extrema, pair_claims, threshold_claim,
    trends_agree_claim, trends_differ_claim,
};
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLACK, BLUE, GREEN, GREY, Mark, ORANGE, Panel, RED, Series};
use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;
use spike_nn::linalg::dense::norm;

use super::DATASETS;
use super::condensation::{FeatureTable, VarianceTable};
use super::figure::{Figure, FigureParams};
use super::train::{TrainParams, checkpoints, final_theta};
use super::trained::{Log, Trained, diverged_at, read_log};

/// How the variant being computed reads the paper (`claims::readings`): Definition 5.1's angle
/// and the spike rule's factor.
#[derive(Clone, Copy)]
struct Lens {
    angle: Angle,
    rule: Rule,
}

impl Lens {
    fn of(ctx: &StageContext) -> Result<Lens> {
        let rule = match spike_factor(ctx.variant())? {
            Some(f) => PAPER_RULE.with_factor(f),
            None => PAPER_RULE,
        };
        Ok(Lens {
            angle: Angle::of(ctx.variant())?,
            rule,
        })
    }

    /// The condensed variance of this reading: Definition 5.2 with its printed angle, or the
    /// two-argument angle.
    fn v<'a>(&self, v: &'a Variance) -> &'a [f64] {
        match self.angle {
            Angle::ArctanRatio => &v.paper,
            Angle::TwoArgument => &v.circular,
        }
    }

    fn v_name(&self) -> &'static str {
        match self.angle {
            Angle::ArctanRatio => "V_cond (Definition 5.2, theta = arctan(b/w))",
            Angle::TwoArgument => {
                "V_cond (Definition 5.2, theta = the two-argument angle of (w, b))"
            }
        }
    }

    /// The first spike of a log by this rule, and how far the log is from the rule's verdict.
    fn describe(&self, log: &Log) -> SpikeReport {
        let first = self
            .rule
            .detect(&log.loss)
            .first()
            .map(|s| (log.epoch[s.peak], s.peak_loss / s.pre_loss));
        let largest = self
            .rule
            .largest_rise(&log.loss)
            .map(|(i, r)| (log.epoch[i], r));
        SpikeReport::new(first, largest, self.rule.factor)
    }
}

fn end_window(log: &Log) -> Vec<f64> {
    let last = log.epoch.last().copied().unwrap_or(0) as f64;
    let from = last * (1.0 - END_FRACTION);
    log.lambda
        .iter()
        .filter(|(e, _)| *e as f64 >= from)
        .map(|l| l.1)
        .collect()
}

struct Variance {
    epoch: Vec<usize>,
    /// Definition 5.2.
    paper: Vec<f64>,
    circular: Vec<f64>,
}

impl Variance {
    /// The last (Definition 5.2 with theta = arctan(b/w), with the two-argument angle).
    fn last(&self) -> Result<(f64, f64)> {
        let i = self.epoch.len().checked_sub(1).context("no checkpoints")?;
        Ok((self.paper[i], self.circular[i]))
    }
}

/// The premise that every run trained to its last epoch: `None`, or what diverged.
fn divergence(runs: &[(&Input, f64)]) -> Result<Option<String>> {
    let mut out = Vec::new();
    for (run, lr) in runs {
        if let Some(e) = diverged_at(run)? {
            out.push(format!("lr {lr} diverged at epoch {e}"));
        }
    }
    Ok((!out.is_empty()).then(|| out.join("; ")))
}

fn variance(cond: &Input) -> Result<Variance> {
    let t: VarianceTable = cond.read()?;
    Ok(Variance {
        epoch: t.epoch.into_iter().map(|e| e as usize).collect(),
        paper: t.v_cond,
        circular: t.v_cond_circular,
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

/// The features of the first and last checkpoint of a condensation stage: (orientation,
/// |a_j|, |(w_j, b_j)|, A_j) per neuron.
struct Features {
    orientation: Vec<f64>,
    output: Vec<f64>,
    magnitude: Vec<f64>,
    amplitude: Vec<f64>,
}

impl Features {
    fn read(cond: &Input, first: bool) -> Result<Features> {
        let f: FeatureTable = cond.read()?;
        let epochs = &f.epoch;
        let pick = if first {
            *epochs.first().context("no features")?
        } else {
            *epochs.last().context("no features")?
        };
        let rows: Vec<usize> = (0..epochs.len()).filter(|&i| epochs[i] == pick).collect();
        let get = |v: &[f64]| -> Vec<f64> { rows.iter().map(|&i| v[i]).collect() };
        Ok(Features {
            orientation: get(&f.orientation),
            output: get(&f.output),
            magnitude: get(&f.magnitude),
            amplitude: get(&f.amplitude),
        })
    }

    /// Effective number of orientations with these weights per neuron.
    fn orientations(&self, weights: &[f64]) -> f64 {
        let points: Vec<(f64, f64)> = self
            .orientation
            .iter()
            .copied()
            .zip(weights.iter().copied())
            .collect();
        effective_orientations(&points)
    }
}

/// "Condense": N_eff(spike run) <= `CONDENSE_FACTOR` N_eff(no-spike run); with `initial`, also
/// "the network without loss spikes does not have weight condensation":
/// N_eff(no-spike run) > `CONDENSE_FACTOR` N_eff(initial).
pub(crate) struct FigureCondensation;

spike_config::choice_enum! {
    pub(crate) enum FeatureView {
        /// (orientation, A_j) as Fig 5.1.
        Amplitude = "amplitude",
        /// |a_j| and |w_j| over their maxima as Fig B.1.
        Normalized = "normalized",
    }
}

crate::figure_params! {
    id: "fig5_1",
    applies: ["angle", "spike_factor"],
    title: "Fig 5.1",
    pub(crate) struct FigureCondensationParams {
        /// amplitude: (orientation, A_j) as Fig 5.1; normalized: |a_j| and |w_j| over their
        /// maxima as Fig B.1
        pub features: FeatureView = FeatureView::Amplitude,
    }
}

impl Kind for FigureCondensation {
    const NAME: &'static str = "figure_condensation";
    const VERSION: u32 = 2;
    const DOC: &'static str = "Fig 5.1 / B.1: small vs large learning rate from one initialisation: loss, output, neuron features, condensed variance";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("small", &["train"]),
        InputSpec::one("large", &["train"]),
        InputSpec::one("data", DATASETS),
        InputSpec::many("cond", &["condensation"]),
    ];
    type Params = FigureCondensationParams;
    type Output = Figure;

    fn run(&self, p: &FigureCondensationParams, ctx: &mut StageContext) -> Result<Figure> {
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
            let obj = t.objective(spike_nn::backend::Precision::F64);
            let eval = spike_nn::eval::evaluator(
                super::backend_of(ctx)?,
                obj,
                spike_nn::objective::HvpMethod::Exact,
            );
            data.xy(
                "output",
                name,
                &x,
                &eval.outputs(&final_theta(t.input)?, &x, &[n, 1])?,
            );
        }
        data.xy("output", "data", &small.train.x, &small.train.y);
        let normalized = p.features == FeatureView::Normalized;
        let (cs, cl) = (cond_of(conds, small.input)?, cond_of(conds, large.input)?);
        let feats = [
            ("initial".to_string(), Features::read(cs, true)?),
            (format!("lr={}", small.lr), Features::read(cs, false)?),
            (format!("lr={}", large.lr), Features::read(cl, false)?),
        ];
        for (which, f) in &feats {
            if normalized {
                let norm = |v: &[f64]| {
                    let m = v.iter().cloned().fold(0.0, f64::max);
                    v.iter().map(|x| x / m).collect::<Vec<_>>()
                };
                data.xy(
                    &format!("features_{which}"),
                    "a",
                    &f.orientation,
                    &norm(&f.output),
                );
                data.xy(
                    &format!("features_{which}"),
                    "w",
                    &f.orientation,
                    &norm(&f.magnitude),
                );
            } else {
                data.xy("features", which, &f.orientation, &f.amplitude);
            }
        }
        let (vs, vl) = (variance(cs)?, variance(cl)?);
        for (name, v) in [("small", &vs), ("large", &vl)] {
            let e: Vec<f64> = v.epoch.iter().map(|&e| e as f64).collect();
            data.xy("v_cond", name, &e, &v.paper);
            data.xy("v_cond_circular", name, &e, &v.circular);
        }

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
            for ((which, _), title) in feats.iter().zip(["initial", "without spike", "with spike"])
            {
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
            let mut panel = Panel::new(
                "features",
                "features (orientation, amplitude A_j)",
                Axis::lin("orientation (rad)"),
                Axis::lin("A_j"),
            );
            for ((which, _), (text, colour)) in feats.iter().zip([
                ("initial".to_string(), GREEN),
                (label(&small), BLUE),
                (label(&large), ORANGE),
            ]) {
                panel = panel.with(Series::new(which, &text, Mark::Points, colour));
            }
            panels.push(panel);
        }
        for (name, title) in [
            (
                "v_cond",
                "V_cond, theta = arctan(b/w) (angle = arctan_ratio)",
            ),
            (
                "v_cond_circular",
                "V_cond, two-argument angle (angle = two_argument)",
            ),
        ] {
            panels.push(
                Panel::new(name, title, Axis::lin("epoch"), Axis::lin(name))
                    .with(Series::new("small", &label(&small), Mark::Line, BLUE))
                    .with(Series::new("large", &label(&large), Mark::Line, ORANGE)),
            );
        }

        let lens = Lens::of(ctx)?;
        let moved = |t: &Trained| -> Result<f64> {
            let ck = checkpoints(t.input)?;
            let first = ck.iter().min_by_key(|c| c.0).context("no checkpoints")?;
            let last = final_theta(t.input)?;
            let d: Vec<f64> = last.iter().zip(&first.2).map(|(a, b)| a - b).collect();
            Ok(norm(&d) / norm(&first.2))
        };
        let extrema = |name: &str| local_extrema(&data.get("output", name).1);
        let last_v = |v: &Variance| lens.v(v).last().copied().context("no checkpoints");
        let [fi, fs, fl] = [&feats[0].1, &feats[1].1, &feats[2].1];
        let counts = |w: &dyn Fn(&Features) -> &[f64]| {
            [
                fi.orientations(w(fi)),
                fs.orientations(w(fs)),
                fl.orientations(w(fl)),
            ]
        };
        let run = |t: &Trained, log: &Log| -> Result<PairRun> {
            Ok(PairRun {
                lr: t.lr,
                spike: lens.describe(log),
                moved: moved(t)?,
                extrema: 0,
                lambda_end: end_window(log),
                v_end: 0.0,
            })
        };
        let pair = Pair {
            small: PairRun {
                extrema: extrema("small"),
                v_end: last_v(&vs)?,
                ..run(&small, &small_log)?
            },
            large: PairRun {
                extrema: extrema("large"),
                v_end: last_v(&vl)?,
                ..run(&large, &large_log)?
            },
            diverged: divergence(&[(small.input, small.lr), (large.input, large.lr)])?,
            rule: lens.rule,
            v_name: lens.v_name(),
            width,
            condensation: if normalized {
                Condensation::InputAndOutput {
                    input: counts(&|f: &Features| &f.magnitude),
                    output: counts(&|f: &Features| &f.output),
                }
            } else {
                Condensation::Amplitude(counts(&|f: &Features| &f.amplitude))
            },
        };
        let claims = pair_claims(&pair);
        let ((p_s, c_s), (p_l, c_l)) = (vs.last()?, vl.last()?);
        let notes = vec![format!(
            "final condensed variance: Definition 5.2 with theta = arctan(b/w) {p_s:.4} (lr {}) vs {p_l:.4} (lr {}); with the two-argument angle {c_s:.4} vs {c_l:.4}",
            small.lr, large.lr
        )];
        Ok(Figure {
            spec: p.spec(3, panels),
            data,
            claims,
            notes,
        })
    }
}

pub(crate) struct FigureSweep;

spike_config::choice_enum! {
    /// The training parameter a sweep varies.
    pub(crate) enum SweepAxis {
        Lr = "lr",
        InitGamma = "init_gamma",
    }
}

impl SweepAxis {
    fn of(self, run: &TrainParams) -> f64 {
        match self {
            SweepAxis::Lr => run.lr,
            SweepAxis::InitGamma => run.model.init_gamma,
        }
    }
}

crate::figure_params! {
    id: "fig5_2",
    applies: ["angle", "spike_factor"],
    title: "Fig 5.2",
    pub(crate) struct FigureSweepParams {
        /// the swept parameter of the `runs`
        pub x: SweepAxis = SweepAxis::Lr,
    }
}

impl Kind for FigureSweep {
    const NAME: &'static str = "figure_sweep";
    const VERSION: u32 = 3;
    const DOC: &'static str = "Fig 5.2 / 5.4 / B.2: final condensed variance and lambda_max against a swept training parameter (mean +- std over seeds)";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::many("runs", &["train"]),
        InputSpec::many("cond", &["condensation"]),
    ];
    type Params = FigureSweepParams;
    type Output = Figure;

    fn run(&self, p: &FigureSweepParams, ctx: &mut StageContext) -> Result<Figure> {
        let xname = p.x.as_str();
        let runs = ctx.inputs("runs")?;
        let conds = ctx.inputs("cond")?;
        let lens = Lens::of(ctx)?;
        let mut by_x: BTreeMap<u64, (f64, Vec<SweepRun>)> = BTreeMap::new();
        let mut diverged_runs = Vec::new();
        for run in runs {
            let settings: TrainParams = run.params()?;
            let x = p.x.of(&settings);
            if let Some(e) = diverged_at(run)? {
                diverged_runs.push(format!("{xname} {x} diverged at epoch {e}"));
                continue;
            }
            let log = read_log(run)?;
            if log.lambda.is_empty() {
                bail!(
                    "`{}` tracked no lambda_max (set sharpness_every)",
                    run.stage
                );
            }
            let (v, circular) = variance(cond_of(conds, run)?)?.last()?;
            by_x.entry(x.to_bits())
                .or_insert((x, vec![]))
                .1
                .push(SweepRun {
                    v,
                    circular,
                    window: end_window(&log),
                    spike: lens.describe(&log).spiked,
                    lanczos_tol: settings.lanczos_tol,
                });
        }
        let mut rows: Vec<(f64, Vec<SweepRun>)> = by_x.into_values().collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        if rows.is_empty() {
            bail!(
                "every run of the sweep diverged: {}",
                diverged_runs.join("; ")
            );
        }
        let stat = |f: &dyn Fn(&SweepRun) -> f64| -> (Vec<f64>, Vec<f64>) {
            rows.iter()
                .map(|(_, r)| {
                    let v: Vec<f64> = r.iter().map(f).collect();
                    (mean(&v), std_dev(&v))
                })
                .unzip()
        };
        let xs: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let (vm, vsd) = stat(&|r| r.v);
        let (cm, csd) = stat(&|r| r.circular);
        let (lm, lsd) = stat(&|r| median(&r.window));
        let mut data = FigureData::new();
        data.xyz("a", "v_cond", &xs, &vm, &vsd);
        data.xyz("a", "v_cond_circular", &xs, &cm, &csd);
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
            "V_cond, theta = arctan(b/w) (angle = arctan_ratio)",
            Mark::ErrorBars,
            BLUE,
        ))
        .with(Series::new(
            "v_cond_circular",
            "V_cond, two-argument angle",
            Mark::ErrorBars,
            ORANGE,
        ))
        .with(
            Series::new(
                "lambda_max",
                "lambda_max (median of the last fifth)",
                Mark::ErrorBars,
                RED,
            )
            .right(),
        );
        let threshold = rows
            .iter()
            .find(|r| r.1.iter().any(|s| s.spike))
            .map(|r| r.0);
        let by_lr = xname == "lr";
        let (v_quote, l_quote) = if by_lr {
            (SWEEP_V_LR, SWEEP_L_LR)
        } else {
            (SWEEP_V_GAMMA, SWEEP_L_GAMMA)
        };
        let v_of_reading = match lens.angle {
            Angle::ArctanRatio => &vm,
            Angle::TwoArgument => &cm,
        };
        let mut claims = vec![
            falls_claim(
                &format!("v_cond_falls_with_{xname}"),
                v_quote,
                xname,
                &format!("final {}", lens.v_name()),
                &xs,
                v_of_reading,
            ),
            falls_claim(
                &format!("lambda_max_falls_with_{xname}"),
                l_quote,
                xname,
                "lambda_max at the end of training (median over the last fifth of the epochs)",
                &xs,
                &lm,
            ),
        ];
        if !by_lr {
            // One learning rate for the whole sweep: 2/lr is a constant line.
            let lrs: Vec<f64> = runs
                .iter()
                .map(|r| Ok(r.params::<TrainParams>()?.lr))
                .collect::<Result<_>>()?;
            if lrs.windows(2).all(|w| w[0] == w[1]) {
                data.xy("a", "2/lr", &[xs[0], xs[xs.len() - 1]], &[2.0 / lrs[0]; 2]);
                panel = panel.with(Series::new("2/lr", "2/lr", Mark::Dashed, GREEN).right());
            }
        } else {
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
            claims.push(below_claim(&rows));
            claims.push(threshold_claim(&rows, lens.rule));
        }
        let mut notes = vec![format!(
            "runs with a spike ({}): {}",
            lens.rule,
            threshold.map_or("none".to_string(), |t| format!("from {xname} = {t}"))
        )];
        if !diverged_runs.is_empty() {
            notes.push(format!(
                "left out of the trends (they diverged): {}",
                diverged_runs.join("; ")
            ));
        }
        Ok(Figure {
            spec: p.spec(1, vec![panel]),
            data,
            claims,
            notes,
        })
    }
}

pub(crate) struct FigureEarly;

spike_config::choice_enum! {
    /// Which of the paper's statements the runs of an early-training figure are held to.
    pub(crate) enum Regime {
        /// Sec 5.2, Fig 5.3, B.3: the trends agree, only the large lr spikes.
        Linear = "linear",
        /// Appendix B.1, Fig A.1: lambda_max rises while the condensed variance falls;
        /// Appendix A: both lrs spike.
        Condensed = "condensed",
    }
}

crate::figure_params! {
    id: "fig5_3",
    applies: ["angle", "spike_factor"],
    title: "Fig 5.3",
    pub(crate) struct FigureEarlyParams {
        /// which of the paper's statements the runs are held to: linear (Sec 5.2, Fig 5.3, B.3:
        /// the trends agree, only the large lr spikes) or condensed (Appendix B.1, Fig A.1:
        /// lambda_max rises while the condensed variance falls; Appendix A: both lrs spike)
        pub regime: Regime = Regime::Linear,
    }
}

impl Kind for FigureEarly {
    const NAME: &'static str = "figure_early";
    const VERSION: u32 = 3;
    const DOC: &'static str = "Fig 5.3 / A.1 / B.3: condensed variance and lambda_max during early training, small and large learning rate";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("small", &["train"]),
        InputSpec::one("large", &["train"]),
        InputSpec::many("cond", &["condensation"]),
    ];
    type Params = FigureEarlyParams;
    type Output = Figure;

    fn run(&self, p: &FigureEarlyParams, ctx: &mut StageContext) -> Result<Figure> {
        let condensed = p.regime == Regime::Condensed;
        let lens = Lens::of(ctx)?;
        let conds = ctx.inputs("cond")?;
        let trains = divergence(&[
            (
                ctx.input("small")?,
                ctx.input("small")?.params::<TrainParams>()?.lr,
            ),
            (
                ctx.input("large")?,
                ctx.input("large")?.params::<TrainParams>()?.lr,
            ),
        ])?;
        let mut data = FigureData::new();
        let mut panels = Vec::new();
        let mut claims = Vec::new();
        let mut spikes = Vec::new();
        let mut lambdas: Vec<(f64, Vec<f64>)> = Vec::new();
        for role in ["small", "large"] {
            let run = ctx.input(role)?;
            let lr = run.params::<TrainParams>()?.lr;
            let log = read_log(run)?;
            let var = variance(cond_of(conds, run)?)?;
            let lambda: BTreeMap<usize, f64> = log.lambda.iter().cloned().collect();
            let (mut e, mut v, mut c, mut l) = (vec![], vec![], vec![], vec![]);
            for (i, epoch) in var.epoch.iter().enumerate() {
                if let Some(lam) = lambda.get(epoch) {
                    e.push(*epoch);
                    v.push(var.paper[i]);
                    c.push(var.circular[i]);
                    l.push(*lam);
                }
            }
            if e.len() < 3 {
                bail!(
                    "`{}` has fewer than 3 epochs with both a checkpoint and lambda_max; make checkpoint_every a multiple of sharpness_every",
                    run.stage
                );
            }
            let ef: Vec<f64> = e.iter().map(|&x| x as f64).collect();
            data.xy(role, "v_cond", &ef, &v);
            data.xy(role, "v_cond_circular", &ef, &c);
            data.xy(role, "lambda_max", &ef, &l);
            data.xy(role, "2/lr", &[ef[0], ef[ef.len() - 1]], &[2.0 / lr; 2]);
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
                    "V_cond, theta = arctan(b/w) (angle = arctan_ratio)",
                    Mark::Line,
                    BLUE,
                ))
                .with(Series::new(
                    "v_cond_circular",
                    "V_cond, two-argument angle",
                    Mark::Dashed,
                    ORANGE,
                ))
                .with(Series::new("lambda_max", "lambda_max", Mark::Line, RED).right())
                .with(Series::new("2/lr", "2/lr", Mark::Dashed, GREY).right()),
            );
            let windows: Vec<(usize, usize)> = lens
                .rule
                .detect(&log.loss)
                .iter()
                .map(|s| (log.epoch[s.onset], log.epoch[s.end]))
                .collect();
            let series = TrendSeries {
                epochs: e,
                v,
                circular: c,
                lambda: l,
            };
            let series = match lens.angle {
                Angle::ArctanRatio => series,
                Angle::TwoArgument => series.circular_view(),
            };
            let claim = if condensed {
                trends_differ_claim(role, lr, &series, lens.v_name())
            } else {
                trends_agree_claim(
                    role,
                    lr,
                    &series.outside(&windows),
                    lens.v_name(),
                    lens.rule,
                )
            };
            let claim = claim.requires(TRAINS, trains.as_deref());
            claims.push(claim);
            lambdas.push((lr, log.lambda.iter().map(|l| l.1).collect::<Vec<f64>>()));
            spikes.push((lr, lens.describe(&log)));
        }
        claims.push(early_spike_claim(
            condensed,
            lens.rule,
            [&spikes[0], &spikes[1]],
            trains.as_deref(),
        ));
        if !condensed {
            let (s, l) = (&lambdas[0], &lambdas[1]);
            claims.push(
                lambda_spikes_claim((s.0, &s.1), (l.0, &l.1)).requires(TRAINS, trains.as_deref()),
            );
        }
        Ok(Figure {
            spec: p.spec(2, panels),
            data,
            claims,
            notes: vec![],
        })
    }
}
