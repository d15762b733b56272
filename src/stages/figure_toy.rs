//! `figure_toy`: Fig 3.2(c, d): the toy model's loss and lambda_max against the step with 2/lr,
//! and the loss surface on a grid with the gradient-descent trajectory on it.

use anyhow::Result;

use crate::analysis::spikes;
use crate::config::ParamSpec;
use crate::engine::context::StageContext;
use crate::engine::kind::{ParamsExt, StageKind};
use crate::nn::toy;
use crate::plot::spec::{Axis, BLACK, GREY, Mark, Panel, RED, Series};
use crate::plot::{FigureData, linspace};
use crate::table::col_f64;

use super::figure::{self, Claim, Figure, publish};

pub struct FigureToy;

impl StageKind for FigureToy {
    fn name(&self) -> &'static str {
        "figure_toy"
    }
    fn version(&self) -> u32 {
        2
    }
    fn doc(&self) -> &'static str {
        "Fig 3.2(c, d): loss and lambda_max of the toy model with 2/lr, loss surface and trajectory"
    }
    fn params(&self) -> Vec<ParamSpec> {
        figure::params(
            "fig3_2",
            "Fig 3.2(c, d): the lower-loss-as-sharper toy model f(x, y) = (50x + 200)y^2 - x + 5",
            vec![
                ParamSpec::floats("x_range", "surface extent in x").default(vec![-1.5, 1.0]),
                ParamSpec::floats("y_range", "surface extent in y").default(vec![-1.5, 1.5]),
                ParamSpec::int("grid", "surface resolution per axis").default(61i64),
            ],
        )
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

        let mut data = FigureData::new();
        data.xy("c", "loss", &step, &loss);
        data.xy("c", "lambda_max", &step, &lambda);
        data.xy("c", "2/lr", &step, &vec![2.0 / lr; step.len()]);
        let (xr, yr, n) = (p.f64s("x_range")?, p.f64s("y_range")?, p.usize("grid")?);
        for &gy in &linspace(yr[0], yr[1], n) {
            for &gx in &linspace(xr[0], xr[1], n) {
                data.push("d", "surface", gx, gy, Some(toy::loss(gx, gy)));
            }
        }
        data.xyz("d", "trajectory", &x, &y, &step);

        let spec = figure::spec(
            ctx,
            2,
            vec![
                Panel::new(
                    "c",
                    "(c) loss and lambda_max",
                    Axis::lin("step"),
                    Axis::log("loss"),
                )
                .right_axis(Axis::lin("lambda_max"))
                .with(Series::new("loss", "loss", Mark::Line, BLACK))
                .with(Series::new("lambda_max", "lambda_max", Mark::Line, RED).right())
                .with(Series::new("2/lr", "2/lr", Mark::Dashed, GREY).right()),
                Panel::new(
                    "d",
                    "(d) loss surface and GD trajectory (colour: step)",
                    Axis::lin("x"),
                    Axis::lin("y"),
                )
                .with(Series::new("surface", "", Mark::Heat, BLACK))
                .with(Series::new("trajectory", "GD", Mark::PointsByZ, BLACK)),
            ],
        )?;
        let claims = vec![spike_claim(&loss, &lambda, lr)];
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

/// "A loss spike occurs, lambda_max exceeds 2/lr at its onset and falls below it after."
pub fn spike_claim(loss: &[f64], lambda: &[f64], lr: f64) -> Claim {
    let threshold = 2.0 / lr;
    let found = spikes::detect(loss, 10.0, 100, 2.0);
    let (supported, measured) = match found.first() {
        None => (
            false,
            "no epoch with a loss above 10x the lowest of the previous 100".to_string(),
        ),
        Some(s) => {
            let before = lambda[s.onset.saturating_sub(1)];
            let after = lambda[s.end];
            (
                before > threshold && after < threshold,
                format!(
                    "spike from step {} (loss {:.3}) to peak {:.3} at step {}, recovered at step {}; lambda_max {:.1} before the onset, {:.1} at recovery, 2/lr = {:.1}",
                    s.onset, s.pre_loss, s.peak_loss, s.peak, s.end, before, after, threshold
                ),
            )
        }
    };
    Claim::new(
        "spike_at_edge_of_stability",
        "A loss spike occurs when lambda_max exceeds 2/lr, and lambda_max falls below 2/lr as the loss comes back down.",
        "a spike (loss > 10x the lowest of the previous 100 steps) exists; lambda_max > 2/lr the step before its onset and < 2/lr at its end",
        supported,
        measured,
    )
}
