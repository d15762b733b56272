//! Figures of Sec 5: `figure_condensation` (Fig 5.1, B.1: loss, output and neuron features of a
//! net trained with a small and a large learning rate from the same initialisation),
//! `figure_sweep` (Fig 5.2, 5.4, B.2: final condensed variance and lambda_max against a swept
//! parameter) and `figure_early` (Fig 5.3, A.1, B.3: both during early training).
//!
//! The condensed variance (Definition 5.2) is computed with both readings of Definition 5.1's
//! angle: `v_cond` with the printed arctan(b/w), `v_cond_circular` with the two-argument angle
//! (see `analysis::condensation`). Both are plotted; the claims use the one of the variant's
//! `angle` reading. Each kind reads its runs (here and in its file), lays out its panels, and
//! hands the measured series to `claims::sec5`, which decides.

mod early;
mod pair;
mod sweep;

pub(crate) use early::FigureEarly;
pub(crate) use pair::FigureCondensation;
pub(crate) use sweep::FigureSweep;

use anyhow::{Context, Result};
use spike_engine::context::{Input, StageContext};

use super::condensation::VarianceTable;
use super::trained::{Log, diverged_at};
use crate::analysis::spikes::{PAPER_RULE, Rule};
use crate::claims::readings::{Angle, spike_factor};
use crate::claims::sec5::{END_FRACTION, SpikeReport};

/// How the variant being computed reads the paper (`claims::readings`): Definition 5.1's angle
/// and the spike rule's factor.
#[derive(Clone, Copy)]
pub(crate) struct Lens {
    pub angle: Angle,
    pub rule: Rule,
}

impl Lens {
    pub(crate) fn of(ctx: &StageContext) -> Result<Lens> {
        let rule = match spike_factor(ctx.variant())? {
            Some(f) => PAPER_RULE.with_factor(f),
            None => PAPER_RULE,
        };
        Ok(Lens {
            angle: Angle::of(ctx.variant())?,
            rule,
        })
    }

    /// The condensed variance of this reading: Definition 5.2 with its printed angle, or the
    /// two-argument angle.
    pub(crate) fn v<'a>(&self, v: &'a Variance) -> &'a [f64] {
        match self.angle {
            Angle::ArctanRatio => &v.paper,
            Angle::TwoArgument => &v.circular,
        }
    }

    fn v_name(&self) -> &'static str {
        match self.angle {
            Angle::ArctanRatio => "V_cond (Definition 5.2, theta = arctan(b/w))",
            Angle::TwoArgument => {
                "V_cond (Definition 5.2, theta = the two-argument angle of (w, b))"
            }
        }
    }

    /// The first spike of a log by this rule, and how far the log is from the rule's verdict.
    fn describe(&self, log: &Log) -> SpikeReport {
        let first = self
            .rule
            .detect(&log.loss)
            .first()
            .map(|s| (log.epoch[s.peak], s.peak_loss / s.pre_loss));
        let largest = self
            .rule
            .largest_rise(&log.loss)
            .map(|(i, r)| (log.epoch[i], r));
        SpikeReport::new(first, largest, self.rule.factor)
    }
}

/// lambda_max over the last `END_FRACTION` of the epochs.
fn end_window(log: &Log) -> Vec<f64> {
    let last = log.epoch.last().copied().unwrap_or(0) as f64;
    let from = last * (1.0 - END_FRACTION);
    log.lambda
        .iter()
        .filter(|(e, _)| *e as f64 >= from)
        .map(|l| l.1)
        .collect()
}

/// The condensed variance per checkpoint, under both readings of the angle.
pub(crate) struct Variance {
    epoch: Vec<usize>,
    /// Definition 5.2.
    paper: Vec<f64>,
    circular: Vec<f64>,
}

impl Variance {
    pub(crate) fn read(cond: &Input) -> Result<Variance> {
        let t: VarianceTable = cond.read()?;
        Ok(Variance {
            epoch: t.epoch.into_iter().map(|e| e as usize).collect(),
            paper: t.v_cond,
            circular: t.v_cond_circular,
        })
    }

    /// The last (Definition 5.2 with theta = arctan(b/w), with the two-argument angle).
    pub(crate) fn last(&self) -> Result<(f64, f64)> {
        let i = self.epoch.len().checked_sub(1).context("no checkpoints")?;
        Ok((self.paper[i], self.circular[i]))
    }
}

/// The premise that every run trained to its last epoch: `None`, or what diverged.
fn divergence(runs: &[(&Input, f64)]) -> Result<Option<String>> {
    let mut out = Vec::new();
    for (run, lr) in runs {
        if let Some(e) = diverged_at(run)? {
            out.push(format!("lr {lr} diverged at epoch {e}"));
        }
    }
    Ok((!out.is_empty()).then(|| out.join("; ")))
}

/// The condensation stage among `conds` computed from `train`.
pub(crate) fn cond_of<'a>(conds: &'a [Input], train: &Input) -> Result<&'a Input> {
    conds
        .iter()
        .find(|c| c.inputs.get("train").and_then(|k| k.first()) == Some(&train.key))
        .with_context(|| {
            format!(
                "no condensation stage of `{}` among the `cond` inputs",
                train.stage
            )
        })
}
