//! `figure_toy`: Fig 3.2(c, d): the toy model's loss and lambda_max against the step with 2/lr,
//! and the loss surface on a grid with the gradient-descent trajectory on it.

use anyhow::Result;

use crate::claims::sec3::{sharp_then_flat_claim, spike_claim};
use crate::plot::spec::{Axis, BLACK, GREY, Mark, Panel, RED, Series};
use crate::plot::{FigureData, linspace};
use spike_config::InputSpec;
use spike_engine::context::StageContext;
use spike_engine::kind::Kind;
use spike_nn::toy;

use super::figure::{Figure, FigureParams};
use super::train_toy::{ToyLog, TrainToyParams};

pub(crate) struct FigureToy;

crate::figure_params! {
    id: "fig3_2",
    title: "Fig 3.2(c, d): the lower-loss-as-sharper toy model f(x, y) = (50x + 200)y^2 - x + 5",
    pub(crate) struct FigureToyParams {
        /// surface extent in x
        pub x_range: Vec<f64> = vec![-1.5, 1.0]; len(2, 2),
        /// surface extent in y
        pub y_range: Vec<f64> = vec![-1.5, 1.5]; len(2, 2),
        /// surface resolution per axis
        pub grid: usize = 61; range(2.0, 2000.0),
    }
}

impl Kind for FigureToy {
    const NAME: &'static str = "figure_toy";
    const VERSION: u32 = 5;
    const DOC: &'static str = "Fig 3.2(c, d): loss and lambda_max of the toy model with 2/lr, loss surface and trajectory";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one("train", &["train_toy"])];
    type Params = FigureToyParams;
    type Output = Figure;

    fn run(&self, p: &FigureToyParams, ctx: &mut StageContext) -> Result<Figure> {
        let train = ctx.input("train")?;
        let lr = train.params::<TrainToyParams>()?.lr;
        let ToyLog {
            step,
            loss,
            x,
            y,
            lambda_max: lambda,
        } = train.read()?;
        let step: Vec<f64> = step.into_iter().map(|s| s as f64).collect();

        let mut data = FigureData::new();
        data.xy("c", "loss", &step, &loss);
        data.xy("c", "lambda_max", &step, &lambda);
        data.xy("c", "2/lr", &step, &vec![2.0 / lr; step.len()]);
        let (xr, yr, n) = (&p.x_range, &p.y_range, p.grid);
        if xr[0] >= xr[1] || yr[0] >= yr[1] {
            anyhow::bail!(
                "`x_range` and `y_range` must be [a, b] with a < b, got {xr:?} and {yr:?}"
            );
        }
        for &gy in &linspace(yr[0], yr[1], n) {
            for &gx in &linspace(xr[0], xr[1], n) {
                data.push("d", "surface", gx, gy, Some(toy::loss(gx, gy)));
            }
        }
        data.xyz("d", "trajectory", &x, &y, &step);

        let spec = p.spec(
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
        );
        Ok(Figure {
            tables: vec![],
            spec,
            data,
            claims: vec![
                spike_claim(&loss, &lambda, lr),
                sharp_then_flat_claim(&loss, &x),
            ],
            notes: vec![],
        })
    }
}
