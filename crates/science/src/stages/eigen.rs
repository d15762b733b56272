//! `hessian_eigen`: eigenpairs of the training-loss Hessian at a checkpoint of a `train` stage:
//! all of them from the dense Hessian (built from HVPs, for small models) or the top k by
//! Lanczos. Every result records how its HVPs were computed and its residuals.
//!
//! `eigen_projection`: the paper's Sec 4 analyses against those eigenpairs: the projections of
//! theta_other - theta_base on each eigenvector and the cumulative sum of lambda_i^2 (Fig 4.2),
//! the test loss L(i) after removing the difference along the first i directions (Fig 4.1(a)),
//! and, for 1-D nets, the output change f(theta + nu_i / sqrt(lambda_i)) - f(theta) along the
//! first directions with its LFP (Fig 4.1(b)), and `fit.json`: the first and last training loss
//! of both runs (whether each reached a minimum).

use anyhow::{Context, Result, bail};

use crate::analysis::frequency::lfp;
use crate::claims::sec4::{Fits, RunFit};
use crate::plot::linspace;
use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;
use spike_engine::progress::Bar;
use spike_nn::backend::{BackendKind, Precision};
use spike_nn::derivatives::HessianOp;
use spike_nn::eval::evaluator;
use spike_nn::linalg::dense::{axpy, dot, eigh, from_columns, matvec, norm};
use spike_nn::linalg::lanczos::lanczos;
use spike_nn::objective::HvpMethod;

use super::DATASETS;
use super::backend_of;
use super::hessian::HessianParams;
use super::train::final_theta;
use super::trained::{Trained, diverged_at, read_log};

pub(crate) struct HessianEigen;

pub struct Eigenpairs {
    pub values: Vec<f64>,
    pub vectors: Vec<Vec<f64>>,
}

spike_engine::table_schema! {
    /// Hessian eigenpairs, largest eigenvalue first.
    pub(crate) struct EigenTable in "eigen" {
        pub index: Vec<i64>,
        pub eigenvalue: Vec<f64>,
        /// |H v - lambda v|.
        pub residual: Vec<f64>,
        pub vector: Vec<Vec<f64>>,
    }
}

pub(crate) fn read_eigen(input: &Input) -> Result<Eigenpairs> {
    let t: EigenTable = input.read()?;
    Ok(Eigenpairs {
        values: t.eigenvalue,
        vectors: t.vector,
    })
}

spike_config::choice_enum! {
    pub(crate) enum EigenMethod {
        /// All eigenpairs from the dense Hessian (small models).
        Dense = "dense",
        /// The top k.
        Lanczos = "lanczos",
    }
}

spike_config::stage_params! {
    pub(crate) struct HessianEigenParams [hessian: HessianParams] {
        /// dense: all eigenpairs (small models); lanczos: the top k
        pub method: EigenMethod = EigenMethod::Dense,
        /// eigenpairs wanted from Lanczos
        pub k: usize = 20; range(1.0, 100_000.0),
        /// epoch of the checkpoint (default: the final one)
        pub at: Option<usize>; range(0.0, 1e9),
    }
}

impl Kind for HessianEigen {
    const NAME: &'static str = "hessian_eigen";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Hessian eigenpairs at a checkpoint: dense (all) or Lanczos (top k)";
    const NUMERIC: bool = true;
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("train", &["train"]),
        InputSpec::one("data", DATASETS),
    ];
    type Params = HessianEigenParams;
    type Output = ();

    fn run(&self, p: &HessianEigenParams, ctx: &mut StageContext) -> Result<()> {
        let trained = Trained::from_roles(ctx, "train", "data")?;
        let theta = match p.at {
            None => final_theta(trained.input)?,
            Some(e) => trained
                .checkpoints()?
                .into_iter()
                .find(|c| c.0 == e)
                .map(|c| c.2)
                .with_context(|| {
                    format!("`{}` has no checkpoint at epoch {e}", trained.input.stage)
                })?,
        };
        let settings = &p.hessian;
        let obj = trained.objective(settings.hessian_dtype);
        let eval = evaluator(backend_of(ctx)?, obj, settings.method());
        let n = theta.len();
        let mut op = eval.hessian_at(&theta);
        let pairs = match p.method {
            EigenMethod::Dense => dense_pairs(&mut op, n, &ctx.progress(n as u64, "HVP columns"))?,
            EigenMethod::Lanczos => {
                let bar = ctx.progress(settings.lanczos_max_iter.max(p.k) as u64, "HVPs (at most)");
                lanczos_pairs(&mut op, n, p.k, settings, &bar)?
            }
        };
        let Decomposition {
            values,
            vectors,
            residuals,
            meta,
        } = pairs;
        ctx.write(&EigenTable {
            index: (1..=values.len() as i64).collect(),
            eigenvalue: values,
            residual: residuals,
            vector: vectors,
        })?;
        let mut meta = meta;
        meta["hvp_method"] = settings.method().name().into();
        meta["dim"] = n.into();
        ctx.write_json("meta.json", &meta)
    }
}

/// Eigenpairs of the Hessian with their residuals |H v - lambda v|, and how they were computed.
struct Decomposition {
    values: Vec<f64>,
    vectors: Vec<Vec<f64>>,
    residuals: Vec<f64>,
    meta: serde_json::Value,
}

/// Every eigenpair, from the dense Hessian built column by column from HVPs.
fn dense_pairs(op: &mut HessianOp, n: usize, bar: &Bar) -> Result<Decomposition> {
    if n > 20_000 {
        bail!("the dense Hessian of {n} parameters is too large; use method: lanczos");
    }
    let h = from_columns(n, &mut |e| {
        let column = op(e);
        bar.inc(1);
        column
    })?;
    let (values, vectors) = eigh(&h)?;
    let residuals: Vec<f64> = values
        .iter()
        .zip(&vectors)
        .map(|(l, v)| {
            let mut r = matvec(&h, v);
            axpy(-l, v, &mut r);
            norm(&r)
        })
        .collect();
    Ok(Decomposition {
        values,
        vectors,
        residuals,
        meta: serde_json::json!({ "method": "dense", "matvecs": n }),
    })
}

/// The `k` largest eigenpairs by Lanczos.
fn lanczos_pairs(
    op: &mut HessianOp,
    n: usize,
    k: usize,
    settings: &HessianParams,
    bar: &Bar,
) -> Result<Decomposition> {
    let e = lanczos(
        n,
        &mut |v| {
            bar.inc(1);
            op(v)
        },
        &settings.lanczos(k),
        None,
    )?;
    let meta = serde_json::json!({ "method": "lanczos", "matvecs": e.matvecs, "iterations": e.iterations, "converged": e.converged, "tol": settings.lanczos_tol });
    Ok(Decomposition {
        values: e.values,
        vectors: e.vectors,
        residuals: e.residuals,
        meta,
    })
}

pub(crate) struct EigenProjection;

/// How far a run whose theta a projection uses trained: its training loss at its first and last
/// epoch (of the split it trained on).
fn run_fit(input: &Input) -> Result<RunFit> {
    let log = read_log(input)?;
    Ok(RunFit {
        stage: input.stage.clone(),
        epochs: log.epoch.last().copied().unwrap_or(0),
        initial_loss: log.loss.first().copied().unwrap_or(f64::NAN),
        final_loss: log.loss.last().copied().unwrap_or(f64::NAN),
        diverged_at: diverged_at(input)?,
    })
}

/// The two runs a projection compares, and the eigenpairs at the base.
struct Runs<'a> {
    base: &'a Trained<'a>,
    theta_base: &'a [f64],
    theta_other: &'a [f64],
    eig: &'a Eigenpairs,
}

/// L(i): the test loss after removing the difference along the first i directions, every
/// `step`.
fn removal(
    ctx: &StageContext,
    runs: &Runs,
    proj: &[f64],
    step: usize,
    backend: BackendKind,
) -> Result<()> {
    let Runs {
        base,
        theta_base,
        theta_other,
        eig,
    } = *runs;
    let test = base.test_objective(Precision::F64)?;
    let eval = evaluator(backend, test, HvpMethod::Exact);
    let step = step.max(1);
    let mut theta = theta_base.to_vec();
    let (mut is, mut losses) = (vec![0i64], vec![eval.loss(&theta)?]);
    let bar = ctx.progress(proj.len() as u64, "directions");
    for (i, (c, v)) in proj.iter().zip(&eig.vectors).enumerate() {
        axpy(*c, v, &mut theta);
        if (i + 1) % step == 0 || i + 1 == proj.len() {
            is.push(i as i64 + 1);
            losses.push(eval.loss(&theta)?);
        }
        bar.inc(1);
    }
    let other_loss = eval.loss(theta_other)?;
    ctx.write(&RemovalTable {
        i: is,
        test_loss: losses,
    })?;
    ctx.write_json("removal.json", &serde_json::json!({ "test_loss_base": eval.loss(theta_base)?, "test_loss_other": other_loss }))?;
    Ok(())
}

/// The output change along each of the first `nd` directions, nu_i / sqrt(lambda_i), and its
/// LFP.
fn directions(
    ctx: &StageContext,
    runs: &Runs,
    nd: usize,
    p: &EigenProjectionParams,
    backend: BackendKind,
) -> Result<()> {
    let Runs {
        base,
        theta_base,
        eig,
        ..
    } = *runs;
    base.fnn_width()?;
    let obj = base.objective(Precision::F64);
    let eval = evaluator(backend, obj, HvpMethod::Exact);
    let (lo, hi) = base.input_range();
    let n = p.grid;
    let x = linspace(lo, hi, n);
    let f0 = eval.outputs(theta_base, &x, &[n, 1])?;
    let lfp_k = p.lfp_k;
    let (mut dir, mut xs, mut deltas, mut lfps) = (vec![], vec![], vec![], vec![]);
    for i in 0..nd {
        let l = eig.values[i];
        if l <= 0.0 {
            bail!(
                "eigenvalue {} of direction {} is not positive; nu/sqrt(lambda) is undefined",
                l,
                i + 1
            );
        }
        let mut theta = theta_base.to_vec();
        axpy(1.0 / l.sqrt(), &eig.vectors[i], &mut theta);
        let d: Vec<f64> = eval
            .outputs(&theta, &x, &[n, 1])?
            .iter()
            .zip(&f0)
            .map(|(a, b)| a - b)
            .collect();
        lfps.push(lfp(&d, &[lfp_k])[0]);
        dir.extend(std::iter::repeat_n(i as i64 + 1, n));
        xs.extend(&x);
        deltas.extend(d);
    }
    ctx.write(&DirectionTable {
        direction: dir,
        x: xs,
        delta: deltas,
    })?;
    ctx.write(&DirectionLfp {
        direction: (1..=nd as i64).collect(),
        eigenvalue: eig.values[..nd].to_vec(),
        lfp: lfps,
    })?;
    Ok(())
}

spike_config::stage_params! {
    pub(crate) struct EigenProjectionParams {
        /// compute L(i), the test loss after removing the difference along the first i
        /// directions (needs a test split)
        pub removal: bool = false,
        /// compute L(i) every this many i
        pub removal_step: usize = 1; range(1.0, 1e9),
        /// output changes along the first this many directions (1-D nets only; 0: none)
        pub directions: usize = 0; range(0.0, 100_000.0),
        /// points of the output grid
        pub grid: usize = 256; range(8.0, 1_048_576.0),
        /// LFP threshold of the output changes
        pub lfp_k: usize = 2; range(0.0, 524_288.0),
    }
}

spike_engine::table_schema! {
    /// The projections of theta_other - theta_base on each eigenvector.
    pub(crate) struct ProjectionTable in "projections" {
        pub index: Vec<i64>,
        pub eigenvalue: Vec<f64>,
        pub projection: Vec<f64>,
        pub abs_projection: Vec<f64>,
        /// sum_{j <= i} lambda_j^2 / sum_j lambda_j^2.
        pub cum_lambda2: Vec<f64>,
        /// |theta_other - theta_base| (the same on every row).
        pub diff_norm: Vec<f64>,
    }
}

spike_engine::table_schema! {
    /// L(i): the test loss after removing the difference along the first i directions.
    pub(crate) struct RemovalTable in "removal" {
        pub i: Vec<i64>,
        pub test_loss: Vec<f64>,
    }
}

spike_engine::table_schema! {
    /// f(theta + nu_i / sqrt(lambda_i)) - f(theta) on the grid, for each direction i.
    pub(crate) struct DirectionTable in "directions" {
        pub direction: Vec<i64>,
        pub x: Vec<f64>,
        pub delta: Vec<f64>,
    }
}

spike_engine::table_schema! {
    /// The LFP of each direction's output change.
    pub(crate) struct DirectionLfp in "direction_lfp" {
        pub direction: Vec<i64>,
        pub eigenvalue: Vec<f64>,
        pub lfp: Vec<f64>,
    }
}

impl Kind for EigenProjection {
    const NAME: &'static str = "eigen_projection";
    const VERSION: u32 = 3;
    const DOC: &'static str = "Projections of a parameter difference on Hessian eigenvectors, test loss after removing them, output changes along them";
    const NUMERIC: bool = true;
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("base", &["train"]),
        InputSpec::one("data", DATASETS),
        InputSpec::one("eigen", &["hessian_eigen"]),
        InputSpec::one("other", &["train"]),
    ];
    type Params = EigenProjectionParams;
    type Output = ();

    fn run(&self, p: &EigenProjectionParams, ctx: &mut StageContext) -> Result<()> {
        let base = Trained::from_roles(ctx, "base", "data")?;
        let eigen_in = ctx.input("eigen")?;
        if eigen_in.inputs.get("train").and_then(|k| k.first()) != Some(&base.input.key) {
            bail!(
                "`{}` is not the eigendecomposition of `{}`",
                eigen_in.stage,
                base.input.stage
            );
        }
        let eig = read_eigen(eigen_in)?;
        let theta_base = final_theta(base.input)?;
        let other = ctx.input("other")?;
        let theta_other = final_theta(other)?;
        if theta_other.len() != theta_base.len() {
            bail!(
                "`{}` and `{}` have different numbers of parameters",
                base.input.stage,
                other.stage
            );
        }
        let diff: Vec<f64> = theta_other
            .iter()
            .zip(&theta_base)
            .map(|(a, b)| a - b)
            .collect();
        let proj: Vec<f64> = eig.vectors.iter().map(|v| dot(&diff, v)).collect();
        let total: f64 = eig.values.iter().map(|l| l * l).sum();
        let mut acc = 0.0;
        let cum: Vec<f64> = eig
            .values
            .iter()
            .map(|l| {
                acc += l * l;
                acc / total
            })
            .collect();
        ctx.write(&ProjectionTable {
            index: (1..=proj.len() as i64).collect(),
            eigenvalue: eig.values.clone(),
            projection: proj.clone(),
            abs_projection: proj.iter().map(|x| x.abs()).collect(),
            cum_lambda2: cum,
            diff_norm: vec![norm(&diff); proj.len()],
        })?;
        let fits = Fits {
            base: run_fit(base.input)?,
            other: run_fit(other)?,
        };
        ctx.write_json("fit.json", &serde_json::to_value(&fits)?)?;

        let backend = backend_of(ctx)?;
        let runs = Runs {
            base: &base,
            theta_base: &theta_base,
            theta_other: &theta_other,
            eig: &eig,
        };
        if p.removal {
            removal(ctx, &runs, &proj, p.removal_step, backend)?;
        }
        let nd = p.directions.min(eig.values.len());
        if nd > 0 {
            directions(ctx, &runs, nd, p, backend)?;
        }
        Ok(())
    }
}
