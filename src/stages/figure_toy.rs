//! `figure_toy`: the data of Fig 3.2(c, d): the toy model's loss and lambda_max against the step
//! with 2/lr, and the loss surface on a grid with the gradient-descent trajectory on it.

use anyhow::Result;

use crate::config::ParamSpec;
use crate::engine::context::StageContext;
use crate::engine::kind::{ParamsExt, StageKind};
use crate::nn::toy;
use crate::plot::{FigureData, linspace};
use crate::table::col_f64;

pub struct FigureToy;

impl StageKind for FigureToy {
    fn name(&self) -> &'static str {
        "figure_toy"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Fig 3.2(c, d): loss and lambda_max of the toy model with 2/lr, loss surface and trajectory"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::str("id", "figure id: published as outputs/figures/<id>.parquet")
                .default("fig3_2"),
            ParamSpec::floats("x_range", "surface extent in x").default(vec![-1.5, 1.0]),
            ParamSpec::floats("y_range", "surface extent in y").default(vec![-1.5, 1.5]),
            ParamSpec::int("grid", "surface resolution per axis").default(61i64),
        ]
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let train = ctx.input("train")?;
        let lr = train.params.f64("lr")?;
        let log = train.table("log")?;
        let step = col_f64(&log, "step")?;
        let loss = col_f64(&log, "loss")?;
        let lambda = col_f64(&log, "lambda_max")?;
        let x = col_f64(&log, "x")?;
        let y = col_f64(&log, "y")?;

        let mut fig = FigureData::new();
        fig.xy("c", "loss", &step, &loss);
        fig.xy("c", "lambda_max", &step, &lambda);
        fig.xy("c", "2/lr", &step, &vec![2.0 / lr; step.len()]);
        let (xr, yr, n) = (p.f64s("x_range")?, p.f64s("y_range")?, p.usize("grid")?);
        for &gy in &linspace(yr[0], yr[1], n) {
            for &gx in &linspace(xr[0], xr[1], n) {
                fig.push("d", "surface", gx, gy, Some(toy::loss(gx, gy)));
            }
        }
        fig.xyz("d", "trajectory", &x, &y, &loss);
        let id = p.str("id")?;
        crate::table::write_parquet(
            &ctx.publish_path(&format!("{id}.parquet"))?,
            &mut fig.to_frame()?,
        )
    }
}
