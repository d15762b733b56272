//! A `train` stage as seen by the analyses that need it: its network (rebuilt from its
//! parameters), the data it was trained on, and its log and checkpoints.

use anyhow::{Context, Result, bail};

use spike_engine::context::{Input, StageContext};
use spike_nn::backend::Precision;
use spike_nn::data::{Data, Supervised};
use spike_nn::model::Arch;

use super::data;
use super::train::{Edge, ModelSpec, TrainLog, TrainParams, checkpoints};

pub(crate) struct Trained<'a> {
    pub input: &'a Input,
    pub model: ModelSpec,
    pub lr: f64,
    /// The training split of its dataset (what R_S is over, whatever `fit_on` was).
    pub train: Data,
    pub test: Option<Data>,
}

/// Log columns of a `train` stage.
pub(crate) struct Log {
    pub epoch: Vec<usize>,
    pub loss: Vec<f64>,
    /// (epoch, value) where it was measured, of the measure the run's edge of stability is
    /// judged on: lambda_max for full-batch GD and momentum, Adam's preconditioned sharpness,
    /// the batch sharpness of mini-batch runs (`edge.measure` names it).
    pub lambda: Vec<(usize, f64)>,
    /// The threshold `lambda` is compared with (2/eta for GD).
    pub edge: Edge,
}

impl<'a> Trained<'a> {
    /// The `train` stage under role `train_role` and the dataset under `data_role`, which must be
    /// the one it was trained on (or, for a run on the test split, the one it came from).
    pub(crate) fn from_roles(
        ctx: &'a StageContext,
        train_role: &str,
        data_role: &str,
    ) -> Result<Trained<'a>> {
        let input = ctx.input(train_role)?;
        let dataset = ctx.input(data_role)?;
        Self::new(input, dataset)
    }

    pub fn new(input: &'a Input, dataset: &Input) -> Result<Trained<'a>> {
        if input.kind != "train" {
            bail!(
                "`{}` is a `{}` stage, not a `train` stage",
                input.stage,
                input.kind
            );
        }
        let used = input.inputs.get("data").and_then(|k| k.first());
        if used != Some(&dataset.key) {
            bail!(
                "`{}` was not trained on `{}`: give the analysis the dataset stage the training stage needs",
                input.stage,
                dataset.stage
            );
        }
        let params: TrainParams = input.params()?;
        let model = ModelSpec::from_params(&params.model)?;
        let train = data::load(dataset, "train")?;
        let test = if data::has(dataset, "test") {
            Some(data::load(dataset, "test")?)
        } else {
            None
        };
        Ok(Trained {
            input,
            model,
            lr: params.lr,
            train,
            test,
        })
    }

    /// The training objective R_S in `precision`.
    pub fn objective(&self, precision: Precision) -> Supervised<'_> {
        self.model.objective(&self.train, precision)
    }

    pub(crate) fn test_objective(&self, precision: Precision) -> Result<Supervised<'_>> {
        let test = self
            .test
            .as_ref()
            .with_context(|| format!("the dataset of `{}` has no test split", self.input.stage))?;
        Ok(self.model.objective(test, precision))
    }

    pub fn log(&self) -> Result<Log> {
        read_log(self.input)
    }

    pub fn checkpoints(&self) -> Result<Vec<(usize, String, Vec<f64>)>> {
        checkpoints(self.input)
    }

    /// The width of a two-layer net (the analyses of 1-D nets need it).
    pub(crate) fn fnn_width(&self) -> Result<usize> {
        match self.model.arch {
            Arch::Fnn { width, .. } => Ok(width),
            _ => bail!(
                "`{}` is not a two-layer net with 1-D input (model fnn)",
                self.input.stage
            ),
        }
    }

    /// The interval of the training inputs (1-D data).
    pub(crate) fn input_range(&self) -> (f64, f64) {
        let lo = self.train.x.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = self
            .train
            .x
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    }
}

/// The epoch a `train` input diverged at, when it was kept as a result (`on_divergence: stop`).
pub(crate) fn diverged_at(run: &Input) -> Result<Option<usize>> {
    if !run.has("meta.json") {
        return Ok(None);
    }
    Ok(run.read_json("meta.json")?["diverged_at"]
        .as_u64()
        .map(|e| e as usize))
}

pub(crate) fn read_log(input: &Input) -> Result<Log> {
    let t: TrainLog = input.read()?;
    let edge = input.params::<TrainParams>()?.edge();
    let measure = match (edge.stability_column, t.stability) {
        (false, _) => t.lambda_max,
        (true, Some(s)) => s,
        (true, None) => bail!(
            "`{}` logged no `{}` (a log written before optimisers): recompute it",
            input.stage,
            edge.measure
        ),
    };
    let epoch: Vec<usize> = t.epoch.into_iter().map(|e| e as usize).collect();
    let lambda = epoch
        .iter()
        .zip(&measure)
        .filter_map(|(&e, l)| l.map(|l| (e, l)))
        .collect();
    Ok(Log {
        loss: t.loss,
        lambda,
        epoch,
        edge,
    })
}

/// The checkpoint nearest to `epoch` (ties: the later one), optionally restricted to a range.
pub(crate) fn nearest(
    checkpoints: &[(usize, String, Vec<f64>)],
    epoch: usize,
    within: Option<(usize, usize)>,
) -> Option<usize> {
    checkpoints
        .iter()
        .enumerate()
        .filter(|(_, c)| within.is_none_or(|(a, b)| c.0 >= a && c.0 <= b))
        .min_by_key(|(_, c)| (c.0.abs_diff(epoch), usize::MAX - c.0))
        .map(|(i, _)| i)
}
