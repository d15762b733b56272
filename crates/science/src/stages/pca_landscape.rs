//! `pca_landscape`: the loss landscape around a stretch of training (Fig 3.1(c, f, i), 3.2(a)).
//! PCA of the checkpoints theta_i of a window (mean-centred, as scikit-learn's PCA) gives e1, e2;
//! the trajectory is (<theta_i - theta_t, e1>, <theta_i - theta_t, e2>) with theta_t the last
//! checkpoint of the window, plus its distance off that plane; the surface is
//! R_S(theta_t + alpha e1 + beta e2) on a grid covering the trajectory, and the loss is also
//! evaluated at the real trajectory points.
//!
//! When the window comes from a `spikes` input that picked no spike, the tables are empty.
//!
//! Artifacts: `pca.parquet` (component, explained), `trajectory.parquet` (epoch, alpha, beta,
//! off_plane, loss, plane_loss), `surface.parquet` (alpha, beta, loss).

use anyhow::{Result, bail};

use crate::plot::linspace;
use spike_config::InputSpec;
use spike_engine::context::StageContext;
use spike_engine::kind::Kind;
use spike_nn::backend::Precision;
use spike_nn::eval::evaluator;
use spike_nn::linalg::dense::{axpy, dot, norm};
use spike_nn::linalg::pca::pca;
use spike_nn::objective::HvpMethod;

use super::DATASETS;
use super::backend_of;
use super::spikes::picks;
use super::trained::Trained;

pub(crate) struct PcaLandscape;

spike_config::stage_params! {
    pub(crate) struct PcaLandscapeParams {
        /// first epoch of the window (default: the spike window of the `spikes` input)
        pub from: Option<usize>; range(0.0, 1e9),
        /// last epoch of the window
        pub to: Option<usize>; range(0.0, 1e9),
        /// use every k-th checkpoint of the window
        pub stride: usize = 1; range(1.0, 1e9),
        /// surface resolution per axis
        pub grid: usize = 31; range(2.0, 1000.0),
        /// surface extent beyond the trajectory, as a fraction of its span
        pub margin: f64 = 0.3; range(0.0, 100.0),
        /// precision of the loss evaluations
        pub dtype: Precision = Precision::F64,
    }
}

spike_engine::table_schema! {
    /// Share of the variance of the window's checkpoints explained by each principal component.
    pub(crate) struct PcaTable in "pca" {
        pub component: Vec<i64>,
        pub explained: Vec<f64>,
    }
}

spike_engine::table_schema! {
    /// The checkpoints of the window in the plane of the first two directions.
    pub(crate) struct Trajectory in "trajectory" {
        pub epoch: Vec<i64>,
        pub alpha: Vec<f64>,
        pub beta: Vec<f64>,
        /// Distance of the checkpoint from the plane.
        pub off_plane: Vec<f64>,
        pub loss: Vec<f64>,
        /// The loss at the checkpoint's projection onto the plane.
        pub plane_loss: Vec<f64>,
    }
}

spike_engine::table_schema! {
    /// R_S(theta_t + alpha e1 + beta e2) on a grid.
    pub(crate) struct Surface in "surface" {
        pub alpha: Vec<f64>,
        pub beta: Vec<f64>,
        pub loss: Vec<f64>,
    }
}

impl Kind for PcaLandscape {
    const NAME: &'static str = "pca_landscape";
    const VERSION: u32 = 1;
    const DOC: &'static str = "PCA of a window of checkpoints, the trajectory in the first two directions and the loss surface";
    const NUMERIC: bool = true;
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("train", &["train"]),
        InputSpec::one("data", DATASETS),
        InputSpec::optional("spikes", &["spikes"]),
    ];
    type Params = PcaLandscapeParams;
    type Output = ();

    fn run(&self, p: &PcaLandscapeParams, ctx: &mut StageContext) -> Result<()> {
        let trained = Trained::from_roles(ctx, "train", "data")?;
        let window = match (p.from, p.to) {
            (Some(a), Some(b)) => (a, b),
            (None, None) => match picks(ctx.input("spikes")?)? {
                Some(picks) => picks.window,
                None => {
                    ctx.log("no spike picked: nothing to analyse");
                    ctx.write(&PcaTable::default())?;
                    ctx.write(&Trajectory::default())?;
                    return ctx.write(&Surface::default());
                }
            },
            _ => bail!(
                "give both `from` and `to`, or neither (then the window of the `spikes` input is used)"
            ),
        };
        let ck: Vec<(usize, Vec<f64>)> = trained
            .checkpoints()?
            .into_iter()
            .filter(|c| c.0 >= window.0 && c.0 <= window.1)
            .step_by(p.stride.max(1))
            .map(|c| (c.0, c.2))
            .collect();
        if ck.len() < 3 {
            bail!(
                "only {} checkpoints in epochs {}..={} of `{}`; save more (checkpoint_every, spike_factor)",
                ck.len(),
                window.0,
                window.1,
                trained.input.stage
            );
        }
        let points: Vec<Vec<f64>> = ck.iter().map(|c| c.1.clone()).collect();
        let pc = pca(&points, 2)?;
        if pc.directions.len() < 2 {
            bail!("the checkpoints of the window span fewer than two directions");
        }
        let (e1, e2) = (&pc.directions[0], &pc.directions[1]);
        let theta_t = points.last().expect("checked").clone();
        let at = |a: f64, b: f64| {
            let mut t = theta_t.clone();
            axpy(a, e1, &mut t);
            axpy(b, e2, &mut t);
            t
        };
        let obj = trained.objective(p.dtype);
        let eval = evaluator(backend_of(ctx)?, obj, HvpMethod::Exact);
        let grid = p.grid.max(2);
        let bar = ctx.progress((ck.len() * 2 + grid * grid) as u64, "loss evaluations");

        let mut tr = Trajectory {
            epoch: ck.iter().map(|c| c.0 as i64).collect(),
            ..Trajectory::default()
        };
        for (_, theta) in &ck {
            let d: Vec<f64> = theta.iter().zip(&theta_t).map(|(a, b)| a - b).collect();
            let (a, b) = (dot(&d, e1), dot(&d, e2));
            let mut r = d.clone();
            axpy(-a, e1, &mut r);
            axpy(-b, e2, &mut r);
            tr.alpha.push(a);
            tr.beta.push(b);
            tr.off_plane.push(norm(&r));
            tr.loss.push(eval.loss(theta)?);
            tr.plane_loss.push(eval.loss(&at(a, b))?);
            bar.inc(2);
        }
        let extent = |v: &[f64]| {
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let m = p.margin * (hi - lo).max(1e-12);
            (lo - m, hi + m)
        };
        let ((a0, a1), (b0, b1)) = (extent(&tr.alpha), extent(&tr.beta));
        let mut surface = Surface::default();
        for &b in &linspace(b0, b1, grid) {
            for &a in &linspace(a0, a1, grid) {
                surface.alpha.push(a);
                surface.beta.push(b);
                surface.loss.push(eval.loss(&at(a, b))?);
                bar.inc(1);
            }
        }
        let k = pc.explained.len().min(10);
        ctx.write(&PcaTable {
            component: (1..=k as i64).collect(),
            explained: pc.explained[..k].to_vec(),
        })?;
        ctx.write(&tr)?;
        ctx.write(&surface)
    }
}
