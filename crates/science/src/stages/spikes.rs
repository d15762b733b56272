//! `spikes`: finds the loss spikes of a training log and picks the paper's parameters for the
//! analysis of one of them: theta_max (the peak), theta_end (back at the pre-spike loss) and
//! theta_ini,m (the early-training point whose loss first comes down to the peak's loss), each
//! snapped to the nearest saved checkpoint, and the analysis window around the spike.
//!
//! Each spike is classified by the lambda_max the training log measured up to its onset
//! (`analysis::spikes::classify`): a catapult out of an initialisation sharper than 2/lr, a
//! spike at the edge of stability after progressive sharpening, or neither. `pick` chooses which
//! one the analyses use; when no spike qualifies, `picks.json` is `null` and the figures say so.
//!
//! Artifacts: `spikes.parquet` (onset, peak, end epochs, recovered, pre_loss, peak_loss, ratio,
//! event) and `picks.json`.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::analysis::spikes::{Event, Rule, Spike, classify, first_at_or_below};
use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;

use super::train::checkpoints;
use super::trained::{nearest, read_log};

pub(crate) struct Spikes;

/// What the spike analyses use (epochs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Picks {
    pub spike: usize,
    /// What the spike is (`Event`'s name).
    pub event: String,
    pub onset: usize,
    pub peak: usize,
    pub end: usize,
    pub recovered: bool,
    pub pre_loss: f64,
    pub peak_loss: f64,
    /// The analysis window (checkpoints inside it are used).
    pub window: (usize, usize),
    pub theta_max: usize,
    pub theta_end: usize,
    pub theta_ini: Option<usize>,
}

impl Picks {
    /// "onset epoch .., peak .. (loss .. -> ..), end ..", as figures and logs describe it.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{}: onset epoch {}, peak {} (loss {:.3e} -> {:.3e}), end {}{}",
            self.event.replace('_', " "),
            self.onset,
            self.peak,
            self.pre_loss,
            self.peak_loss,
            self.end,
            if self.recovered {
                ""
            } else {
                " (not recovered by the end of training)"
            }
        )
    }
}

/// The picks of a `spikes` stage (`None`: no spike of the kind it picks).
pub(crate) fn picks(input: &Input) -> Result<Option<Picks>> {
    serde_json::from_value(input.read_json("picks.json")?)
        .with_context(|| format!("input `{}`, picks.json", input.stage))
}

spike_config::choice_enum! {
    /// Which spike of a run the analyses use.
    pub(crate) enum Pick {
        /// The highest peak / pre-spike ratio.
        Largest = "largest",
        First = "first",
        Last = "last",
        /// The highest peak / pre-spike ratio among the spikes at the edge of stability.
        EdgeOfStability = "edge_of_stability",
    }
}

spike_config::stage_params! {
    pub(crate) struct SpikesParams {
        /// a spike starts when the loss exceeds factor x the lowest of the previous `lookback`
        /// epochs
        pub factor: f64 = 10.0; open_range(1.0, 1e12),
        /// epochs the rule compares with (1: the paper's previous-epoch rule)
        pub lookback: usize = 100; range(1.0, 1e9),
        /// the spike ends when the loss is back at or below recovery x its pre-spike level
        pub recovery: f64 = 2.0; positive(1e12),
        /// which spike to analyse (largest: highest peak/pre-spike ratio; edge_of_stability:
        /// the largest of those after progressive sharpening to 2/lr)
        pub pick: Pick = Pick::Largest,
        /// epochs before the onset included in the analysis window
        pub before: usize = 50; range(0.0, 1e9),
    }
}

impl SpikesParams {
    pub fn rule(&self) -> Rule {
        Rule {
            factor: self.factor,
            lookback: self.lookback,
            recovery: self.recovery,
        }
    }
}

spike_engine::table_schema! {
    /// Every loss spike of a training log (epochs).
    pub(crate) struct SpikeTable in "spikes" {
        pub onset: Vec<i64>,
        pub peak: Vec<i64>,
        pub end: Vec<i64>,
        pub recovered: Vec<bool>,
        pub pre_loss: Vec<f64>,
        pub peak_loss: Vec<f64>,
        /// peak_loss / pre_loss.
        pub ratio: Vec<f64>,
        /// catapult, edge_of_stability, below_edge or unmeasured (`analysis::spikes::Event`).
        pub event: Vec<String>,
    }
}

impl Kind for Spikes {
    const NAME: &'static str = "spikes";
    const VERSION: u32 = 2;
    const DOC: &'static str = "Loss spikes of a training log, each classified (catapult or edge of stability), and the checkpoints that describe one of them";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one("train", &["train"])];
    type Params = SpikesParams;
    type Output = ();

    fn run(&self, p: &SpikesParams, ctx: &mut StageContext) -> Result<()> {
        let train = ctx.input("train")?;
        let log = read_log(train)?;
        let found = p.rule().detect(&log.loss);
        let e = |i: usize| log.epoch[i];
        let events: Vec<Event> = found
            .iter()
            .map(|s| classify(e(s.onset), &log.lambda, log.edge.value))
            .collect();
        ctx.write(&SpikeTable {
            onset: found.iter().map(|s| e(s.onset) as i64).collect(),
            peak: found.iter().map(|s| e(s.peak) as i64).collect(),
            end: found.iter().map(|s| e(s.end) as i64).collect(),
            recovered: found.iter().map(|s| s.recovered).collect(),
            pre_loss: found.iter().map(|s| s.pre_loss).collect(),
            peak_loss: found.iter().map(|s| s.peak_loss).collect(),
            ratio: found.iter().map(|s| s.peak_loss / s.pre_loss).collect(),
            event: events.iter().map(|v| v.as_str().to_string()).collect(),
        })?;
        for (s, event) in found.iter().zip(&events) {
            ctx.log(&format!(
                "{event} at epoch {}: loss {:.3e} -> {:.3e}",
                e(s.onset),
                s.pre_loss,
                s.peak_loss
            ));
        }
        let ratio = |s: &Spike| s.peak_loss / s.pre_loss;
        let largest = |only_edge: bool| {
            found
                .iter()
                .enumerate()
                .filter(|(i, _)| !only_edge || events[*i] == Event::EdgeOfStability)
                .max_by(|a, b| ratio(a.1).total_cmp(&ratio(b.1)))
        };
        let chosen = match p.pick {
            Pick::First => found.first().map(|s| (0, s)),
            Pick::Last => found.last().map(|s| (found.len() - 1, s)),
            Pick::Largest => largest(false),
            Pick::EdgeOfStability => largest(true),
        };
        let Some((index, spike)) = chosen else {
            ctx.log(&format!(
                "no spike to pick ({}): {} spikes by the rule {}, lowest loss {:.3e}",
                p.pick,
                found.len(),
                p.rule(),
                log.loss.iter().cloned().fold(f64::INFINITY, f64::min)
            ));
            return ctx.write_json("picks.json", &serde_json::Value::Null);
        };
        let picks = match choose(
            spike,
            index,
            events[index],
            &log.epoch,
            &log.loss,
            &checkpoints(train)?,
            p.before,
        ) {
            Ok(picks) => picks,
            Err(why) => {
                // A spike without the checkpoints to analyse it is a result of this run (a
                // seed, a reading), not a failure: nothing is picked, and the log says why.
                ctx.log(&format!("spike {index} is not analysed: {why}"));
                return ctx.write_json("picks.json", &serde_json::Value::Null);
            }
        };
        ctx.log(&format!("spike {index}: {}", picks.describe()));
        ctx.write_json("picks.json", &serde_json::to_value(&picks)?)
    }
}

fn choose(
    s: &Spike,
    index: usize,
    event: Event,
    epochs: &[usize],
    loss: &[f64],
    ck: &[(usize, String, Vec<f64>)],
    before: usize,
) -> Result<Picks> {
    let (onset, peak, end) = (epochs[s.onset], epochs[s.peak], epochs[s.end]);
    let window = (onset.saturating_sub(before), end);
    let in_window = ck
        .iter()
        .filter(|c| c.0 >= window.0 && c.0 <= window.1)
        .count();
    if in_window < 3 {
        bail!(
            "only {in_window} checkpoints between epochs {} and {}: train with `spike_factor` (spike-triggered checkpoints) or a denser `checkpoint_every`",
            window.0,
            window.1
        );
    }
    let theta_max = ck[nearest(ck, peak, Some(window)).expect("checkpoints in the window")].0;
    let theta_end =
        ck[nearest(ck, end, Some((peak, usize::MAX))).expect("checkpoints after the peak")].0;
    let theta_ini = first_at_or_below(loss, s.peak_loss)
        .map(|i| epochs[i])
        .filter(|&e| e < onset)
        .and_then(|e| nearest(ck, e, Some((0, onset.saturating_sub(1)))))
        .map(|i| ck[i].0);
    Ok(Picks {
        spike: index,
        event: event.as_str().into(),
        onset,
        peak,
        end,
        recovered: s.recovered,
        pre_loss: s.pre_loss,
        peak_loss: s.peak_loss,
        window,
        theta_max,
        theta_end,
        theta_ini,
    })
}
