//! `sharpness`: lambda_max at the checkpoints of a spike's window (Fig 3.1(b, e)), each Lanczos
//! run warm-started from the previous eigenvector.
//!
//! Artifact: `sharpness.parquet` (epoch, lambda_max, residual, matvecs) and `meta.json` (the HVP
//! method).

use anyhow::Result;

use crate::config::ParamSpec;
use crate::engine::context::StageContext;
use crate::engine::kind::{ParamsExt, StageKind};
use crate::linalg::lanczos::lanczos;
use crate::nn::eval::evaluator;
use crate::table::TableBuilder;

use super::backend_of;
use super::hessian::{self, Settings};
use super::spikes::picks;
use super::trained::Trained;

pub struct Sharpness;

impl StageKind for Sharpness {
    fn name(&self) -> &'static str {
        "sharpness"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "lambda_max at the checkpoints of a spike's window"
    }
    fn params(&self) -> Vec<ParamSpec> {
        let mut v = vec![
            ParamSpec::int("stride", "use every k-th checkpoint of the window")
                .range(1.0, 1e9)
                .default(1i64),
        ];
        v.extend(hessian::params());
        v
    }
    fn numeric(&self) -> bool {
        true
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let trained = Trained::from_roles(ctx, "train", "data")?;
        let picks = picks(ctx.input("spikes")?)?;
        let settings = Settings::from(p)?;
        let obj = trained.objective(settings.precision);
        let eval = evaluator(backend_of(ctx)?, &obj, settings.method);
        let stride = p.usize("stride")?.max(1);
        let chosen: Vec<(usize, Vec<f64>)> = trained
            .checkpoints()?
            .into_iter()
            .filter(|c| c.0 >= picks.window.0 && c.0 <= picks.window.1)
            .step_by(stride)
            .map(|c| (c.0, c.2))
            .collect();
        let bar = ctx.progress(chosen.len() as u64, "checkpoints");
        let mut warm: Option<Vec<f64>> = None;
        let (mut epochs, mut values, mut residuals, mut matvecs) = (vec![], vec![], vec![], vec![]);
        for (epoch, theta) in &chosen {
            let e = lanczos(
                theta.len(),
                &mut |v| eval.hvp(theta, v),
                &settings.lanczos(1),
                warm.as_deref(),
            )?;
            epochs.push(*epoch as i64);
            values.push(e.values[0]);
            residuals.push(e.residuals[0]);
            matvecs.push(e.matvecs as i64);
            warm = e.vectors.into_iter().next();
            bar.inc(1);
        }
        let mut t = TableBuilder::new()
            .i64("epoch", epochs)
            .f64("lambda_max", values)
            .f64("residual", residuals)
            .i64("matvecs", matvecs)
            .build()?;
        ctx.write_table("sharpness", &mut t)?;
        ctx.write_json(
            "meta.json",
            &serde_json::json!({ "hvp_method": settings.method.name() }),
        )
    }
}
