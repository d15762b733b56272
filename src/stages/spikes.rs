//! `spikes`: finds the loss spikes of a training log and picks the paper's parameters for the
//! analysis of one of them: theta_max (the peak), theta_end (back at the pre-spike loss) and
//! theta_ini,m (the early-training point whose loss first comes down to the peak's loss), each
//! snapped to the nearest saved checkpoint, and the analysis window around the spike.
//!
//! Artifacts: `spikes.parquet` (onset, peak, end epochs, recovered, pre_loss, peak_loss, ratio)
//! and `picks.json`.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::analysis::spikes::{Spike, detect, first_at_or_below};
use crate::config::ParamSpec;
use crate::engine::context::{Input, StageContext};
use crate::engine::kind::{ParamsExt, StageKind};
use crate::table::TableBuilder;

use super::train::checkpoints;
use super::trained::{nearest, read_log};

pub struct Spikes;

/// What the spike analyses use (epochs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Picks {
    pub spike: usize,
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
    pub fn describe(&self) -> String {
        format!(
            "onset epoch {}, peak {} (loss {:.3e} -> {:.3e}), end {}{}",
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

/// The picks of a `spikes` stage.
pub fn picks(input: &Input) -> Result<Picks> {
    Ok(serde_json::from_value(input.read_json("picks.json")?)?)
}

impl StageKind for Spikes {
    fn name(&self) -> &'static str {
        "spikes"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Loss spikes of a training log and the checkpoints that describe one of them"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::float("factor", "a spike starts when the loss exceeds factor x the lowest of the previous `lookback` epochs").open_range(1.0, 1e12).default(10.0),
            ParamSpec::int("lookback", "epochs the rule compares with (1: the paper's previous-epoch rule)").range(1.0, 1e9).default(100i64),
            ParamSpec::float("recovery", "the spike ends when the loss is back at or below recovery x its pre-spike level").positive(1e12).default(2.0),
            ParamSpec::choice("pick", &["largest", "first", "last"], "which spike to analyse (largest: highest peak/pre-spike ratio)").default("largest"),
            ParamSpec::int("before", "epochs before the onset included in the analysis window").range(0.0, 1e9).default(50i64),
        ]
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let train = ctx.input("train")?;
        let log = read_log(train)?;
        let found = detect(
            &log.loss,
            p.f64("factor")?,
            p.usize("lookback")?,
            p.f64("recovery")?,
        );
        let e = |i: usize| log.epoch[i] as i64;
        let mut table = TableBuilder::new()
            .i64("onset", found.iter().map(|s| e(s.onset)).collect())
            .i64("peak", found.iter().map(|s| e(s.peak)).collect())
            .i64("end", found.iter().map(|s| e(s.end)).collect())
            .bool("recovered", found.iter().map(|s| s.recovered).collect())
            .f64("pre_loss", found.iter().map(|s| s.pre_loss).collect())
            .f64("peak_loss", found.iter().map(|s| s.peak_loss).collect())
            .f64(
                "ratio",
                found.iter().map(|s| s.peak_loss / s.pre_loss).collect(),
            )
            .build()?;
        ctx.write_table("spikes", &mut table)?;
        let chosen = match p.str("pick")? {
            "first" => found.first().map(|s| (0, s)),
            "last" => found.last().map(|s| (found.len() - 1, s)),
            _ => found.iter().enumerate().max_by(|a, b| {
                (a.1.peak_loss / a.1.pre_loss).total_cmp(&(b.1.peak_loss / b.1.pre_loss))
            }),
        };
        let Some((index, spike)) = chosen else {
            bail!(
                "no loss spike in `{}` by the rule loss > {} x the lowest of the previous {} epochs (lowest loss {:.3e}); train longer, with a larger learning rate, or lower `factor`",
                train.stage,
                p.f64("factor")?,
                p.usize("lookback")?,
                log.loss.iter().cloned().fold(f64::INFINITY, f64::min)
            );
        };
        let picks = choose(
            spike,
            index,
            &log.epoch,
            &log.loss,
            &checkpoints(train)?,
            p.usize("before")?,
        )?;
        ctx.log(&format!("spike {index}: {}", picks.describe()));
        ctx.write_json("picks.json", &serde_json::to_value(&picks)?)
    }
}

fn choose(
    s: &Spike,
    index: usize,
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
