//! `sharpness`: lambda_max at the checkpoints of a spike's window (Fig 3.1(b, e)), each Lanczos
//! run warm-started from the previous eigenvector. When the `spikes` input picked no spike, the
//! table is empty.
//!
//! Artifact: `sharpness.parquet` (epoch, lambda_max, residual, matvecs) and `meta.json` (the HVP
//! method).

use anyhow::Result;

use spike_config::InputSpec;
use spike_engine::context::StageContext;
use spike_engine::kind::Kind;
use spike_nn::eval::evaluator;
use spike_nn::linalg::lanczos::lanczos;

use super::DATASETS;
use super::backend_of;
use super::hessian::HessianParams;
use super::spikes::picks;
use super::trained::Trained;

pub struct Sharpness;

spike_config::stage_params! {
    pub struct SharpnessParams [hessian: HessianParams] {
        /// use every k-th checkpoint of the window
        pub stride: usize = 1; range(1.0, 1e9),
    }
}

spike_engine::table_schema! {
    /// lambda_max at the checkpoints of a spike's window.
    pub(crate) struct SharpnessTable in "sharpness" {
        pub epoch: Vec<i64>,
        pub lambda_max: Vec<f64>,
        /// Relative Ritz residual.
        pub residual: Vec<f64>,
        /// Hessian-vector products used.
        pub matvecs: Vec<i64>,
    }
}

impl Kind for Sharpness {
    const NAME: &'static str = "sharpness";
    const VERSION: u32 = 1;
    const DOC: &'static str = "lambda_max at the checkpoints of a spike's window";
    const NUMERIC: bool = true;
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("train", &["train"]),
        InputSpec::one("data", DATASETS),
        InputSpec::one("spikes", &["spikes"]),
    ];
    type Params = SharpnessParams;
    type Output = ();

    fn run(&self, p: &SharpnessParams, ctx: &mut StageContext) -> Result<()> {
        let trained = Trained::from_roles(ctx, "train", "data")?;
        let window = picks(ctx.input("spikes")?)?.map(|p| p.window);
        let settings = &p.hessian;
        let obj = trained.objective(settings.hessian_dtype);
        let eval = evaluator(backend_of(ctx)?, obj, settings.method());
        let stride = p.stride.max(1);
        let chosen: Vec<(usize, Vec<f64>)> = trained
            .checkpoints()?
            .into_iter()
            .filter(|c| window.is_some_and(|(a, b)| c.0 >= a && c.0 <= b))
            .step_by(stride)
            .map(|c| (c.0, c.2))
            .collect();
        let bar = ctx.progress(chosen.len() as u64, "checkpoints");
        let mut warm: Option<Vec<f64>> = None;
        let mut t = SharpnessTable::default();
        for (epoch, theta) in &chosen {
            let e = lanczos(
                theta.len(),
                &mut *eval.hessian_at(theta),
                &settings.lanczos(1),
                warm.as_deref(),
            )?;
            t.epoch.push(*epoch as i64);
            t.lambda_max.push(e.values[0]);
            t.residual.push(e.residuals[0]);
            t.matvecs.push(e.matvecs as i64);
            warm = e.vectors.into_iter().next();
            bar.inc(1);
        }
        ctx.write(&t)?;
        ctx.write_json(
            "meta.json",
            &serde_json::json!({ "hvp_method": settings.method().name() }),
        )
    }
}
