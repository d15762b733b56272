//! `train`: trains one of the paper's networks with full-batch GD or SGD, logging the loss (and
//! test loss, and lambda_max every k epochs) per epoch and saving checkpoints of theta.
//!
//! Inputs: `data` (a dataset stage) and optionally `init` (a `train` stage whose final theta is
//! the starting point, e.g. theta_test continues theta_train on the test set).
//! Artifacts: `log.parquet` (epoch, loss, test_loss, lambda_max, lambda_residual,
//! lambda_matvecs), `checkpoints.parquet` (epoch, reason, theta), `meta.json`.

use std::borrow::Cow;

use anyhow::{Context, Result, bail};
use burn::backend::Backend;

use crate::config::{ParamSpec, Params};
use crate::engine::context::{Input, StageContext};
use crate::engine::kind::{ParamsExt, StageKind};
use crate::linalg::lanczos::LanczosConfig;
use crate::nn::backend::{OnBackend, Precision, with_backend};
use crate::nn::data::{Data, Loss, Supervised};
use crate::nn::init::Init;
use crate::nn::model::Arch;
use crate::nn::objective::HvpMethod;
use crate::nn::ops::Activation;
use crate::nn::train::{
    CheckpointPlan, Diverged, Hooks, Objectives, Sharpness, SpikeTrigger, TrainSpec, TrainState,
    train,
};
use crate::table::{TableBuilder, col_f64_lists, col_i64};

use super::{backend_of, data};

pub const MODELS: &[&str] = &["fnn", "cnn2", "cnn3", "cnn5", "vgg11"];

/// The parameters that define a network and its loss (shared by every stage that rebuilds the
/// model of a `train` stage from its parameters).
pub fn model_params() -> Vec<ParamSpec> {
    vec![
        ParamSpec::choice(
            "model",
            MODELS,
            "fnn (two-layer, 1-D input), cnn2/cnn3/cnn5 (Tables A.1-A.3), vgg11",
        ),
        ParamSpec::int("width", "hidden width m of the fnn").range(1.0, 100_000.0).default(20i64),
        ParamSpec::choice(
            "activation",
            &["tanh", "relu", "sigmoid", "leaky_relu"],
            "fnn activation",
        )
        .default("tanh"),
        ParamSpec::float("leaky_slope", "negative slope of leaky_relu").range(0.0, 1.0).default(0.01),
        ParamSpec::bool("out_bias", "fnn output bias").default(false),
        ParamSpec::float(
            "vgg_width",
            "channel multiplier of vgg11 (1 = the paper's network)",
        )
        .positive(8.0)
        .default(1.0),
        ParamSpec::choice(
            "batch_norm",
            &["batch_statistics"],
            "vgg11 batch-norm mode, in training and in every Hessian: the statistics of the batch the loss is evaluated on (the full batch for GD and for the Hessian of the training loss)",
        )
        .default("batch_statistics"),
        ParamSpec::choice(
            "loss",
            &["mse", "half_mse", "cross_entropy"],
            "mse: mean over all output elements of (f - y)^2; half_mse: half that",
        )
        .default("mse"),
        ParamSpec::choice(
            "dtype",
            &["f32", "f64"],
            "precision of the forward/backward passes",
        )
        .default("f64"),
        ParamSpec::choice(
            "init",
            &["default", "gaussian", "xavier", "kaiming"],
            "default: gaussian for fnn, xavier for cnns, kaiming for vgg11",
        )
        .default("default"),
        ParamSpec::float("init_gamma", "gaussian init variance m^-gamma").range(0.0, 10.0).default(1.0),
        ParamSpec::int("seed", "initialisation seed").range(0.0, 9.0e15).default(0i64),
    ]
}

pub struct ModelSpec {
    pub arch: Arch,
    pub loss: Loss,
    pub precision: Precision,
    pub init: Init,
    pub seed: u64,
}

impl ModelSpec {
    pub fn from_params(p: &Params) -> Result<ModelSpec> {
        let model = p.str("model")?;
        let arch = if model == "fnn" {
            let width = p.usize("width")?;
            if width == 0 {
                bail!("`width` must be positive");
            }
            Arch::Fnn {
                width,
                act: Activation::parse(p.str("activation")?, p.f64("leaky_slope")?)?,
                out_bias: p.bool("out_bias")?,
            }
        } else {
            Arch::named(model, p.f64("vgg_width")?)?
        };
        let init = match (p.str("init")?, &arch) {
            ("default", Arch::Fnn { .. }) => Init::Gaussian {
                gamma: p.f64("init_gamma")?,
            },
            ("default", Arch::Cnn { .. }) => Init::Xavier,
            ("default", Arch::Vgg { .. }) => Init::Kaiming,
            (name, _) => Init::parse(name, p.f64("init_gamma")?)?,
        };
        Ok(ModelSpec {
            arch,
            loss: Loss::parse(p.str("loss")?)?,
            precision: Precision::parse(p.str("dtype")?)?,
            init,
            seed: p.i64("seed")? as u64,
        })
    }

    pub fn objective<'a>(&'a self, data: &'a Data, precision: Precision) -> Supervised<'a> {
        Supervised::new(&self.arch, data, self.loss, precision)
    }
}

/// Checkpoints of a `train` stage: (epoch, reason, theta), in epoch order.
pub fn checkpoints(input: &Input) -> Result<Vec<(usize, String, Vec<f64>)>> {
    let df = input.table("checkpoints")?;
    let epochs = col_i64(&df, "epoch")?;
    let reasons = crate::table::col_str(&df, "reason")?;
    let thetas = col_f64_lists(&df, "theta")?;
    Ok(epochs
        .into_iter()
        .zip(reasons)
        .zip(thetas)
        .map(|((e, r), t)| (e as usize, r, t))
        .collect())
}

/// The last checkpoint (the trained theta) of a `train` stage.
pub fn final_theta(input: &Input) -> Result<Vec<f64>> {
    checkpoints(input)?
        .into_iter()
        .max_by_key(|c| c.0)
        .map(|c| c.2)
        .with_context(|| format!("input `{}` has no checkpoints", input.stage))
}

pub struct Train;

impl StageKind for Train {
    fn name(&self) -> &'static str {
        "train"
    }
    fn version(&self) -> u32 {
        2
    }
    fn doc(&self) -> &'static str {
        "Train a network (GD or SGD) with per-epoch log, lambda_max tracking and checkpoints"
    }
    fn params(&self) -> Vec<ParamSpec> {
        let mut v = model_params();
        v.extend([
            ParamSpec::float("lr", "learning rate").positive(1e6),
            ParamSpec::int("epochs", "number of epochs (updates for GD)").range(1.0, 1e8),
            ParamSpec::int("batch_size", "mini-batch size for SGD (null: full-batch GD)").range(1.0, 1e9).optional(),
            ParamSpec::choice("fit_on", &["train", "test"], "which split to train on (test: the paper's theta_test)").default("train"),
            ParamSpec::int("test_every", "test loss every k epochs when the data has a test split (0: never)").range(0.0, 1e9).default(0i64),
            ParamSpec::int("sharpness_every", "lambda_max every k epochs (0: never)").range(0.0, 1e9).default(0i64),
            ParamSpec::float("lanczos_tol", "relative Ritz residual tolerance of lambda_max").positive(1.0).default(1e-6),
            ParamSpec::int("lanczos_max_iter", "maximum Lanczos iterations per lambda_max").range(1.0, 100_000.0).default(50i64),
            ParamSpec::choice("hvp", &["exact", "central"], "Hessian-vector products: nested autodiff or central differences (f64)").default("exact"),
            ParamSpec::choice("hessian_dtype", &["f32", "f64"], "precision of Hessian-vector products").default("f64"),
            ParamSpec::int("checkpoint_every", "save theta every k epochs (0: never)").range(0.0, 1e9).default(0i64),
            ParamSpec::ints("checkpoint_at", "also save theta at these epochs").range(0.0, 1e9).default(Vec::<i64>::new()),
            ParamSpec::ints("checkpoint_dense", "also save theta at every epoch of [from, to]").range(0.0, 1e9).len(0, 2).default(Vec::<i64>::new()),
            ParamSpec::float("spike_factor", "spike-triggered checkpoints when the loss exceeds factor x the lowest of the last `spike_lookback` epochs (null: off)").open_range(1.0, 1e12).optional(),
            ParamSpec::int("spike_lookback", "epochs the spike rule compares with (1: the paper's rule)").range(1.0, 1e9).default(1i64),
            ParamSpec::int("spike_window", "epochs before a spike that are saved").range(0.0, 1e9).default(50i64),
            ParamSpec::int("spike_max", "at most this many spikes are checkpointed").range(0.0, 1e6).default(3i64),
            ParamSpec::int("spike_max_epochs", "dense checkpoints of one spike stop after this many epochs").range(1.0, 1e9).default(2000i64),
            ParamSpec::int("shuffle_seed", "SGD batch order seed").range(0.0, 9.0e15).default(0i64),
            ParamSpec::float("stop_loss_fraction", "stop once the training loss (of the `fit_on` split) is at or below this fraction of its epoch-0 value, 0 < f < 1; `epochs` is then the most (null: train all `epochs`)").open_range(0.0, 1.0).optional(),
            ParamSpec::int("snapshot_every", "save resumable state every k epochs (0: never); an interrupted stage resumes from it").range(0.0, 1e9).default(0i64),
        ]);
        v
    }
    fn numeric(&self) -> bool {
        true
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let model = ModelSpec::from_params(p)?;
        let data_in = ctx.input("data")?;
        let fit_on = p.str("fit_on")?;
        let train_data = data::load(data_in, fit_on)?;
        let test_data = if fit_on == "train" && data::has(data_in, "test") {
            Some(data::load(data_in, "test")?)
        } else {
            None
        };
        check_shapes(&model.arch, &train_data, data_in)?;
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
        let spec = train_spec(p)?;
        let snapshot_path = ctx.scratch_dir()?.join("state.postcard");
        let resume = read_snapshot(&snapshot_path);
        if let Some(s) = &resume {
            ctx.log(&format!("resuming from the snapshot at epoch {}", s.epoch));
        }
        let bar = ctx.progress(spec.epochs as u64 + 1, "epochs");
        let job = Job {
            model: &model,
            train: &train_data,
            test: test_data.as_ref(),
            hessian_precision: Precision::parse(p.str("hessian_dtype")?)?,
            spec: &spec,
            start: resume.unwrap_or_else(|| TrainState::new(theta0)),
            snapshot_path: &snapshot_path,
            on_epoch: &|e| bar.set_position(e as u64 + 1),
        };
        let state = match with_backend(backend_of(ctx)?, job) {
            Ok(s) => s,
            Err(e) => {
                if let Some(d) = e.downcast_ref::<Diverged>() {
                    let path = ctx.scratch_dir()?.join("diverged-log.parquet");
                    crate::table::write_parquet(&path, &mut log_table(&d.state)?)?;
                    let note = format!("the log up to epoch {} is in {}", d.epoch, path.display());
                    return Err(e.context(note));
                }
                return Err(e);
            }
        };
        ctx.write_table("log", &mut log_table(&state)?)?;
        let mut ck = TableBuilder::new()
            .i64(
                "epoch",
                state.checkpoints.iter().map(|c| c.epoch as i64).collect(),
            )
            .str(
                "reason",
                state.checkpoints.iter().map(|c| c.reason.clone()).collect(),
            )
            .f64_lists(
                "theta",
                state.checkpoints.iter().map(|c| c.theta.clone()).collect(),
            )
            .build()?;
        ctx.write_table("checkpoints", &mut ck)?;
        let method = hvp_method(p)?;
        ctx.write_json(
            "meta.json",
            &serde_json::json!({
                "dim": model.arch.dim(),
                "hvp_method": method.name(),
                "examples": train_data.len(),
                "final_loss": state.rows.last().map(|r| r.loss),
            }),
        )
    }
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

pub fn hvp_method(p: &Params) -> Result<HvpMethod> {
    Ok(match p.str("hvp")? {
        "central" => HvpMethod::CentralDifference { rel_eps: 1e-5 },
        _ => HvpMethod::Exact,
    })
}

fn train_spec(p: &Params) -> Result<TrainSpec> {
    let every =
        |name: &str| -> Result<Option<usize>> { Ok(Some(p.usize(name)?).filter(|&k| k > 0)) };
    Ok(TrainSpec {
        lr: p.f64("lr")?,
        epochs: p.usize("epochs")?,
        batch_size: p.opt_usize("batch_size")?,
        shuffle_seed: p.i64("shuffle_seed")? as u64,
        sharpness: every("sharpness_every")?
            .map(|k| -> Result<Sharpness> {
                Ok(Sharpness {
                    every: k,
                    lanczos: LanczosConfig {
                        k: 1,
                        max_iter: p.usize("lanczos_max_iter")?,
                        tol: p.f64("lanczos_tol")?,
                        seed: 1,
                    },
                    method: hvp_method(p)?,
                })
            })
            .transpose()?,
        checkpoints: CheckpointPlan {
            every: every("checkpoint_every")?,
            at: p.usizes("checkpoint_at")?,
            dense: match p.usizes("checkpoint_dense")?.as_slice() {
                [] => None,
                [a, b] if a <= b => Some((*a, *b)),
                other => {
                    bail!("`checkpoint_dense` must be [from, to] with from <= to, got {other:?}")
                }
            },
            spike: p
                .opt_f64("spike_factor")?
                .map(|factor| -> Result<SpikeTrigger> {
                    Ok(SpikeTrigger {
                        factor,
                        lookback: p.usize("spike_lookback")?,
                        window: p.usize("spike_window")?,
                        max_spikes: p.usize("spike_max")?,
                        max_epochs: p.usize("spike_max_epochs")?,
                    })
                })
                .transpose()?,
        },
        test_every: p.usize("test_every")?,
        snapshot_every: p.usize("snapshot_every")?,
        stop_fraction: match p.opt_f64("stop_loss_fraction")? {
            Some(f) if !(f > 0.0 && f < 1.0) => {
                bail!("`stop_loss_fraction` must be in (0, 1), got {f}")
            }
            f => f,
        },
    })
}

fn log_table(state: &TrainState) -> Result<polars::prelude::DataFrame> {
    let r = &state.rows;
    TableBuilder::new()
        .i64("epoch", r.iter().map(|r| r.epoch as i64).collect())
        .f64("loss", r.iter().map(|r| r.loss).collect())
        .opt_f64("test_loss", r.iter().map(|r| r.test_loss).collect())
        .opt_f64("lambda_max", r.iter().map(|r| r.lambda_max).collect())
        .opt_f64(
            "lambda_residual",
            r.iter().map(|r| r.lambda_residual).collect(),
        )
        .opt_f64(
            "lambda_matvecs",
            r.iter()
                .map(|r| r.lambda_matvecs.map(|m| m as f64))
                .collect(),
        )
        .build()
}

struct Job<'a> {
    model: &'a ModelSpec,
    train: &'a Data,
    test: Option<&'a Data>,
    hessian_precision: Precision,
    spec: &'a TrainSpec,
    start: TrainState,
    snapshot_path: &'a std::path::Path,
    on_epoch: &'a (dyn Fn(usize) + Sync),
}

/// A snapshot left by an interrupted run of this very stage (its scratch directory is per key);
/// an unreadable one is ignored (the run starts over).
fn read_snapshot(path: &std::path::Path) -> Option<TrainState> {
    let bytes = std::fs::read(path).ok()?;
    postcard::from_bytes(&bytes).ok()
}

fn write_snapshot(path: &std::path::Path, state: &TrainState) -> Result<()> {
    let bytes = postcard::to_stdvec(state).context("encoding the training snapshot")?;
    crate::engine::cache::write_atomic(path, &bytes)
}

impl OnBackend for Job<'_> {
    type Output = Result<TrainState>;
    fn run<B: Backend>(self, device: B::Device) -> Result<TrainState> {
        let m = self.model;
        let train_obj = m.objective(self.train, m.precision);
        let hessian_obj = m.objective(self.train, self.hessian_precision);
        let test_obj = self.test.map(|t| m.objective(t, m.precision));
        let batch = |rows: &[usize]| Supervised {
            arch: &m.arch,
            data: Cow::Owned(self.train.rows(rows)),
            loss: m.loss,
            precision: m.precision,
        };
        let objs = Objectives {
            train: &train_obj,
            hessian: &hessian_obj,
            test: test_obj.as_ref(),
            batch: Some(&batch),
            n_examples: self.train.len(),
        };
        let mut progress = |e: usize, _: usize| (self.on_epoch)(e);
        let mut snapshot = |s: &TrainState| write_snapshot(self.snapshot_path, s);
        let mut hooks = Hooks {
            progress: &mut progress,
            snapshot: &mut snapshot,
        };
        train::<B, _>(&objs, self.spec, self.start, &mut hooks, &device)
    }
}
