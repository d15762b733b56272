//! `figure_condensation` (Fig 5.1, B.1): a small and a large learning rate from one
//! initialisation.

use anyhow::{Context, Result};
use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;
use spike_nn::backend::{BackendKind, Precision};
use spike_nn::eval::evaluator;
use spike_nn::linalg::dense::norm;
use spike_nn::objective::HvpMethod;

use super::super::DATASETS;
use super::super::condensation::FeatureTable;
use super::super::figure::{Figure, FigureParams};
use super::super::train::{checkpoints, final_theta};
use super::super::trained::{Log, Trained};
use super::{Lens, Variance, cond_of, divergence, end_window};
use crate::analysis::condensation::effective_orientations;
use crate::claims::sec5::{Condensation, Pair, PairRun, local_extrema, pair_claims};
use crate::plot::spec::{Axis, BLACK, BLUE, GREEN, Mark, ORANGE, Panel, Series};
use crate::plot::{FigureData, linspace};

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

/// One of the two runs and what the figure reads of it.
struct Run<'a> {
    name: &'static str,
    trained: Trained<'a>,
    log: Log,
    variance: Variance,
}

impl Run<'_> {
    fn label(&self) -> String {
        format!("lr = {}", self.trained.lr)
    }
}

/// The neuron features at the start, and at the end of each run: (name, features).
type FeatureSet = [(String, Features); 3];

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
        let read = |name: &'static str| -> Result<Run<'_>> {
            let trained = Trained::from_roles(ctx, name, "data")?;
            Ok(Run {
                name,
                log: trained.log()?,
                variance: Variance::read(cond_of(conds, trained.input)?)?,
                trained,
            })
        };
        let (small, large) = (read("small")?, read("large")?);
        let (cs, cl) = (
            cond_of(conds, small.trained.input)?,
            cond_of(conds, large.trained.input)?,
        );
        let features: FeatureSet = [
            ("initial".to_string(), Features::read(cs, true)?),
            (
                format!("lr={}", small.trained.lr),
                Features::read(cs, false)?,
            ),
            (
                format!("lr={}", large.trained.lr),
                Features::read(cl, false)?,
            ),
        ];
        let normalized = p.features == FeatureView::Normalized;
        let data = curves(
            [&small, &large],
            &features,
            normalized,
            super::super::backend_of(ctx)?,
        )?;
        let panels = panels([&small, &large], &features, normalized);
        let pair = measure(
            [&small, &large],
            &features,
            &data,
            normalized,
            Lens::of(ctx)?,
        )?;
        let ((p_s, c_s), (p_l, c_l)) = (small.variance.last()?, large.variance.last()?);
        let notes = vec![format!(
            "final condensed variance: Definition 5.2 with theta = arctan(b/w) {p_s:.4} (lr {}) vs {p_l:.4} (lr {}); with the two-argument angle {c_s:.4} vs {c_l:.4}",
            small.trained.lr, large.trained.lr
        )];
        Ok(Figure {
            tables: vec![],
            spec: p.spec(3, panels),
            data,
            claims: pair_claims(&pair),
            notes,
        })
    }
}

/// The figure's series: loss, the trained functions against the data, the neuron features and
/// the condensed variance under both angles.
fn curves(
    runs: [&Run; 2],
    features: &FeatureSet,
    normalized: bool,
    backend: BackendKind,
) -> Result<FigureData> {
    let mut data = FigureData::new();
    for run in runs {
        let t = &run.trained;
        let e: Vec<f64> = run.log.epoch.iter().map(|&e| e as f64).collect();
        data.xy("loss", run.name, &e, &run.log.loss);
        let (lo, hi) = t.input_range();
        let n = 400;
        let x = linspace(lo, hi, n);
        let eval = evaluator(backend, t.objective(Precision::F64), HvpMethod::Exact);
        let f = eval.outputs(&final_theta(t.input)?, &x, &[n, 1])?;
        data.xy("output", run.name, &x, &f);
        let e: Vec<f64> = run.variance.epoch.iter().map(|&e| e as f64).collect();
        data.xy("v_cond", run.name, &e, &run.variance.paper);
        data.xy("v_cond_circular", run.name, &e, &run.variance.circular);
    }
    let train = &runs[0].trained.train;
    data.xy("output", "data", &train.x, &train.y);
    for (which, f) in features {
        if normalized {
            let over_max = |v: &[f64]| {
                let m = v.iter().cloned().fold(0.0, f64::max);
                v.iter().map(|x| x / m).collect::<Vec<_>>()
            };
            let panel = format!("features_{which}");
            data.xy(&panel, "a", &f.orientation, &over_max(&f.output));
            data.xy(&panel, "w", &f.orientation, &over_max(&f.magnitude));
        } else {
            data.xy("features", which, &f.orientation, &f.amplitude);
        }
    }
    Ok(data)
}

fn panels(runs: [&Run; 2], features: &FeatureSet, normalized: bool) -> Vec<Panel> {
    let [small, large] = runs;
    let both = |panel: Panel| {
        panel
            .with(Series::new("small", &small.label(), Mark::Line, BLUE))
            .with(Series::new("large", &large.label(), Mark::Line, ORANGE))
    };
    let mut panels =
        vec![
            both(Panel::new(
                "loss",
                "loss",
                Axis::lin("epoch"),
                Axis::log("loss"),
            )),
            both(
                Panel::new("output", "output", Axis::lin("x"), Axis::lin("f(x)"))
                    .with(Series::new("data", "training data", Mark::Points, BLACK)),
            ),
        ];
    if normalized {
        for ((which, _), title) in features
            .iter()
            .zip(["initial", "without spike", "with spike"])
        {
            panels.push(
                Panel::new(
                    &format!("features_{which}"),
                    &format!("features, {title} ({which})"),
                    Axis::lin("orientation (rad)"),
                    Axis::lin("normalized magnitude"),
                )
                .with(Series::new("a", "|a_j| / max", Mark::Points, BLUE))
                .with(Series::new("w", "|(w_j, b_j)| / max", Mark::Points, ORANGE)),
            );
        }
    } else {
        let mut panel = Panel::new(
            "features",
            "features (orientation, amplitude A_j)",
            Axis::lin("orientation (rad)"),
            Axis::lin("A_j"),
        );
        for ((which, _), (text, colour)) in features.iter().zip([
            ("initial".to_string(), GREEN),
            (small.label(), BLUE),
            (large.label(), ORANGE),
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
        panels.push(both(Panel::new(
            name,
            title,
            Axis::lin("epoch"),
            Axis::lin(name),
        )));
    }
    panels
}

/// What the claims of the pair are decided on, under the variant's reading.
fn measure(
    runs: [&Run; 2],
    features: &FeatureSet,
    data: &FigureData,
    normalized: bool,
    lens: Lens,
) -> Result<Pair> {
    let [small, large] = runs;
    // How far training moved theta, relative to its initial norm.
    let moved = |t: &Trained| -> Result<f64> {
        let ck = checkpoints(t.input)?;
        let first = ck.iter().min_by_key(|c| c.0).context("no checkpoints")?;
        let last = final_theta(t.input)?;
        let d: Vec<f64> = last.iter().zip(&first.2).map(|(a, b)| a - b).collect();
        Ok(norm(&d) / norm(&first.2))
    };
    let run = |r: &Run| -> Result<PairRun> {
        Ok(PairRun {
            lr: r.trained.lr,
            spike: lens.describe(&r.log),
            moved: moved(&r.trained)?,
            extrema: local_extrema(&data.get("output", r.name).1),
            lambda_end: end_window(&r.log),
            v_end: lens
                .v(&r.variance)
                .last()
                .copied()
                .context("no checkpoints")?,
        })
    };
    let [fi, fs, fl] = [&features[0].1, &features[1].1, &features[2].1];
    let counts = |w: &dyn Fn(&Features) -> &[f64]| {
        [
            fi.orientations(w(fi)),
            fs.orientations(w(fs)),
            fl.orientations(w(fl)),
        ]
    };
    Ok(Pair {
        small: run(small)?,
        large: run(large)?,
        diverged: divergence(&[
            (small.trained.input, small.trained.lr),
            (large.trained.input, large.trained.lr),
        ])?,
        rule: lens.rule,
        v_name: lens.v_name(),
        width: small.trained.fnn_width()?,
        condensation: if normalized {
            Condensation::InputAndOutput {
                input: counts(&|f: &Features| &f.magnitude),
                output: counts(&|f: &Features| &f.output),
            }
        } else {
            Condensation::Amplitude(counts(&|f: &Features| &f.amplitude))
        },
    })
}
