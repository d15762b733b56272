//! `figure_sweep` (Fig 5.2, 5.4, B.2): final condensed variance and lambda_max against a swept
//! training parameter, mean +- std over seeds.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;

use super::super::figure::{Figure, FigureParams};
use super::super::train::{Edge, TrainParams};
use super::super::trained::{diverged_at, read_log};
use super::{Lens, Variance, cond_of, end_window};
use crate::analysis::stats::{mean, median, std_dev};
use crate::claims::Claim;
use crate::claims::readings::Angle;
use crate::claims::sec5::{
    SWEEP_L_GAMMA, SWEEP_L_LR, SWEEP_V_GAMMA, SWEEP_V_LR, SweepRun, below_claim, falls_claim,
    threshold_claim,
};
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLUE, GREEN, GREY, Mark, ORANGE, Panel, RED, Series};

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

/// The runs of the sweep by value of the swept parameter, ascending, and the runs left out
/// because they diverged.
struct Sweep {
    rows: Vec<(f64, Vec<SweepRun>)>,
    diverged: Vec<String>,
}

/// Mean and standard deviation over the seeds of each value of the swept parameter.
struct Trends {
    xs: Vec<f64>,
    v: (Vec<f64>, Vec<f64>),
    circular: (Vec<f64>, Vec<f64>),
    lambda: (Vec<f64>, Vec<f64>),
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
        let lens = Lens::of(ctx)?;
        let sweep = collect(p.x, runs, ctx.inputs("cond")?, lens)?;
        let trends = sweep.trends();
        let threshold = sweep
            .rows
            .iter()
            .find(|r| r.1.iter().any(|s| s.spike))
            .map(|r| r.0);
        let (mut data, mut panel) = draw(xname, &trends);
        let by_lr = p.x == SweepAxis::Lr;
        // The runs' edge of stability: 2/lr under GD, the optimiser's own line otherwise.
        let edges: Vec<Edge> = runs
            .iter()
            .map(|r| Ok(r.params::<TrainParams>()?.edge()))
            .collect::<Result<_>>()?;
        let edge_name = edges.first().map_or("2/eta", |e| e.name);
        if by_lr {
            let two: Vec<f64> = sweep.rows.iter().map(|r| r.1[0].edge).collect();
            data.xy("a", "2/lr", &trends.xs, &two);
            panel = panel.with(Series::new("2/lr", edge_name, Mark::Line, GREEN).right());
            if let Some(t) = threshold {
                let (lo, hi) = (
                    trends
                        .lambda
                        .0
                        .iter()
                        .cloned()
                        .fold(f64::INFINITY, f64::min),
                    two.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                );
                data.xy("a", "spike threshold", &[t, t], &[lo, hi]);
                panel = panel.with(
                    Series::new("spike threshold", "spike threshold", Mark::Dashed, GREY).right(),
                );
            }
        } else if edges.windows(2).all(|w| w[0] == w[1]) {
            // One edge for the whole sweep (one learning rate): a constant line.
            let ends = [trends.xs[0], trends.xs[trends.xs.len() - 1]];
            data.xy("a", "2/lr", &ends, &[edges[0].value; 2]);
            panel = panel.with(Series::new("2/lr", edge_name, Mark::Dashed, GREEN).right());
        }
        let mut notes = vec![format!(
            "runs with a spike ({}): {}",
            lens.rule,
            threshold.map_or("none".to_string(), |t| format!("from {xname} = {t}"))
        )];
        if !sweep.diverged.is_empty() {
            notes.push(format!(
                "left out of the trends (they diverged): {}",
                sweep.diverged.join("; ")
            ));
        }
        Ok(Figure {
            tables: vec![],
            spec: p.spec(1, vec![panel]),
            data,
            claims: claims(xname, &sweep, &trends, lens),
            notes,
        })
    }
}

/// Reads every run of the sweep with its condensation stage.
fn collect(axis: SweepAxis, runs: &[Input], conds: &[Input], lens: Lens) -> Result<Sweep> {
    let xname = axis.as_str();
    let mut by_x: BTreeMap<u64, (f64, Vec<SweepRun>)> = BTreeMap::new();
    let mut diverged = Vec::new();
    for run in runs {
        let settings: TrainParams = run.params()?;
        let x = axis.of(&settings);
        if let Some(e) = diverged_at(run)? {
            diverged.push(format!("{xname} {x} diverged at epoch {e}"));
            continue;
        }
        let log = read_log(run)?;
        if log.lambda.is_empty() {
            bail!(
                "`{}` tracked no lambda_max (set sharpness_every)",
                run.stage
            );
        }
        let (v, circular) = Variance::read(cond_of(conds, run)?)?.last()?;
        by_x.entry(x.to_bits())
            .or_insert((x, vec![]))
            .1
            .push(SweepRun {
                v,
                circular,
                window: end_window(&log),
                spike: lens.describe(&log).spiked,
                lanczos_tol: settings.lanczos_tol,
                edge: log.edge.value,
            });
    }
    let mut rows: Vec<(f64, Vec<SweepRun>)> = by_x.into_values().collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    if rows.is_empty() {
        bail!("every run of the sweep diverged: {}", diverged.join("; "));
    }
    Ok(Sweep { rows, diverged })
}

impl Sweep {
    fn trends(&self) -> Trends {
        let stat = |f: &dyn Fn(&SweepRun) -> f64| -> (Vec<f64>, Vec<f64>) {
            self.rows
                .iter()
                .map(|(_, r)| {
                    let v: Vec<f64> = r.iter().map(f).collect();
                    (mean(&v), std_dev(&v))
                })
                .unzip()
        };
        Trends {
            xs: self.rows.iter().map(|r| r.0).collect(),
            v: stat(&|r| r.v),
            circular: stat(&|r| r.circular),
            lambda: stat(&|r| median(&r.window)),
        }
    }
}

/// The trends' series and their panel (the 2/lr and threshold lines are added by the caller).
fn draw(xname: &str, t: &Trends) -> (FigureData, Panel) {
    let mut data = FigureData::new();
    data.xyz("a", "v_cond", &t.xs, &t.v.0, &t.v.1);
    data.xyz("a", "v_cond_circular", &t.xs, &t.circular.0, &t.circular.1);
    data.xyz("a", "lambda_max", &t.xs, &t.lambda.0, &t.lambda.1);
    let panel = Panel::new(
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
    (data, panel)
}

fn claims(xname: &str, sweep: &Sweep, t: &Trends, lens: Lens) -> Vec<Claim> {
    let by_lr = xname == SweepAxis::Lr.as_str();
    let (v_quote, l_quote) = if by_lr {
        (SWEEP_V_LR, SWEEP_L_LR)
    } else {
        (SWEEP_V_GAMMA, SWEEP_L_GAMMA)
    };
    let v_of_reading = match lens.angle {
        Angle::ArctanRatio => &t.v.0,
        Angle::TwoArgument => &t.circular.0,
    };
    let mut claims = vec![
        falls_claim(
            &format!("v_cond_falls_with_{xname}"),
            v_quote,
            xname,
            &format!("final {}", lens.v_name()),
            &t.xs,
            v_of_reading,
        ),
        falls_claim(
            &format!("lambda_max_falls_with_{xname}"),
            l_quote,
            xname,
            "lambda_max at the end of training (median over the last fifth of the epochs)",
            &t.xs,
            &t.lambda.0,
        ),
    ];
    if by_lr {
        claims.push(below_claim(&sweep.rows));
        claims.push(threshold_claim(&sweep.rows, lens.rule));
    }
    claims
}
