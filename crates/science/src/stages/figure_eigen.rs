//! Figures of Sec 4: `figure_removal` (Fig 4.1: the test loss after removing the difference
//! between theta_test and theta_train along the first i eigendirections, and the output change
//! along the first nine) and `figure_projection` (Fig 4.2: projections of a parameter difference
//! on the Hessian eigenvectors with the cumulative lambda^2 ratio; one panel per input).

use anyhow::Result;

use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLUE, Mark, ORANGE, Panel, Series};
use spike_config::{ANY_ROLE, InputSpec};
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;

use crate::claims::sec4::{
    Fits, Projections, batch_claim, growth_claim, removal_claim, top_directions_low_frequency_claim,
};

use super::eigen::{DirectionLfp, DirectionTable, ProjectionTable, RemovalTable};
use super::figure::{Figure, FigureParams};

fn projections(input: &Input) -> Result<Projections> {
    let t: ProjectionTable = input.read()?;
    Ok(Projections {
        index: t.index.into_iter().map(|i| i as f64).collect(),
        abs: t.abs_projection,
        cum: t.cum_lambda2,
    })
}

pub(crate) struct FigureRemoval;

crate::figure_params! {
    id: "fig4_1",
    title: "Fig 4.1: two-layer tanh NN, width 500",
    pub(crate) struct FigureRemovalParams {}
}

impl Kind for FigureRemoval {
    const NAME: &'static str = "figure_removal";
    const VERSION: u32 = 3;
    const DOC: &'static str = "Fig 4.1: test loss after removing the train/test difference along the top eigendirections, output changes along them";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one("projection", &["eigen_projection"])];
    type Params = FigureRemovalParams;
    type Output = Figure;

    fn run(&self, p: &FigureRemovalParams, ctx: &mut StageContext) -> Result<Figure> {
        let proj = ctx.input("projection")?;
        let removal: RemovalTable = proj.read()?;
        let i: Vec<f64> = removal.i.iter().map(|&i| i as f64).collect();
        let loss = removal.test_loss;
        let pr = projections(proj)?;
        let mut data = FigureData::new();
        data.xy("a", "test_loss", &i, &loss);
        let DirectionTable {
            direction: d,
            x,
            delta,
        } = proj.read()?;
        let DirectionLfp {
            lfp: lfps,
            eigenvalue: eig,
            ..
        } = proj.read()?;
        let nd = lfps.len();
        let mut panels = vec![
            Panel::new(
                "a",
                "(a) test loss L(i) after removing the difference along the first i directions",
                Axis::lin("eigen-index i"),
                Axis::lin("test loss"),
            )
            .with(Series::new("test_loss", "L(i)", Mark::Line, BLUE)),
        ];
        for k in 1..=nd {
            let name = format!("b{k}");
            let (xs, ys): (Vec<f64>, Vec<f64>) = d
                .iter()
                .zip(x.iter().zip(&delta))
                .filter(|(dd, _)| **dd == k as i64)
                .map(|(_, (a, b))| (*a, *b))
                .unzip();
            data.xy(&name, "delta", &xs, &ys);
            panels.push(
                Panel::new(
                    &name,
                    &format!(
                        "(b) direction {k}: lambda = {:.3e}, LFP = {:.2}",
                        eig[k - 1],
                        lfps[k - 1]
                    ),
                    Axis::lin("x"),
                    Axis::lin("output change"),
                )
                .with(Series::new("delta", "", Mark::Line, ORANGE)),
            );
        }

        let claims = vec![
            removal_claim(&i, &loss, &pr.cum),
            top_directions_low_frequency_claim(&lfps),
        ];
        Ok(Figure {
            tables: vec![],
            spec: p.spec(5, panels),
            data,
            claims,
            notes: vec![],
        })
    }
}

pub(crate) struct FigureProjection;

crate::figure_params! {
    id: "fig4_2",
    title: "Fig 4.2: projections on the Hessian eigendirections",
    pub(crate) struct FigureProjectionParams {
        /// panel titles, one per input role in role order
        pub titles: Vec<String> = Vec::new(),
        /// roles whose claim is the batch-size one (Fig 4.2(d))
        pub batch_panels: Vec<String> = Vec::new(),
        /// plot and test the first N eigendirections of each input, as the paper's first N by
        /// Lanczos (0: all)
        pub directions: usize = 0; range(0.0, 1e9),
    }
}

impl Kind for FigureProjection {
    const NAME: &'static str = "figure_projection";
    const VERSION: u32 = 4;
    const DOC: &'static str = "Fig 4.2: projections of parameter differences on Hessian eigenvectors and the cumulative lambda^2 ratio";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one(ANY_ROLE, &["eigen_projection"])];
    type Params = FigureProjectionParams;
    type Output = Figure;

    fn run(&self, p: &FigureProjectionParams, ctx: &mut StageContext) -> Result<Figure> {
        let (titles, batch) = (&p.titles, &p.batch_panels);
        let mut data = FigureData::new();
        let mut panels = Vec::new();
        let mut claims = Vec::new();
        let roles: Vec<String> = ctx.roles().map(str::to_string).collect();
        let first = p.directions;
        for (n, role) in roles.iter().enumerate() {
            let pr = projections(ctx.input(role)?)?.first(first);
            data.xy(role, "projection", &pr.index, &pr.abs);
            data.xy(role, "cum_lambda2", &pr.index, &pr.cum);
            let title = titles
                .get(n)
                .cloned()
                .unwrap_or_else(|| format!("({role})"));
            panels.push(
                Panel::new(
                    role,
                    &title,
                    Axis::lin("eigen-index i"),
                    Axis::lin("|projection|"),
                )
                .right_axis(Axis::lin("sum_{j<=i} lambda_j^2 / sum lambda^2"))
                .with(Series::new("projection", "|projection|", Mark::Bars, BLUE))
                .with(
                    Series::new(
                        "cum_lambda2",
                        "cumulative lambda^2 ratio",
                        Mark::Line,
                        ORANGE,
                    )
                    .right(),
                ),
            );
            let input = ctx.input(role)?;
            let fits: Fits = serde_json::from_value(input.read_json("fit.json")?)?;
            claims.push(if batch.contains(role) {
                batch_claim(role, &pr, &fits)
            } else {
                growth_claim(role, &pr, &fits.base)
            });
        }
        Ok(Figure {
            tables: vec![],
            spec: p.spec(roles.len().min(4), panels),
            data,
            claims,
            notes: vec![],
        })
    }
}
