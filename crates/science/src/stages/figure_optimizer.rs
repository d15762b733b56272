//! `figure_optimizer`: training runs under their own optimiser, each against its own edge of
//! stability: the loss, the optimiser's stability measure with its threshold (Adam's
//! preconditioned sharpness against (2 + 2 beta1)/((1 - beta1) eta), ...) and, where the
//! measure is not lambda_max, the raw lambda_max with GD's 2/eta for contrast; every spike
//! classified against the matched line. Claims: Cohen et al. 2022's equilibrium for Adam runs,
//! and the seed paper's "spikes occur at the EoS stage" with the matched threshold.

use anyhow::Result;
use spike_config::InputSpec;
use spike_engine::context::StageContext;
use spike_engine::kind::Kind;

use super::figure::{Figure, FigureParams};
use super::figure_condensation::Lens;
use super::train::{OptimizerName, TrainLog, TrainParams};
use super::trained::{Log, read_log};
use crate::analysis::spikes::{Event, classify};
use crate::claims::optim::equilibrium_claim;
use crate::claims::sec3::EOS_QUOTE;
use crate::claims::{Claim, Verdict};
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLACK, GREY, Mark, ORANGE, Panel, RED, Series};

pub(crate) struct FigureOptimizer;

crate::figure_params! {
    id: "adam_tanh",
    applies: ["spike_factor"],
    title: "Training at the optimiser's own edge of stability",
    pub(crate) struct FigureOptimizerParams {}
}

impl Kind for FigureOptimizer {
    const NAME: &'static str = "figure_optimizer";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Runs under momentum or Adam against their own edge of stability: loss, the optimiser's stability measure with its threshold (and lambda_max with 2/eta for contrast), spikes classified against the matched line; Cohen et al. 2022's equilibrium claim for Adam";
    const INPUTS: &'static [InputSpec] = &[InputSpec::many("runs", &["train"])];
    type Params = FigureOptimizerParams;
    type Output = Figure;

    fn run(&self, p: &FigureOptimizerParams, ctx: &mut StageContext) -> Result<Figure> {
        let rule = Lens::of(ctx)?.rule;
        let mut data = FigureData::new();
        let (mut panels, mut claims, mut notes) = (Vec::new(), Vec::new(), Vec::new());
        let runs = ctx.inputs("runs")?;
        for (i, run) in runs.iter().enumerate() {
            let params: TrainParams = run.params()?;
            let log = read_log(run)?;
            let name = ((b'a' + (i % 26) as u8) as char).to_string();
            let title = format!(
                "({name}) {}, lr {}: loss and {}",
                params.optimizer.as_str(),
                params.lr,
                log.edge.measure
            );
            panels.push(draw(
                &mut data,
                &name,
                &title,
                &log,
                &raw_lambda(run, &log)?,
                params.lr,
            ));
            // With several runs each claim says whose it is.
            let prefix = if runs.len() > 1 {
                format!("{name}: ")
            } else {
                String::new()
            };
            if params.optimizer == OptimizerName::Adam {
                let mut c = equilibrium_claim(&log.lambda, log.edge.value);
                c.id = format!("{prefix}{}", c.id);
                claims.push(c);
            }
            let (mut c, note) = spikes_at_edge(&log, &rule);
            c.id = format!("{prefix}{}", c.id);
            claims.push(c);
            notes.push(format!("{prefix}{note}"));
        }
        Ok(Figure {
            spec: p.spec(1, panels),
            data,
            claims,
            notes,
            tables: vec![],
        })
    }
}

/// lambda_max of the raw Hessian where the run's measure is another (`None` otherwise).
fn raw_lambda(run: &spike_engine::context::Input, log: &Log) -> Result<Vec<(usize, f64)>> {
    if !log.edge.stability_column {
        return Ok(vec![]);
    }
    let t: TrainLog = run.read()?;
    Ok(t.epoch
        .iter()
        .zip(&t.lambda_max)
        .filter_map(|(&e, l)| l.map(|l| (e as usize, l)))
        .collect())
}

fn draw(
    data: &mut FigureData,
    name: &str,
    title: &str,
    log: &Log,
    raw: &[(usize, f64)],
    lr: f64,
) -> Panel {
    let epochs: Vec<f64> = log.epoch.iter().map(|&e| e as f64).collect();
    data.xy(name, "loss", &epochs, &log.loss);
    let (me, mv): (Vec<f64>, Vec<f64>) = log.lambda.iter().map(|&(e, l)| (e as f64, l)).unzip();
    data.xy(name, "measure", &me, &mv);
    let ends = [0.0, epochs.last().copied().unwrap_or(0.0)];
    data.xy(name, "threshold", &ends, &[log.edge.value; 2]);
    let mut panel = Panel::new(name, title, Axis::lin("epoch"), Axis::log("loss"))
        .right_axis(Axis::log("sharpness"))
        .with(Series::new("loss", "loss", Mark::Line, BLACK))
        .with(Series::new("measure", log.edge.measure, Mark::Points, RED).right())
        .with(Series::new("threshold", log.edge.name, Mark::Dashed, RED).right());
    if !raw.is_empty() {
        let (re, rv): (Vec<f64>, Vec<f64>) = raw.iter().map(|&(e, l)| (e as f64, l)).unzip();
        data.xy(name, "lambda_max", &re, &rv);
        data.xy(name, "2/eta", &ends, &[2.0 / lr; 2]);
        panel = panel
            .with(
                Series::new(
                    "lambda_max",
                    "lambda_max (raw Hessian)",
                    Mark::Points,
                    ORANGE,
                )
                .right(),
            )
            .with(Series::new("2/eta", "2/eta (GD's line)", Mark::Dashed, GREY).right());
    }
    panel
}

const SPIKES_ID: &str = "spikes_at_the_optimizers_edge";

/// "The loss spikes occur at the EoS stage", with the optimiser's own measure and line: every
/// spike by `rule` classified as Fig 3.1(d-i)'s are; supported when more than half of those with
/// a measurement before them are at the edge (or from a sharp start), not reproduced when there
/// is no spike.
fn spikes_at_edge(log: &Log, rule: &crate::analysis::spikes::Rule) -> (Claim, String) {
    let criterion = format!(
        "every loss spike ({rule}) classified by the optimiser's own measure against its own threshold ({}): more than half of those with a measurement up to their onset are at the edge (last measurement up to the onset >= {:.2} x the threshold after a measurement below it) or from a sharp start",
        log.edge.name,
        1.0 - crate::analysis::spikes::EDGE_TOLERANCE
    );
    let events: Vec<Event> = rule
        .detect(&log.loss)
        .iter()
        .map(|s| classify(log.epoch[s.onset], &log.lambda, log.edge.value))
        .collect();
    let count = |e: Event| events.iter().filter(|&&x| x == e).count();
    let (edge, sharp, below) = (
        count(Event::EdgeOfStability),
        count(Event::Catapult),
        count(Event::BelowEdge),
    );
    let measured = edge + sharp + below;
    let note = format!(
        "{} spikes against {} = {:.3}: {edge} at the edge, {sharp} from a sharp start, {below} below it, {} unmeasured",
        events.len(),
        log.edge.name,
        log.edge.value,
        count(Event::Unmeasured)
    );
    if measured == 0 {
        return (
            Claim::not_reproduced(SPIKES_ID, EOS_QUOTE, &criterion, note.clone()),
            note,
        );
    }
    let claim = Claim::new(
        SPIKES_ID,
        EOS_QUOTE,
        &criterion,
        2 * (edge + sharp) > measured,
        note.clone(),
    )
    .margin(format!(
        "{} of {measured} at the edge or from a sharp start (needs more than half)",
        edge + sharp
    ));
    debug_assert!(claim.verdict != Verdict::NotTested);
    (claim, note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::spikes::PAPER_RULE;
    use crate::stages::train::Edge;

    fn log(loss: Vec<f64>, lambda: Vec<(usize, f64)>) -> Log {
        Log {
            epoch: (0..loss.len()).collect(),
            loss,
            lambda,
            edge: Edge {
                value: 38.0,
                name: "(2 + 2 beta1)/((1 - beta1) eta)",
                measure: "preconditioned sharpness",
                stability_column: true,
            },
        }
    }

    #[test]
    fn spikes_are_judged_against_the_optimizers_own_line() {
        // A 100x spike at epoch 12; the measure below 38 before, 39 at epoch 10.
        let mut loss: Vec<f64> = (0..20).map(|i| 0.5f64.powi(i.min(6))).collect();
        loss[12] *= 100.0;
        let at = log(loss.clone(), vec![(0, 5.0), (10, 39.0), (19, 30.0)]);
        let (c, _) = spikes_at_edge(&at, &PAPER_RULE);
        assert_eq!(c.verdict, Verdict::Supported, "{}", c.measured);
        // The same spike after a measurement of 20: below its own line (38).
        let below = log(loss.clone(), vec![(0, 5.0), (10, 20.0), (19, 30.0)]);
        assert_eq!(
            spikes_at_edge(&below, &PAPER_RULE).0.verdict,
            Verdict::NotSupported
        );
        let flat = log(
            (0..20).map(|i| 1.0 / (1.0 + i as f64)).collect(),
            vec![(0, 5.0)],
        );
        assert_eq!(
            spikes_at_edge(&flat, &PAPER_RULE).0.verdict,
            Verdict::NotReproduced
        );
    }
}
