//! `frequency`: the frequency analysis of a loss spike (paper Sec 3.4, Fig 3.3). With
//! theta_max, theta_end and theta_ini,m from the `spikes` input, the network outputs on a
//! uniform grid over the training interval give the spike output difference
//! f(theta_max) - f(theta_end), the initial output difference f(theta_ini,m) - f(theta_end), and
//! the random control f(theta_rnd) - f(theta_end) with
//! theta_rnd = theta_end + |theta_end - theta_max| eps / |eps|, eps ~ N(0, I) (`random` samples).
//! LFP(K) of each for K = 0..=k_max; and LFP(lfp_k) of f(theta_e) - f(theta_end) for every
//! checkpoint e of the spike window (Fig 3.3(b)).
//!
//! Artifacts: `lfp.parquet` (k, spike, initial, random_mean, random_std, random_max),
//! `epochs.parquet`
//! (epoch, loss, lfp), `outputs.parquet` (x, f_max, f_end, f_ini).

use anyhow::{Context, Result};

use crate::analysis::frequency::lfp;
use crate::plot::linspace;
use spike_config::InputSpec;
use spike_engine::context::StageContext;
use spike_engine::kind::Kind;
use spike_engine::progress::Bar;
use spike_nn::backend::Precision;
use spike_nn::eval::evaluator;
use spike_nn::linalg::dense::norm;
use spike_nn::objective::HvpMethod;
use spike_nn::rng::SeededRng;

use super::DATASETS;
use super::backend_of;
use super::spikes::picks;
use super::trained::{Log, Trained};

pub(crate) struct Frequency;

fn sub(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

spike_config::stage_params! {
    pub(crate) struct FrequencyParams {
        /// points of the uniform output grid over the training interval
        pub grid: usize = 256; range(8.0, 1_048_576.0),
        /// largest low-frequency threshold K
        pub k_max: usize = 20; range(1.0, 524_288.0),
        /// samples of the random control (paper: 100)
        pub random: usize = 100; range(1.0, 100_000.0),
        /// seed of the random control
        pub seed: u64 = 0; range(0.0, 9.0e15),
        /// threshold of the LFP over epochs (paper: 2)
        pub lfp_k: usize = 2; range(0.0, 524_288.0),
    }
}

/// Records why no spike was analysed (`skipped.json`), with empty tables.
fn skip(ctx: &StageContext, why: String) -> Result<()> {
    ctx.log(&why);
    ctx.write(&LfpTable::default())?;
    ctx.write(&LfpEpochs::default())?;
    ctx.write_json(SKIPPED, &serde_json::json!({ "why": why }))
}

/// Written instead of an analysis when the run has no spike to analyse.
pub(crate) const SKIPPED: &str = "skipped.json";

spike_engine::table_schema! {
    /// LFP(K) of the spike, initial and random output differences.
    pub(crate) struct LfpTable in "lfp" {
        pub k: Vec<i64>,
        pub spike: Vec<f64>,
        pub initial: Vec<f64>,
        pub random_mean: Vec<f64>,
        pub random_std: Vec<f64>,
        pub random_max: Vec<f64>,
    }
}

spike_engine::table_schema! {
    /// LFP(lfp_k) of f(theta_e) - f(theta_end) at every checkpoint of the spike window.
    pub(crate) struct LfpEpochs in "epochs" {
        pub epoch: Vec<i64>,
        pub loss: Vec<f64>,
        pub lfp: Vec<f64>,
    }
}

spike_engine::table_schema! {
    /// The network outputs on the grid.
    pub(crate) struct OutputTable in "outputs" {
        pub x: Vec<f64>,
        pub f_max: Vec<f64>,
        pub f_end: Vec<f64>,
        pub f_ini: Vec<f64>,
    }
}

impl Kind for Frequency {
    const NAME: &'static str = "frequency";
    const VERSION: u32 = 2;
    const DOC: &'static str =
        "Low-frequency proportion of the spike, initial and random output differences (Fig 3.3)";
    const NUMERIC: bool = true;
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("train", &["train"]),
        InputSpec::one("data", DATASETS),
        InputSpec::one("spikes", &["spikes"]),
    ];
    type Params = FrequencyParams;
    type Output = ();

    fn run(&self, p: &FrequencyParams, ctx: &mut StageContext) -> Result<()> {
        let trained = Trained::from_roles(ctx, "train", "data")?;
        trained.fnn_width()?;
        // Without a spike there is nothing to analyse: that is a finding of the run (the claim
        // about it is then not tested), written down instead of failing the stage.
        let spikes = ctx.input("spikes")?;
        let Some(picks) = picks(spikes)? else {
            return skip(
                ctx,
                format!(
                    "`{}` picked no spike to analyse (its log says why)",
                    spikes.stage
                ),
            );
        };
        let Some(ini_epoch) = picks.theta_ini else {
            return skip(
                ctx,
                format!(
                    "no checkpoint before the spike has a loss as high as its peak ({:.3e}); save early checkpoints (checkpoint_every) or analyse a higher spike",
                    picks.peak_loss
                ),
            );
        };
        let ck = trained.checkpoints()?;
        let theta_at = |epoch: usize| -> Result<&Vec<f64>> {
            ck.iter()
                .find(|c| c.0 == epoch)
                .map(|c| &c.2)
                .with_context(|| format!("no checkpoint at epoch {epoch}"))
        };
        let (t_max, t_end, t_ini) = (
            theta_at(picks.theta_max)?,
            theta_at(picks.theta_end)?,
            theta_at(ini_epoch)?,
        );
        let obj = trained.objective(Precision::F64);
        let eval = evaluator(backend_of(ctx)?, obj, HvpMethod::Exact);
        let (lo, hi) = trained.input_range();
        let n = p.grid;
        let x = linspace(lo, hi, n);
        let f = |theta: &[f64]| eval.outputs(theta, &x, &[n, 1]);
        let (f_max, f_end, f_ini) = (f(t_max)?, f(t_end)?, f(t_ini)?);
        let ks: Vec<usize> = (0..=p.k_max).collect();
        let spike = lfp(&sub(&f_max, &f_end), &ks);
        let initial = lfp(&sub(&f_ini, &f_end), &ks);

        let bar = ctx.progress(p.random as u64, "random samples");
        let random = RandomLfp::sample(&f, t_end, t_max, &f_end, &ks, p, &bar)?;
        ctx.write(&LfpTable {
            k: ks.iter().map(|&k| k as i64).collect(),
            spike,
            initial,
            random_mean: random.mean,
            random_std: random.std,
            random_max: random.max,
        })?;

        let t = lfp_over_window(&f, &ck, &trained.log()?, &f_end, picks.window, p.lfp_k)?;
        ctx.write(&t)?;
        ctx.write(&OutputTable {
            x,
            f_max,
            f_end,
            f_ini,
        })?;
        ctx.write_json("meta.json", &serde_json::json!({ "theta_max": picks.theta_max, "theta_end": picks.theta_end, "theta_ini": ini_epoch }))
    }
}

/// The LFP of the output change toward random points at the spike's distance from theta_end:
/// mean, standard deviation and largest over the samples, per k.
struct RandomLfp {
    mean: Vec<f64>,
    std: Vec<f64>,
    max: Vec<f64>,
}

/// The trained net's outputs on the grid at a theta.
type Outputs<'a> = dyn Fn(&[f64]) -> Result<Vec<f64>> + 'a;

impl RandomLfp {
    fn sample(
        f: &Outputs,
        t_end: &[f64],
        t_max: &[f64],
        f_end: &[f64],
        ks: &[usize],
        p: &FrequencyParams,
        bar: &Bar,
    ) -> Result<RandomLfp> {
        let samples = p.random;
        let mut rng = SeededRng::new(p.seed);
        let radius = norm(&sub(t_end, t_max));
        let mut random: Vec<Vec<f64>> = Vec::with_capacity(samples);
        for _ in 0..samples {
            let eps = rng.normals(t_end.len());
            let s = radius / norm(&eps);
            let theta: Vec<f64> = t_end.iter().zip(&eps).map(|(t, e)| t + s * e).collect();
            random.push(lfp(&sub(&f(&theta)?, f_end), ks));
            bar.inc(1);
        }
        let mean: Vec<f64> = (0..ks.len())
            .map(|k| random.iter().map(|r| r[k]).sum::<f64>() / samples.max(1) as f64)
            .collect();
        let std: Vec<f64> = (0..ks.len())
            .map(|k| {
                (random.iter().map(|r| (r[k] - mean[k]).powi(2)).sum::<f64>()
                    / samples.max(1) as f64)
                    .sqrt()
            })
            .collect();
        let max: Vec<f64> = (0..ks.len())
            .map(|k| {
                random
                    .iter()
                    .map(|r| r[k])
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .collect();
        Ok(RandomLfp { mean, std, max })
    }
}

/// The loss and the LFP (threshold `lfp_k`) of f(theta) - f(theta_end) at every checkpoint of
/// the spike's window.
fn lfp_over_window(
    f: &Outputs,
    ck: &[(usize, String, Vec<f64>)],
    log: &Log,
    f_end: &[f64],
    window: (usize, usize),
    lfp_k: usize,
) -> Result<LfpEpochs> {
    let mut t = LfpEpochs::default();
    for (epoch, _, theta) in ck.iter().filter(|c| c.0 >= window.0 && c.0 <= window.1) {
        let d = sub(&f(theta)?, f_end);
        t.epoch.push(*epoch as i64);
        t.loss.push(
            log.epoch
                .iter()
                .position(|e| e == epoch)
                .map_or(f64::NAN, |i| log.loss[i]),
        );
        t.lfp.push(if norm(&d) > 0.0 {
            lfp(&d, &[lfp_k])[0]
        } else {
            f64::NAN
        });
    }
    Ok(t)
}
