//! `pca_landscape`: the loss landscape around a stretch of training (Fig 3.1(c, f, i), 3.2(a)).
//! PCA of the checkpoints theta_i of a window (mean-centred, as scikit-learn's PCA) gives e1, e2;
//! the trajectory is (<theta_i - theta_t, e1>, <theta_i - theta_t, e2>) with theta_t the last
//! checkpoint of the window, plus its distance off that plane; the surface is
//! R_S(theta_t + alpha e1 + beta e2) on a grid covering the trajectory, and the loss is also
//! evaluated at the real trajectory points.
//!
//! Artifacts: `pca.parquet` (component, explained), `trajectory.parquet` (epoch, alpha, beta,
//! off_plane, loss, plane_loss), `surface.parquet` (alpha, beta, loss).

use anyhow::{Result, bail};

use crate::config::ParamSpec;
use crate::engine::context::StageContext;
use crate::engine::kind::{ParamsExt, StageKind};
use crate::linalg::dense::{axpy, dot, norm};
use crate::linalg::pca::pca;
use crate::nn::backend::Precision;
use crate::nn::eval::evaluator;
use crate::nn::objective::HvpMethod;
use crate::plot::linspace;
use crate::table::TableBuilder;

use super::backend_of;
use super::spikes::picks;
use super::trained::Trained;

pub struct PcaLandscape;

impl StageKind for PcaLandscape {
    fn name(&self) -> &'static str {
        "pca_landscape"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "PCA of a window of checkpoints, the trajectory in the first two directions and the loss surface"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::int(
                "from",
                "first epoch of the window (default: the spike window of the `spikes` input)",
            )
            .range(0.0, 1e9)
            .optional(),
            ParamSpec::int("to", "last epoch of the window")
                .range(0.0, 1e9)
                .optional(),
            ParamSpec::int("stride", "use every k-th checkpoint of the window")
                .range(1.0, 1e9)
                .default(1i64),
            ParamSpec::int("grid", "surface resolution per axis")
                .range(2.0, 1000.0)
                .default(31i64),
            ParamSpec::float(
                "margin",
                "surface extent beyond the trajectory, as a fraction of its span",
            )
            .range(0.0, 100.0)
            .default(0.3),
            ParamSpec::choice(
                "dtype",
                &["f32", "f64"],
                "precision of the loss evaluations",
            )
            .default("f64"),
        ]
    }
    fn numeric(&self) -> bool {
        true
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let trained = Trained::from_roles(ctx, "train", "data")?;
        let window = match (p.opt_usize("from")?, p.opt_usize("to")?) {
            (Some(a), Some(b)) => (a, b),
            (None, None) => picks(ctx.input("spikes")?)?.window,
            _ => bail!(
                "give both `from` and `to`, or neither (then the window of the `spikes` input is used)"
            ),
        };
        let ck: Vec<(usize, Vec<f64>)> = trained
            .checkpoints()?
            .into_iter()
            .filter(|c| c.0 >= window.0 && c.0 <= window.1)
            .step_by(p.usize("stride")?.max(1))
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
        let precision = Precision::parse(p.str("dtype")?)?;
        let obj = trained.objective(precision);
        let eval = evaluator(backend_of(ctx)?, &obj, HvpMethod::Exact);
        let grid = p.usize("grid")?.max(2);
        let bar = ctx.progress((ck.len() * 2 + grid * grid) as u64, "loss evaluations");

        let (mut alpha, mut beta, mut off, mut loss, mut plane) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (_, theta) in &ck {
            let d: Vec<f64> = theta.iter().zip(&theta_t).map(|(a, b)| a - b).collect();
            let (a, b) = (dot(&d, e1), dot(&d, e2));
            let mut r = d.clone();
            axpy(-a, e1, &mut r);
            axpy(-b, e2, &mut r);
            alpha.push(a);
            beta.push(b);
            off.push(norm(&r));
            loss.push(eval.loss(theta)?);
            plane.push(eval.loss(&at(a, b))?);
            bar.inc(2);
        }
        let extent = |v: &[f64]| {
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let m = p.f64("margin").unwrap_or(0.3) * (hi - lo).max(1e-12);
            (lo - m, hi + m)
        };
        let ((a0, a1), (b0, b1)) = (extent(&alpha), extent(&beta));
        let (mut ga, mut gb, mut gl) = (vec![], vec![], vec![]);
        for &b in &linspace(b0, b1, grid) {
            for &a in &linspace(a0, a1, grid) {
                ga.push(a);
                gb.push(b);
                gl.push(eval.loss(&at(a, b))?);
                bar.inc(1);
            }
        }
        let k = pc.explained.len().min(10);
        ctx.write_table(
            "pca",
            &mut TableBuilder::new()
                .i64("component", (1..=k as i64).collect())
                .f64("explained", pc.explained[..k].to_vec())
                .build()?,
        )?;
        ctx.write_table(
            "trajectory",
            &mut TableBuilder::new()
                .i64("epoch", ck.iter().map(|c| c.0 as i64).collect())
                .f64("alpha", alpha)
                .f64("beta", beta)
                .f64("off_plane", off)
                .f64("loss", loss)
                .f64("plane_loss", plane)
                .build()?,
        )?;
        ctx.write_table(
            "surface",
            &mut TableBuilder::new()
                .f64("alpha", ga)
                .f64("beta", gb)
                .f64("loss", gl)
                .build()?,
        )
    }
}
