//! `figure_atlas`: the spike atlas. Every `runs` input is one cell (a learning rate, width, init
//! scale, activation and seed of a two-layer net on a 1-D target), classified from its own log
//! (`analysis::atlas`); the figure draws, per (activation, target, init gamma), the phase diagram
//! over learning rate x width coloured by class, one dot per seed, and the same cells against
//! eta * lambda_0 / 2 with the lines of the theory; `<id>.cells.parquet` has one row per cell;
//! the claims (`claims::atlas`) test the paper's sentences over every cell and seed.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;
use spike_engine::table::Table;

use super::dataset_1d::Dataset1dParams;
use super::figure::{Figure, FigureParams};
use super::figure_condensation::{Lens, Variance, cond_of};
use super::train::TrainParams;
use super::trained::{diverged_at, read_log};
use crate::analysis::atlas::{Cell, Class, Run, classify};
use crate::claims::atlas::{Scored, condensation_claim, edge_claim};
use crate::claims::readings::Angle;
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLACK, BLUE, GREEN, GREY, Mark, ORANGE, PURPLE, Panel, RED, Series};

pub(crate) struct FigureAtlas;

crate::figure_params! {
    id: "atlas",
    applies: ["angle", "spike_factor"],
    tables: ["cells"],
    pooled_seeds: true,
    title: "Spike atlas",
    pub(crate) struct FigureAtlasParams {}
}

spike_engine::table_schema! {
    /// One row per cell of the atlas (`<id>.cells.parquet`): the cells of the default readings
    /// (of the `loss` reading's default where both were run), classified by the default spike
    /// rule.
    pub(crate) struct AtlasCells in "cells" {
        pub stage: Vec<String>,
        pub activation: Vec<String>,
        pub target: Vec<String>,
        /// The loss (the `loss` reading of the paper's "MSE").
        pub loss: Vec<String>,
        pub optimizer: Vec<String>,
        pub width: Vec<i64>,
        pub init_gamma: Vec<f64>,
        pub lr: Vec<f64>,
        pub seed: Vec<i64>,
        /// lambda_max at initialisation.
        pub lambda_0: Vec<Option<f64>>,
        /// lambda_0 over the optimiser's edge: eta * lambda_0 / 2 under GD (1 is
        /// eta = 2 / lambda_0).
        pub lr_normalised: Vec<Option<f64>>,
        pub class: Vec<String>,
        pub spikes: Vec<i64>,
        pub spikes_at_edge: Vec<i64>,
        /// The largest loss rise the spike rule compares with its factor.
        pub largest_factor: Vec<Option<f64>>,
        pub first_spike_epoch: Vec<Option<i64>>,
        /// lambda_max over the edge at the last measurement (lambda_max * eta / 2 under GD; the
        /// optimiser's own measure and threshold otherwise).
        pub edge_ratio_end: Vec<Option<f64>>,
        /// Final condensed variance, Definition 5.2 as printed (theta = arctan(b/w)).
        pub v_cond: Vec<f64>,
        /// ... with the two-argument angle.
        pub v_cond_circular: Vec<f64>,
        pub final_loss: Vec<f64>,
        pub diverged_at: Vec<Option<i64>>,
    }
}

/// One cell: where it stands in the atlas and what it did.
struct Row {
    stage: String,
    activation: String,
    target: String,
    loss: String,
    optimizer: String,
    width: usize,
    gamma: f64,
    lr: f64,
    /// The optimiser's edge of stability (2/eta under GD).
    edge: f64,
    seed: u64,
    cell: Cell,
    /// Final (V_cond as printed, V_cond with the two-argument angle).
    v: (f64, f64),
    diverged_at: Option<usize>,
}

impl Row {
    /// The (activation, target, init gamma, optimiser) of its phase diagram.
    fn diagram(&self) -> String {
        format!(
            "{} net, target {}, init gamma {}, {}",
            self.activation, self.target, self.gamma, self.optimizer
        )
    }
}

impl Kind for FigureAtlas {
    const NAME: &'static str = "figure_atlas";
    const VERSION: u32 = 1;
    const DOC: &'static str = "The spike atlas: every run classified (stable below the edge, edge of stability without spike, spike at the edge, spike below it, catapult, diverged), phase diagrams over learning rate x width and eta*lambda_0/2, one row per cell in <id>.cells.parquet, and the paper's sentences tested over all cells and seeds";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::many("runs", &["train"]),
        InputSpec::many("cond", &["condensation"]),
        InputSpec::many("data", &["dataset_1d"]),
    ];
    type Params = FigureAtlasParams;
    type Output = Figure;

    fn run(&self, p: &FigureAtlasParams, ctx: &mut StageContext) -> Result<Figure> {
        let lens = Lens::of(ctx)?;
        let rows = read_rows(ctx, &lens)?;
        let scored: Vec<Scored> = rows
            .iter()
            .map(|r| Scored {
                cell: &r.cell,
                lr: r.lr,
                seed: r.seed,
                group: format!("{}, width {}, seed {}", r.diagram(), r.width, r.seed),
                v: match lens.angle {
                    Angle::ArctanRatio => r.v.0,
                    Angle::TwoArgument => r.v.1,
                },
            })
            .collect();
        let claims = vec![edge_claim(&scored), condensation_claim(&scored)];
        let (data, panels, mut notes) = draw(&rows);
        notes.push(format!(
            "one row per cell, with every number behind its class: {}.cells.parquet",
            p.id
        ));
        Ok(Figure {
            spec: p.spec(2, panels),
            data,
            claims,
            notes,
            tables: vec![("cells", table(&rows).to_frame()?)],
        })
    }
}

/// Every run with its target, its final condensed variance and its class under `lens`.
fn read_rows(ctx: &StageContext, lens: &Lens) -> Result<Vec<Row>> {
    let targets: BTreeMap<&str, String> = ctx
        .inputs("data")?
        .iter()
        .map(|d| {
            let p: Dataset1dParams = d.params()?;
            Ok((d.key.as_str(), p.target.as_str().to_string()))
        })
        .collect::<Result<_>>()?;
    let conds = ctx.inputs("cond")?;
    let mut rows = Vec::new();
    for run in ctx.inputs("runs")? {
        let p: TrainParams = run.params()?;
        let log = read_log(run)?;
        if log.lambda.is_empty() {
            bail!(
                "`{}` tracked no lambda_max: the atlas classifies by it (set sharpness_every)",
                run.stage
            );
        }
        let diverged = diverged_at(run)?;
        let cell = classify(
            &Run {
                epoch: &log.epoch,
                loss: &log.loss,
                lambda: &log.lambda,
                edge: log.edge.value,
                diverged_at: diverged,
            },
            &lens.rule,
        );
        rows.push(Row {
            stage: run.stage.clone(),
            activation: p.model.activation.as_str().to_string(),
            target: target_of(run, &targets)?,
            loss: p.model.loss.as_str().to_string(),
            optimizer: p.optimizer.as_str().to_string(),
            width: p.model.width,
            gamma: p.model.init_gamma,
            lr: p.lr,
            edge: log.edge.value,
            seed: p.model.seed,
            cell,
            v: Variance::read(cond_of(conds, run)?)?.last()?,
            diverged_at: diverged,
        });
    }
    Ok(rows)
}

fn target_of(run: &Input, targets: &BTreeMap<&str, String>) -> Result<String> {
    run.inputs
        .get("data")
        .and_then(|k| k.first())
        .and_then(|k| targets.get(k.as_str()))
        .cloned()
        .with_context(|| {
            format!(
                "the dataset `{}` was trained on is not among the `data` inputs",
                run.stage
            )
        })
}

fn table(rows: &[Row]) -> AtlasCells {
    let opt = |v: Option<usize>| v.map(|e| e as i64);
    AtlasCells {
        stage: rows.iter().map(|r| r.stage.clone()).collect(),
        activation: rows.iter().map(|r| r.activation.clone()).collect(),
        target: rows.iter().map(|r| r.target.clone()).collect(),
        loss: rows.iter().map(|r| r.loss.clone()).collect(),
        optimizer: rows.iter().map(|r| r.optimizer.clone()).collect(),
        width: rows.iter().map(|r| r.width as i64).collect(),
        init_gamma: rows.iter().map(|r| r.gamma).collect(),
        lr: rows.iter().map(|r| r.lr).collect(),
        seed: rows.iter().map(|r| r.seed as i64).collect(),
        lambda_0: rows.iter().map(|r| r.cell.lambda_0).collect(),
        lr_normalised: rows.iter().map(normalised).collect(),
        class: rows
            .iter()
            .map(|r| r.cell.class.as_str().to_string())
            .collect(),
        spikes: rows.iter().map(|r| r.cell.spikes as i64).collect(),
        spikes_at_edge: rows.iter().map(|r| r.cell.spikes_at_edge as i64).collect(),
        largest_factor: rows.iter().map(|r| r.cell.largest_factor).collect(),
        first_spike_epoch: rows.iter().map(|r| opt(r.cell.first_spike_epoch)).collect(),
        edge_ratio_end: rows.iter().map(|r| r.cell.edge_ratio_end).collect(),
        v_cond: rows.iter().map(|r| r.v.0).collect(),
        v_cond_circular: rows.iter().map(|r| r.v.1).collect(),
        final_loss: rows.iter().map(|r| r.cell.final_loss).collect(),
        diverged_at: rows.iter().map(|r| opt(r.diverged_at)).collect(),
    }
}

/// lambda_0 over the edge: eta * lambda_0 / 2 under GD.
fn normalised(r: &Row) -> Option<f64> {
    r.cell.lambda_0.map(|l| l / r.edge)
}

fn colour(class: Class) -> [u8; 3] {
    match class {
        Class::StableBelowEdge => BLUE,
        Class::EdgeWithoutSpike => GREEN,
        Class::SpikeAtEdge => RED,
        Class::SpikeBelowEdge => ORANGE,
        Class::Catapult => PURPLE,
        Class::Diverged => GREY,
    }
}

/// Two panels per phase diagram: learning rate x width (the seeds of a cell side by side) and
/// eta * lambda_0 / 2 x width with the lines eta = 2/lambda_0 and 4/lambda_0; and the notes
/// counting each class.
fn draw(rows: &[Row]) -> (FigureData, Vec<Panel>, Vec<String>) {
    let mut diagrams: Vec<String> = rows.iter().map(Row::diagram).collect();
    diagrams.sort();
    diagrams.dedup();
    let mut seeds: Vec<u64> = rows.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let offset = |seed: u64| {
        let k = seeds.iter().position(|&s| s == seed).unwrap_or(0) as f64;
        1.08f64.powf(k - (seeds.len() as f64 - 1.0) / 2.0)
    };
    let mut data = FigureData::new();
    let mut panels = Vec::new();
    let mut notes = vec![
        format!(
            "one dot per seed ({} seeds), side by side within a cell in the learning-rate panels; classes under the default readings",
            seeds.len()
        ),
        "lines of the right-hand panels: lambda_0 = edge, eta = 2/lambda_0 under GD (lazy | catapult), and lambda_0 = 2 x edge, eta = 4/lambda_0 under GD (catapult | divergence, Lewkowycz et al. 2020)".to_string(),
    ];
    for (i, diagram) in diagrams.iter().enumerate() {
        let of: Vec<&Row> = rows.iter().filter(|r| r.diagram() == *diagram).collect();
        let (phase, scaled) = (format!("{i}a"), format!("{i}b"));
        let mut by_lr = Panel::new(
            &phase,
            &format!("{diagram}: class by learning rate and width"),
            Axis::log("learning rate eta"),
            Axis::log("width m"),
        );
        let mut by_lambda = Panel::new(
            &scaled,
            &format!("{diagram}: against lambda_0 / edge"),
            Axis::log("lambda_0 / edge (GD: eta lambda_0 / 2; lambda_0 at initialisation)"),
            Axis::log("width m"),
        );
        let mut counts = Vec::new();
        for class in Class::ALL {
            let cells: Vec<&&Row> = of.iter().filter(|r| r.cell.class == class).collect();
            if cells.is_empty() {
                continue;
            }
            counts.push(format!("{} {}", class.as_str(), cells.len()));
            let label = format!("{} ({} runs)", class.as_str(), cells.len());
            for r in &cells {
                data.push(
                    &phase,
                    class.as_str(),
                    r.lr * offset(r.seed),
                    r.width as f64,
                    Some(r.seed as f64),
                );
                if let Some(x) = normalised(r) {
                    data.push(
                        &scaled,
                        class.as_str(),
                        x,
                        r.width as f64,
                        Some(r.seed as f64),
                    );
                }
            }
            by_lr = by_lr.with(Series::new(
                class.as_str(),
                &label,
                Mark::Points,
                colour(class),
            ));
            by_lambda =
                by_lambda.with(Series::new(class.as_str(), "", Mark::Points, colour(class)));
        }
        let widths = of.iter().map(|r| r.width as f64);
        let span = [
            widths.clone().fold(f64::INFINITY, f64::min),
            widths.fold(f64::NEG_INFINITY, f64::max),
        ];
        for (x, name, label, c) in [
            (
                1.0,
                "eta_2_over_lambda_0",
                "x = 1 (GD: lazy | catapult)",
                BLACK,
            ),
            (
                2.0,
                "eta_4_over_lambda_0",
                "x = 2 (GD: catapult | diverging)",
                GREY,
            ),
        ] {
            data.xy(&scaled, name, &[x, x], &span);
            by_lambda = by_lambda.with(Series::new(name, label, Mark::Dashed, c));
        }
        notes.push(format!(
            "{diagram}: {} runs: {}",
            of.len(),
            counts.join(", ")
        ));
        panels.push(by_lr);
        panels.push(by_lambda);
    }
    (data, panels, notes)
}
