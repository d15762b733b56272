//! Full-batch gradient descent (the paper's optimiser), momentum and Adam (`optim`), full-batch
//! or on mini-batches, with a fixed learning rate; per-epoch logs; sharpness tracking by
//! warm-started Lanczos, with each optimiser's own stability measure beside lambda_max;
//! checkpoints on a schedule and around loss spikes, divergence detection, and resumable state.
//!
//! Epoch `e` of the log is the state *before* the `e`-th update: epoch 0 is the initial network
//! and the last row (epoch = `epochs`) the trained one, so the log has `epochs + 1` rows. For SGD
//! the logged loss is the full training loss at the start of the epoch.
//! Theta is kept on the host in f64 (the master copy); the loss and gradient are computed on the
//! backend in the objective's precision.

use std::collections::VecDeque;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::derivatives::Derivatives;
use crate::linalg::dense::dot;
use crate::linalg::lanczos::{LanczosConfig, lanczos};
use crate::optim::{OptState, Optimizer, preconditioned};
use crate::rng::SeededRng;

#[derive(Clone, Debug)]
pub struct Sharpness {
    /// lambda_max every `every` epochs (and at the last epoch).
    pub every: usize,
    /// Hessian-vector products come from the Hessian objective of [`Objectives`].
    pub lanczos: LanczosConfig,
}

#[derive(Clone, Debug)]
pub struct SpikeTrigger {
    /// A spike starts when the loss exceeds `factor` times the lowest loss of the previous
    /// `lookback` epochs (`lookback = 1` is the paper's rule: much larger than the previous
    /// epoch's loss).
    pub factor: f64,
    pub lookback: usize,
    /// Epochs before the spike kept in a rolling window and saved when a spike starts.
    pub window: usize,
    /// At most this many spikes are checkpointed.
    pub max_spikes: usize,
    /// A spike's dense checkpoints stop after this many epochs even if the loss has not come
    /// back below its pre-spike level.
    pub max_epochs: usize,
}

#[derive(Clone, Debug, Default)]
pub struct CheckpointPlan {
    pub every: Option<usize>,
    pub at: Vec<usize>,
    /// Every epoch of this range.
    pub dense: Option<(usize, usize)>,
    pub spike: Option<SpikeTrigger>,
}

#[derive(Clone, Debug)]
pub struct TrainSpec {
    pub lr: f64,
    pub optimizer: Optimizer,
    pub epochs: usize,
    /// `None`: full-batch gradient descent.
    pub batch_size: Option<usize>,
    pub shuffle_seed: u64,
    pub sharpness: Option<Sharpness>,
    pub checkpoints: CheckpointPlan,
    /// Test loss every this many epochs (when there is test data); 0 = never.
    pub test_every: usize,
    /// A resumable snapshot is offered every this many epochs; 0 = never.
    pub snapshot_every: usize,
    /// Stop early once the loss is at or below this fraction of the epoch-0 loss; the epoch
    /// that reaches it is the last (and `epochs` the most).
    pub stop_fraction: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub epoch: usize,
    pub loss: f64,
    pub test_loss: Option<f64>,
    pub lambda_max: Option<f64>,
    pub lambda_residual: Option<f64>,
    pub lambda_matvecs: Option<usize>,
    /// The optimiser's own stability measure where it differs from lambda_max: Adam's
    /// preconditioned sharpness, the batch sharpness of mini-batch runs.
    pub stability: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub epoch: usize,
    /// `initial`, `schedule`, `spike` or `final`.
    pub reason: String,
    pub theta: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ActiveSpike {
    pre_level: f64,
    start: usize,
}

/// Everything needed to continue a run exactly where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The next epoch to log.
    pub epoch: usize,
    pub theta: Vec<f64>,
    pub rows: Vec<Row>,
    pub checkpoints: Vec<Checkpoint>,
    ring: VecDeque<(usize, f64, Vec<f64>)>,
    spike: Option<ActiveSpike>,
    spikes_seen: usize,
    warm: Option<Vec<f64>>,
    // Last, so that a state written before optimisers existed fails to decode instead of
    // decoding wrongly (a longer run then starts from scratch).
    opt: OptState,
    warm_stability: Option<Vec<f64>>,
}

impl TrainState {
    pub fn new(theta: Vec<f64>) -> Self {
        TrainState {
            epoch: 0,
            theta,
            rows: vec![],
            checkpoints: vec![],
            ring: VecDeque::new(),
            spike: None,
            spikes_seen: 0,
            warm: None,
            opt: OptState::default(),
            warm_stability: None,
        }
    }
}

#[derive(Debug)]
pub struct Diverged {
    pub epoch: usize,
    pub loss: f64,
    pub state: TrainState,
}

impl std::fmt::Display for Diverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "training diverged at epoch {} (loss {}); lower the learning rate",
            self.epoch, self.loss
        )
    }
}

impl std::error::Error for Diverged {}

pub struct Hooks<'a> {
    /// Called after each logged epoch with (epoch, total epochs).
    pub progress: &'a mut dyn FnMut(usize, usize),
    /// Called with a resumable state every `snapshot_every` epochs.
    pub snapshot: &'a mut dyn FnMut(&TrainState) -> Result<()>,
    /// Called once, at the start of epoch `spec.epochs` (before it is logged), with the state
    /// without its checkpoints (the caller has them all at the end): a longer run continues
    /// from it, and then logs that epoch as an ordinary one.
    pub extendable: &'a mut dyn FnMut(&TrainState) -> Result<()>,
}

/// Builds the training objective restricted to some examples (for SGD).
pub type BatchObjective<'a> = dyn Fn(&[usize]) -> Box<dyn Derivatives + 'a> + 'a;

/// The objectives a run needs: the training loss, and optionally a Hessian objective (the same
/// loss on the same data, possibly in another precision, with the HVP method of the run) and a
/// test loss.
pub struct Objectives<'a> {
    pub train: &'a dyn Derivatives,
    pub hessian: &'a dyn Derivatives,
    pub test: Option<&'a dyn Derivatives>,
    /// For SGD: the training objective restricted to a list of example indices.
    pub batch: Option<&'a BatchObjective<'a>>,
    pub n_examples: usize,
}

/// Trains from `state` (a fresh [`TrainState::new`] or a resumed snapshot) to `spec.epochs`.
pub fn train(
    obj: &Objectives,
    spec: &TrainSpec,
    mut state: TrainState,
    hooks: &mut Hooks,
) -> Result<TrainState> {
    if spec.batch_size.is_some() && obj.batch.is_none() {
        bail!("mini-batch training needs a batch objective");
    }
    while state.epoch <= spec.epochs {
        let e = state.epoch;
        if e == spec.epochs {
            let checkpoints = std::mem::take(&mut state.checkpoints);
            (hooks.extendable)(&state)?;
            state.checkpoints = checkpoints;
        }
        let (loss, grad) = match spec.batch_size {
            None => {
                let (l, g) = obj.train.loss_and_grad(&state.theta)?;
                (l, Some(g))
            }
            Some(_) => (obj.train.loss(&state.theta)?, None),
        };
        if !loss.is_finite() {
            return Err(Diverged {
                epoch: e,
                loss,
                state,
            }
            .into());
        }
        let initial = state.rows.first().map_or(loss, |r| r.loss);
        let last = e == spec.epochs || spec.stop_fraction.is_some_and(|f| loss <= f * initial);
        let mut row = Row {
            epoch: e,
            loss,
            ..Row::default()
        };
        if let Some(test) = obj.test
            && spec.test_every > 0
            && (e.is_multiple_of(spec.test_every) || last)
        {
            row.test_loss = Some(test.loss(&state.theta)?);
        }
        if let Some(sh) = &spec.sharpness
            && (e.is_multiple_of(sh.every.max(1)) || last)
        {
            let theta = state.theta.clone();
            let mut op = obj.hessian.hessian_at(&theta);
            let eig = lanczos(theta.len(), &mut *op, &sh.lanczos, state.warm.as_deref())?;
            row.lambda_max = Some(eig.values[0]);
            row.lambda_residual = Some(eig.residuals[0]);
            row.lambda_matvecs = Some(eig.matvecs);
            state.warm = eig.vectors.into_iter().next();
            row.stability = stability(obj, spec, &mut state, grad.as_deref(), sh)?;
        }
        record_checkpoints(&mut state, spec, loss);
        state.rows.push(row);
        (hooks.progress)(e, spec.epochs);

        if last {
            save_unless_saved(&mut state, e, "final");
            state.checkpoints.sort_by_key(|c| c.epoch);
            state.epoch += 1;
            break;
        }
        match (spec.batch_size, grad) {
            (None, Some(g)) => spec
                .optimizer
                .step(&mut state.opt, &mut state.theta, &g, spec.lr),
            (Some(bs), _) => {
                let make = obj.batch.expect("checked above");
                for rows in epoch_batches(obj.n_examples, bs, spec.shuffle_seed, e) {
                    let (_, g) = make(&rows).loss_and_grad(&state.theta)?;
                    spec.optimizer
                        .step(&mut state.opt, &mut state.theta, &g, spec.lr);
                }
            }
            (None, None) => unreachable!("full-batch epochs compute the gradient"),
        }
        state.epoch += 1;
        if spec.snapshot_every > 0 && state.epoch.is_multiple_of(spec.snapshot_every) {
            (hooks.snapshot)(&state)?;
        }
    }
    Ok(state)
}

/// The optimiser's own stability measure at this epoch where it is not lambda_max: Adam's
/// preconditioned sharpness lambda_max(P^-1/2 H P^-1/2), with the preconditioner of the step
/// about to be taken (full batch: its gradient `g` is known) or of the last step (mini-batches);
/// for mini-batch runs of the other optimisers the batch sharpness E_B[g_B^T H_B g_B / |g_B|^2]
/// over this epoch's batches (Andreyev and Beneventano 2024).
fn stability(
    obj: &Objectives,
    spec: &TrainSpec,
    state: &mut TrainState,
    g: Option<&[f64]>,
    sh: &Sharpness,
) -> Result<Option<f64>> {
    let theta = state.theta.clone();
    if let Some(p) = spec.optimizer.preconditioner(&state.opt, g) {
        let mut h = obj.hessian.hessian_at(&theta);
        let mut op = preconditioned(&mut *h, &p);
        let eig = lanczos(
            theta.len(),
            &mut op,
            &sh.lanczos,
            state.warm_stability.as_deref(),
        )?;
        state.warm_stability = eig.vectors.into_iter().next();
        return Ok(Some(eig.values[0]));
    }
    let (Some(bs), Some(make)) = (spec.batch_size, obj.batch) else {
        return Ok(None);
    };
    let batches = epoch_batches(obj.n_examples, bs, spec.shuffle_seed, state.epoch);
    let mut sum = 0.0;
    for rows in &batches {
        let batch = make(rows);
        let (_, gb) = batch.loss_and_grad(&theta)?;
        let hg = batch.hvp(&theta, &gb)?;
        let norm2 = dot(&gb, &gb);
        if norm2 > 0.0 {
            sum += dot(&gb, &hg) / norm2;
        }
    }
    Ok(Some(sum / batches.len().max(1) as f64))
}

/// The mini-batches of epoch `epoch`: a permutation drawn from (seed, epoch), so a resumed run
/// sees the same batches.
pub fn epoch_batches(n: usize, batch: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut rng = SeededRng::new(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, rng.below(i + 1));
    }
    perm.chunks(batch.max(1)).map(<[usize]>::to_vec).collect()
}

fn record_checkpoints(state: &mut TrainState, spec: &TrainSpec, loss: f64) {
    let e = state.epoch;
    let plan = &spec.checkpoints;
    if e == 0 {
        state.checkpoints.push(Checkpoint {
            epoch: 0,
            reason: "initial".into(),
            theta: state.theta.clone(),
        });
    } else if plan.at.contains(&e)
        || plan.every.is_some_and(|k| k > 0 && e.is_multiple_of(k))
        || plan.dense.is_some_and(|(a, b)| e >= a && e <= b)
    {
        state.checkpoints.push(Checkpoint {
            epoch: e,
            reason: "schedule".into(),
            theta: state.theta.clone(),
        });
    }
    let Some(trigger) = &plan.spike else { return };
    match state.spike.clone() {
        Some(active) => {
            save_unless_saved(state, e, "spike");
            if loss <= active.pre_level || e >= active.start + trigger.max_epochs {
                state.spike = None;
            }
        }
        None => {
            let lowest = state
                .ring
                .iter()
                .rev()
                .take(trigger.lookback.max(1))
                .map(|(_, l, _)| *l)
                .fold(f64::INFINITY, f64::min);
            if state.spikes_seen < trigger.max_spikes
                && !state.ring.is_empty()
                && loss > trigger.factor * lowest
            {
                state.spikes_seen += 1;
                let pre_level = state.ring.back().map(|(_, l, _)| *l).unwrap_or(lowest);
                let skip = state.ring.len().saturating_sub(trigger.window);
                let window: Vec<(usize, f64, Vec<f64>)> = state.ring.drain(..).skip(skip).collect();
                for (epoch, _, theta) in window {
                    if !state.checkpoints.iter().any(|c| c.epoch == epoch) {
                        state.checkpoints.push(Checkpoint {
                            epoch,
                            reason: "spike".into(),
                            theta,
                        });
                    }
                }
                save_unless_saved(state, e, "spike");
                state.spike = Some(ActiveSpike {
                    pre_level,
                    start: e,
                });
            }
        }
    }
    state.ring.push_back((e, loss, state.theta.clone()));
    while state.ring.len() > trigger.window.max(trigger.lookback).max(1) {
        state.ring.pop_front();
    }
}

fn save_unless_saved(state: &mut TrainState, epoch: usize, reason: &str) {
    if let Some(c) = state.checkpoints.iter_mut().find(|c| c.epoch == epoch) {
        c.reason = reason.into();
    } else {
        state.checkpoints.push(Checkpoint {
            epoch,
            reason: reason.into(),
            theta: state.theta.clone(),
        });
    }
}
