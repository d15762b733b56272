//! `train`: trains one of the paper's networks with full-batch GD or SGD, momentum or Adam,
//! logging the loss (and test loss, and lambda_max with the optimiser's own stability measure
//! every k epochs) per epoch and saving checkpoints of theta.
//!
//! Inputs: `data` (a dataset stage) and optionally `init` (a `train` stage whose final theta is
//! the starting point, e.g. theta_test continues theta_train on the test set).
//! Raising `epochs` continues the cached shorter run of the same stage (`Kind::EXTENDS`) from
//! the state it had at the start of its last epoch, so a longer run costs only the new epochs
//! and ends exactly where a run from scratch ends.
//!
//! Artifacts: `log.parquet` (epoch, loss, test_loss, lambda_max, lambda_residual,
//! lambda_matvecs, stability: the optimiser's own measure where it is not lambda_max), `checkpoints.parquet` (epoch, reason, theta), `meta.json`, and
//! `extend.postcard` (the state at the start of the last epoch, without checkpoints; absent when
//! the run stopped early).

use std::borrow::Cow;
use std::path::Path;

use anyhow::{Context, Result, bail};

use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;
use spike_engine::table::Table;
use spike_nn::backend::{BackendKind, Precision};
use spike_nn::data::{Data, Loss, Supervised};
use spike_nn::derivatives::Derivatives;
use spike_nn::eval::evaluator;
use spike_nn::init::Init;
use spike_nn::linalg::lanczos::LanczosConfig;
use spike_nn::model::Arch;
use spike_nn::objective::Hvp;
use spike_nn::ops::ActivationName;
use spike_nn::optim::Optimizer;
use spike_nn::train::{
    Checkpoint, CheckpointPlan, Diverged, Hooks, Objectives, Sharpness, SpikeTrigger, TrainSpec,
    TrainState, train,
};

use super::DATASETS;
use super::{backend_of, data};

spike_config::choice_enum! {
    pub(crate) enum ModelName {
        /// Two-layer, 1-D input.
        Fnn = "fnn",
        /// Table A.1.
        Cnn2 = "cnn2",
        /// Table A.2.
        Cnn3 = "cnn3",
        /// Table A.3.
        Cnn5 = "cnn5",
        Vgg11 = "vgg11",
    }
}

spike_config::choice_enum! {
    pub(crate) enum InitName {
        /// gaussian for fnn, xavier for cnns, kaiming for vgg11
        Default = "default",
        Gaussian = "gaussian",
        Xavier = "xavier",
        Kaiming = "kaiming",
    }
}

spike_config::choice_enum! {
    pub(crate) enum BatchNorm {
        /// The statistics of the batch the loss is evaluated on.
        BatchStatistics = "batch_statistics",
    }
}

spike_config::stage_params! {
    /// The parameters that define a network and its loss (shared by every stage that rebuilds
    /// the model of a `train` stage from its parameters).
    pub(crate) struct ModelParams {
        /// fnn (two-layer, 1-D input), cnn2/cnn3/cnn5 (Tables A.1-A.3), vgg11
        pub model: ModelName,
        /// hidden width m of the fnn
        pub width: usize = 20; range(1.0, 100_000.0),
        /// fnn activation
        pub activation: ActivationName = ActivationName::Tanh,
        /// negative slope of leaky_relu
        pub leaky_slope: f64 = 0.01; range(0.0, 1.0),
        /// fnn output bias
        pub out_bias: bool = false,
        /// channel multiplier of vgg11 (1 = the paper's network)
        pub vgg_width: f64 = 1.0; positive(8.0),
        /// vgg11 batch-norm mode, in training and in every Hessian: the statistics of the batch
        /// the loss is evaluated on (the full batch for GD and for the Hessian of the training
        /// loss)
        pub batch_norm: BatchNorm = BatchNorm::BatchStatistics,
        /// mse: mean over all output elements of (f - y)^2; half_mse: half that
        pub loss: Loss = Loss::Mse,
        /// precision of the forward/backward passes
        pub dtype: Precision = Precision::F64,
        /// default: gaussian for fnn, xavier for cnns, kaiming for vgg11
        pub init: InitName = InitName::Default,
        /// gaussian init variance m^-gamma
        pub init_gamma: f64 = 1.0; range(0.0, 10.0),
        /// initialisation seed
        pub seed: u64 = 0; range(0.0, 9.0e15),
    }
}

pub(crate) struct ModelSpec {
    pub arch: Arch,
    pub loss: Loss,
    pub precision: Precision,
    pub init: Init,
    pub seed: u64,
}

impl ModelSpec {
    pub(crate) fn from_params(p: &ModelParams) -> Result<ModelSpec> {
        let arch = if p.model == ModelName::Fnn {
            Arch::Fnn {
                width: p.width,
                act: p.activation.with_slope(p.leaky_slope),
                out_bias: p.out_bias,
            }
        } else {
            Arch::named(p.model.as_str(), p.vgg_width)?
        };
        let init = match (p.init, &arch) {
            (InitName::Default, Arch::Fnn { .. }) | (InitName::Gaussian, _) => Init::Gaussian {
                gamma: p.init_gamma,
            },
            (InitName::Default, Arch::Cnn { .. }) | (InitName::Xavier, _) => Init::Xavier,
            (InitName::Default, Arch::Vgg { .. }) | (InitName::Kaiming, _) => Init::Kaiming,
        };
        Ok(ModelSpec {
            arch,
            loss: p.loss,
            precision: p.dtype,
            init,
            seed: p.seed,
        })
    }

    pub fn objective<'a>(&'a self, data: &'a Data, precision: Precision) -> Supervised<'a> {
        Supervised::new(&self.arch, data, self.loss, precision)
    }
}

spike_engine::table_schema! {
    /// The saved parameter vectors of a `train` stage, in epoch order.
    pub(crate) struct CheckpointTable in "checkpoints" {
        pub epoch: Vec<i64>,
        /// Why it was saved (every k epochs, a spike, ...).
        pub reason: Vec<String>,
        pub theta: Vec<Vec<f64>>,
    }
}

spike_engine::table_schema! {
    /// The per-epoch log of a `train` stage.
    pub(crate) struct TrainLog in "log" {
        pub epoch: Vec<i64>,
        pub loss: Vec<f64>,
        pub test_loss: Vec<Option<f64>>,
        pub lambda_max: Vec<Option<f64>>,
        pub lambda_residual: Vec<Option<f64>>,
        pub lambda_matvecs: Vec<Option<f64>>,
        /// The optimiser's own stability measure where it is not lambda_max (absent in logs
        /// written before optimisers).
        pub stability: Option<Vec<Option<f64>>>,
    }
}

/// Checkpoints of a `train` stage: (epoch, reason, theta), in epoch order.
pub fn checkpoints(input: &Input) -> Result<Vec<(usize, String, Vec<f64>)>> {
    let t: CheckpointTable = input.read()?;
    Ok(t.epoch
        .into_iter()
        .zip(t.reason)
        .zip(t.theta)
        .map(|((e, r), t)| (e as usize, r, t))
        .collect())
}

/// The last checkpoint (the trained theta) of a `train` stage.
pub(crate) fn final_theta(input: &Input) -> Result<Vec<f64>> {
    checkpoints(input)?
        .into_iter()
        .max_by_key(|c| c.0)
        .map(|c| c.2)
        .with_context(|| format!("input `{}` has no checkpoints", input.stage))
}

pub(crate) struct Train;

spike_config::choice_enum! {
    pub(crate) enum Split {
        Train = "train",
        Test = "test",
    }
}

spike_config::choice_enum! {
    pub(crate) enum OptimizerName {
        /// Gradient descent (full batch, or SGD with `batch_size`).
        Gd = "gd",
        /// Heavy-ball momentum `momentum` (PyTorch's SGD momentum, dampening 0).
        HeavyBall = "heavy_ball",
        /// Nesterov momentum `momentum` (PyTorch's nesterov = true).
        Nesterov = "nesterov",
        /// Adam (`adam_beta1`, `adam_beta2`, `adam_eps`), with bias correction.
        Adam = "adam",
    }
}

spike_config::stage_params! {
    pub(crate) struct TrainParams [model: ModelParams] {
        /// learning rate
        pub lr: f64; positive(1e6),
        /// gd, heavy_ball, nesterov or adam (each logged with its own stability measure and
        /// threshold)
        pub optimizer: OptimizerName = OptimizerName::Gd,
        /// momentum coefficient beta of heavy_ball and nesterov
        pub momentum: f64 = 0.9; range(0.0, 0.9999),
        /// Adam's beta1 (first moment)
        pub adam_beta1: f64 = 0.9; range(0.0, 0.9999),
        /// Adam's beta2 (second moment)
        pub adam_beta2: f64 = 0.999; range(0.0, 0.999999),
        /// Adam's epsilon
        pub adam_eps: f64 = 1e-8; positive(1.0),
        /// number of epochs (updates for GD)
        pub epochs: usize; range(1.0, 1e8),
        /// mini-batch size for SGD (null: full-batch GD)
        pub batch_size: Option<usize>; range(1.0, 1e9),
        /// which split to train on (test: the paper's theta_test)
        pub fit_on: Split = Split::Train,
        /// test loss every k epochs when the data has a test split (0: never)
        pub test_every: usize = 0; range(0.0, 1e9),
        /// lambda_max every k epochs (0: never)
        pub sharpness_every: usize = 0; range(0.0, 1e9),
        /// relative Ritz residual tolerance of lambda_max
        pub lanczos_tol: f64 = 1e-6; positive(1.0),
        /// maximum Lanczos iterations per lambda_max
        pub lanczos_max_iter: usize = 50; range(1.0, 100_000.0),
        /// Hessian-vector products: nested autodiff or central differences (f64)
        pub hvp: Hvp = Hvp::Exact,
        /// precision of Hessian-vector products
        pub hessian_dtype: Precision = Precision::F64,
        /// save theta every k epochs (0: never)
        pub checkpoint_every: usize = 0; range(0.0, 1e9),
        /// also save theta at these epochs
        pub checkpoint_at: Vec<usize> = Vec::new(); range(0.0, 1e9),
        /// also save theta at every epoch of [from, to]
        pub checkpoint_dense: Vec<usize> = Vec::new(); range(0.0, 1e9) len(0, 2),
        /// spike-triggered checkpoints when the loss exceeds factor x the lowest of the last
        /// `spike_lookback` epochs (null: off)
        pub spike_factor: Option<f64>; open_range(1.0, 1e12),
        /// epochs the spike rule compares with (1: the paper's rule)
        pub spike_lookback: usize = 1; range(1.0, 1e9),
        /// epochs before a spike that are saved
        pub spike_window: usize = 50; range(0.0, 1e9),
        /// at most this many spikes are checkpointed
        pub spike_max: usize = 3; range(0.0, 1e6),
        /// dense checkpoints of one spike stop after this many epochs
        pub spike_max_epochs: usize = 2000; range(1.0, 1e9),
        /// SGD batch order seed
        pub shuffle_seed: u64 = 0; range(0.0, 9.0e15),
        /// stop once the training loss (of the `fit_on` split) is at or below this fraction of
        /// its epoch-0 value, 0 < f < 1; `epochs` is then the most (null: train all `epochs`)
        pub stop_loss_fraction: Option<f64>; open_range(0.0, 1.0),
        /// save resumable state every k epochs (0: never); an interrupted stage resumes from it
        pub snapshot_every: usize = 0; range(0.0, 1e9),
        /// when the loss becomes non-finite: fail the stage (fail), or keep the log and
        /// checkpoints up to there as the result (stop: `meta.json` says `diverged_at`), for
        /// runs whose divergence is itself a finding (a reading of the paper, a sweep)
        pub on_divergence: OnDivergence = OnDivergence::Fail,
    }
}

spike_config::choice_enum! {
    pub(crate) enum OnDivergence {
        Fail = "fail",
        Stop = "stop",
    }
}

impl TrainParams {
    pub(crate) fn optimizer(&self) -> Optimizer {
        match self.optimizer {
            OptimizerName::Gd => Optimizer::Gd,
            OptimizerName::HeavyBall => Optimizer::HeavyBall {
                beta: self.momentum,
            },
            OptimizerName::Nesterov => Optimizer::Nesterov {
                beta: self.momentum,
            },
            OptimizerName::Adam => Optimizer::Adam {
                beta1: self.adam_beta1,
                beta2: self.adam_beta2,
                eps: self.adam_eps,
            },
        }
    }

    /// The measure the edge of stability is judged on, as logged (`lambda_max` or the log's
    /// `stability`), its name, and its threshold: Adam's preconditioned sharpness, the batch
    /// sharpness of mini-batch runs, else lambda_max; 2/eta for GD, the optimiser's own line
    /// otherwise.
    pub(crate) fn edge(&self) -> Edge {
        let opt = self.optimizer();
        let (measure, stability_column) = match (opt, self.batch_size) {
            (Optimizer::Adam { .. }, _) => (opt.measure(), true),
            (_, Some(_)) => ("batch sharpness E[g_B^T H_B g_B / |g_B|^2]", true),
            _ => ("lambda_max", false),
        };
        Edge {
            value: opt.threshold(self.lr),
            name: opt.threshold_name(),
            measure,
            stability_column,
        }
    }
}

/// Where a run's edge of stability lies (see [`TrainParams::edge`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Edge {
    pub value: f64,
    /// The line's name, e.g. "2/eta".
    pub name: &'static str,
    /// What is compared with it.
    pub measure: &'static str,
    /// Whether the measure is the log's `stability` column (else `lambda_max`).
    pub stability_column: bool,
}

impl Kind for Train {
    const NAME: &'static str = "train";
    const VERSION: u32 = 2;
    const DOC: &'static str = "Train a network (GD, SGD, heavy-ball or Nesterov momentum, Adam) with per-epoch log, lambda_max and the optimiser's own stability measure, and checkpoints";
    const NUMERIC: bool = true;
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("data", DATASETS),
        InputSpec::optional("init", &["train"]),
    ];
    const EXTENDS: Option<&'static str> = Some("epochs");
    type Params = TrainParams;
    type Output = ();

    fn run(&self, p: &TrainParams, ctx: &mut StageContext) -> Result<()> {
        let model = ModelSpec::from_params(&p.model)?;
        let data_in = ctx.input("data")?;
        let train_data = data::load(data_in, p.fit_on.as_str())?;
        let test_data = if p.fit_on == Split::Train && data::has(data_in, "test") {
            Some(data::load(data_in, "test")?)
        } else {
            None
        };
        check_shapes(&model.arch, &train_data, data_in)?;
        let theta0 = initial_theta(ctx, &model)?;
        let spec = train_spec(p)?;
        let snapshot_path = ctx.scratch_dir()?.join("state.postcard");
        let resume = resumed(ctx, &snapshot_path, model.arch.dim())?;
        let extend_path = ctx.output_path(EXTEND_FILE)?;
        let bar = ctx.progress(spec.epochs as u64 + 1, "epochs");
        let job = Job {
            backend: backend_of(ctx)?,
            hvp: p.hvp,
            model: &model,
            train: &train_data,
            test: test_data.as_ref(),
            hessian_precision: p.hessian_dtype,
            spec: &spec,
            start: resume.unwrap_or_else(|| TrainState::new(theta0)),
            snapshot_path: &snapshot_path,
            extend_path: &extend_path,
            on_epoch: &|e| bar.set_position(e as u64 + 1),
        };
        let (state, diverged_at) = finished(ctx, job.run(), p.on_divergence)?;
        ctx.write(&log_table(&state))?;
        let ck = &state.checkpoints;
        ctx.write(&CheckpointTable {
            epoch: ck.iter().map(|c| c.epoch as i64).collect(),
            reason: ck.iter().map(|c| c.reason.clone()).collect(),
            theta: ck.iter().map(|c| c.theta.clone()).collect(),
        })?;
        let method = p.hvp.method();
        let edge = p.edge();
        ctx.write_json(
            "meta.json",
            &serde_json::json!({
                "optimizer": p.optimizer.as_str(),
                "stability_measure": edge.measure,
                "stability_threshold": edge.value,
                "stability_threshold_name": edge.name,
                "dim": model.arch.dim(),
                "hvp_method": method.name(),
                "batch_norm": p.model.batch_norm.as_str(),
                "examples": train_data.len(),
                "final_loss": state.rows.last().map(|r| r.loss),
                "diverged_at": diverged_at,
            }),
        )
    }
}

/// The initial parameters: the `init` input's final theta, or a fresh initialisation.
fn initial_theta(ctx: &StageContext, model: &ModelSpec) -> Result<Vec<f64>> {
    let theta0 = match ctx.inputs("init") {
        Ok(_) => {
            let theta = final_theta(ctx.input("init")?)?;
            if theta.len() != model.arch.dim() {
                bail!(
                    "the `init` input has {} parameters but this model has {}",
                    theta.len(),
                    model.arch.dim()
                );
            }
            theta
        }
        Err(_) => model.arch.init(&model.init, model.seed),
    };
    Ok(theta0)
}

/// Where training resumes: this stage's own snapshot (an interrupted run), else the cached run
/// it extends, else nowhere.
fn resumed(ctx: &StageContext, snapshot_path: &Path, dim: usize) -> Result<Option<TrainState>> {
    let resume = match read_snapshot(snapshot_path) {
        Some(s) => {
            ctx.log(&format!("resuming from the snapshot at epoch {}", s.epoch));
            Some(s)
        }
        None => match ctx.extends() {
            Some(base) => {
                let state = extension(base, dim)?;
                if let Some(s) = &state {
                    ctx.log(&format!(
                        "extending the cached run {} of {} epochs from epoch {}",
                        &base.key[..12],
                        base.params::<TrainParams>()?.epochs,
                        s.epoch
                    ));
                }
                state
            }
            None => None,
        },
    };
    Ok(resume)
}

/// The trained state and the epoch it diverged at: a divergence ends the run there with
/// `on_divergence: stop`, and fails the stage otherwise, with the log up to it kept.
fn finished(
    ctx: &StageContext,
    run: Result<TrainState>,
    on_divergence: OnDivergence,
) -> Result<(TrainState, Option<usize>)> {
    Ok(match run {
        Ok(s) => (s, None),
        Err(e) => match e.downcast::<Diverged>() {
            Ok(d) if on_divergence == OnDivergence::Stop => {
                ctx.log(&format!(
                    "{d}: kept the run up to there (on_divergence: stop)"
                ));
                (d.state, Some(d.epoch))
            }
            Ok(d) => {
                let path = ctx.scratch_dir()?.join("diverged-log.parquet");
                spike_engine::table::write_parquet(&path, &mut log_table(&d.state).to_frame()?)?;
                let note = format!("the log up to epoch {} is in {}", d.epoch, path.display());
                return Err(anyhow::Error::new(d).context(note));
            }
            Err(e) => return Err(e),
        },
    })
}

fn check_shapes(arch: &Arch, data: &Data, input: &Input) -> Result<()> {
    let want = arch.input_shape();
    if data.x_shape[1..] != want[..] || data.y_dim != arch.outputs() {
        bail!(
            "input `{}` has examples of shape {:?} with {} targets, but the model wants {:?} with {}",
            input.stage,
            &data.x_shape[1..],
            data.y_dim,
            want,
            arch.outputs()
        );
    }
    Ok(())
}

fn train_spec(p: &TrainParams) -> Result<TrainSpec> {
    let every = |k: usize| Some(k).filter(|&k| k > 0);
    Ok(TrainSpec {
        lr: p.lr,
        optimizer: p.optimizer(),
        epochs: p.epochs,
        batch_size: p.batch_size,
        shuffle_seed: p.shuffle_seed,
        sharpness: every(p.sharpness_every).map(|k| Sharpness {
            every: k,
            lanczos: LanczosConfig {
                k: 1,
                max_iter: p.lanczos_max_iter,
                tol: p.lanczos_tol,
                seed: 1,
            },
        }),
        checkpoints: CheckpointPlan {
            every: every(p.checkpoint_every),
            at: p.checkpoint_at.clone(),
            dense: match p.checkpoint_dense.as_slice() {
                [] => None,
                [a, b] if a <= b => Some((*a, *b)),
                other => {
                    bail!("`checkpoint_dense` must be [from, to] with from <= to, got {other:?}")
                }
            },
            spike: p.spike_factor.map(|factor| SpikeTrigger {
                factor,
                lookback: p.spike_lookback,
                window: p.spike_window,
                max_spikes: p.spike_max,
                max_epochs: p.spike_max_epochs,
            }),
        },
        test_every: p.test_every,
        snapshot_every: p.snapshot_every,
        stop_fraction: match p.stop_loss_fraction {
            Some(f) if !(f > 0.0 && f < 1.0) => {
                bail!("`stop_loss_fraction` must be in (0, 1), got {f}")
            }
            f => f,
        },
    })
}

fn log_table(state: &TrainState) -> TrainLog {
    let r = &state.rows;
    TrainLog {
        epoch: r.iter().map(|r| r.epoch as i64).collect(),
        loss: r.iter().map(|r| r.loss).collect(),
        test_loss: r.iter().map(|r| r.test_loss).collect(),
        lambda_max: r.iter().map(|r| r.lambda_max).collect(),
        lambda_residual: r.iter().map(|r| r.lambda_residual).collect(),
        lambda_matvecs: r
            .iter()
            .map(|r| r.lambda_matvecs.map(|m| m as f64))
            .collect(),
        stability: Some(r.iter().map(|r| r.stability).collect()),
    }
}

struct Job<'a> {
    backend: BackendKind,
    hvp: Hvp,
    model: &'a ModelSpec,
    train: &'a Data,
    test: Option<&'a Data>,
    hessian_precision: Precision,
    spec: &'a TrainSpec,
    start: TrainState,
    snapshot_path: &'a Path,
    extend_path: &'a Path,
    on_epoch: &'a (dyn Fn(usize) + Sync),
}

/// The state a longer run of this stage continues from.
const EXTEND_FILE: &str = "extend.postcard";

/// The state a cached shorter run of this stage had at the start of its last epoch, with the
/// checkpoints it had saved before that epoch (`None` if it left no such state: it stopped
/// early, or predates it).
fn extension(base: &Input, dim: usize) -> Result<Option<TrainState>> {
    if !base.has(EXTEND_FILE) {
        return Ok(None);
    }
    let path = base.file(EXTEND_FILE)?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut state: TrainState = postcard::from_bytes(&bytes)
        .with_context(|| format!("decoding {EXTEND_FILE} of the cached run {}", base.key))?;
    if state.theta.len() != dim || state.rows.len() != state.epoch {
        bail!(
            "{EXTEND_FILE} of the cached run {} does not fit this model ({} parameters, {} log rows at epoch {})",
            base.key,
            state.theta.len(),
            state.rows.len(),
            state.epoch
        );
    }
    state.checkpoints = checkpoints(base)?
        .into_iter()
        .filter(|c| c.0 < state.epoch)
        .map(|(epoch, reason, theta)| Checkpoint {
            epoch,
            reason,
            theta,
        })
        .collect();
    Ok(Some(state))
}

/// A snapshot left by an interrupted run of this very stage (its scratch directory is per key);
/// an unreadable one is ignored (the run starts over).
fn read_snapshot(path: &Path) -> Option<TrainState> {
    let bytes = std::fs::read(path).ok()?;
    postcard::from_bytes(&bytes).ok()
}

fn write_snapshot(path: &Path, state: &TrainState) -> Result<()> {
    let bytes = postcard::to_stdvec(state).context("encoding the training snapshot")?;
    spike_engine::cache::write_atomic(path, &bytes)
}

impl<'a> Job<'a> {
    fn run(self) -> Result<TrainState> {
        let m = self.model;
        let on = |data: &'a Data, precision, method| {
            evaluator(self.backend, m.objective(data, precision), method)
        };
        let exact = Hvp::Exact.method();
        let train_obj = on(self.train, m.precision, exact);
        let hessian_obj = on(self.train, self.hessian_precision, self.hvp.method());
        let test_obj = self.test.map(|t| on(t, m.precision, exact));
        let batch = |rows: &[usize]| -> Box<dyn Derivatives> {
            let sub = Supervised {
                arch: &m.arch,
                data: Cow::Owned(self.train.rows(rows)),
                loss: m.loss,
                precision: m.precision,
            };
            evaluator(self.backend, sub, exact)
        };
        let objs = Objectives {
            train: &*train_obj,
            hessian: &*hessian_obj,
            test: test_obj.as_deref().map(|t| t as &dyn Derivatives),
            batch: Some(&batch),
            n_examples: self.train.len(),
        };
        let mut progress = |e: usize, _: usize| (self.on_epoch)(e);
        let mut snapshot = |s: &TrainState| write_snapshot(self.snapshot_path, s);
        let mut extendable = |s: &TrainState| write_snapshot(self.extend_path, s);
        let mut hooks = Hooks {
            progress: &mut progress,
            snapshot: &mut snapshot,
            extendable: &mut extendable,
        };
        train(&objs, self.spec, self.start, &mut hooks)
    }
}
