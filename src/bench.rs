//! `spike-pipe bench`: timings of the numerical core on this machine (figures, not pass/fail).

use std::time::Instant;

use anyhow::Result;

use crate::datasets::cifar10::{self, Location, Source};
use crate::linalg::lanczos::{LanczosConfig, lanczos};

use crate::nn::backend::{BackendKind, Precision};
use crate::nn::data::{Data, Loss, Supervised};
use crate::nn::derivatives::Derivatives;
use crate::nn::eval::evaluator;
use crate::nn::init::Init;
use crate::nn::model::Arch;
use crate::nn::objective::HvpMethod;
use crate::nn::ops::Activation;
use crate::nn::optim::Optimizer;
use crate::nn::train::{CheckpointPlan, Hooks, Objectives, TrainSpec, TrainState, train};
use crate::plot::linspace;
use crate::rng::SeededRng;

pub struct Options {
    pub epochs: usize,
    pub cnn: bool,
    pub lanczos_k: usize,
    /// Stages of the engine benchmark (0: skip it).
    pub engine_stages: usize,
}

/// Runs the benchmarks on `backend`, printing each figure as it is measured.
/// `cifar`: where the CIFAR-10 images of the CNN benchmarks come from (random images when it
/// is a download: the timings are the same).
pub fn run(opts: &Options, cifar: &Location, backend: BackendKind) -> Result<()> {
    println!("backend: {}", backend.name());
    println!(
        "benchmark net: two-layer tanh, width 20, 64 points on [-pi, pi], sin x + sin 4x, MSE, full-batch GD lr 0.05, f64"
    );
    let arch = Arch::Fnn {
        width: 20,
        act: Activation::Tanh,
        out_bias: false,
    };
    let xs = linspace(-std::f64::consts::PI, std::f64::consts::PI, 64);
    let ys: Vec<f64> = xs.iter().map(|x| x.sin() + (4.0 * x).sin()).collect();
    let data = Data::regression(&xs, &ys);
    let obj = evaluator(
        backend,
        Supervised::new(&arch, &data, Loss::Mse, Precision::F64),
        HvpMethod::Exact,
    );
    let theta = tanh_training(&*obj, &arch, data.len(), opts.epochs, Optimizer::Gd)?;
    let adam = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    println!("  the same with Adam (0.9, 0.999, 1e-8), lr 0.05:");
    tanh_training(&*obj, &arch, data.len(), opts.epochs, adam)?;
    tanh_sharpness(&*obj, &theta)?;
    if opts.cnn {
        cnn(opts, cifar, backend)?;
    }
    if opts.engine_stages > 0 {
        engine(opts.engine_stages)?;
    }
    Ok(())
}

/// The engine at an atlas's scale: a pipeline of `stages` training stages (a matrix over
/// learning rate and seed of a width-4 ReLU net, 2 epochs, on 8 points), computed once, then
/// the commands a user repeats on it, each a fresh `spike-pipe` process as a user runs it.
fn engine(stages: usize) -> Result<()> {
    let seeds = stages.div_ceil(100);
    let lrs: Vec<String> = (0..stages.div_ceil(seeds))
        .map(|i| format!("{:.5}", 0.001 + 1e-5 * i as f64))
        .collect();
    let n = lrs.len() * seeds;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        format!(
            "stages:
  - name: data.engine
    kind: dataset_1d
    params: {{target: relu_pair, n_train: 8, train_range: [-1, 1]}}
  - name: train.engine
    kind: train
    needs: {{data: data.engine}}
    matrix: {{lr: [{}], seed: [{}]}}
    params: {{model: fnn, width: 4, activation: relu, epochs: 2}}
",
            lrs.join(", "),
            (0..seeds)
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )?;
    println!(
        "engine: a pipeline of {} stages ({n} training stages of a width-4 net, 2 epochs each)",
        n + 1
    );
    let exe = std::env::current_exe()?;
    let run = |args: &[&str]| -> Result<f64> {
        let start = Instant::now();
        let out = std::process::Command::new(&exe)
            .args(args)
            .current_dir(dir.path())
            .env_remove("SPIKE_CACHE")
            .env("SPIKE_PLAIN", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(
            out.success(),
            "spike-pipe {} failed in the engine benchmark",
            args.join(" ")
        );
        Ok(start.elapsed().as_secs_f64())
    };
    let compute = run(&["repro"])?;
    println!(
        "  repro from an empty cache: {compute:.1} s ({:.1} ms a stage)",
        1e3 * compute / (n + 1) as f64
    );
    for (what, args) in [
        ("repro --dry", &["repro", "--dry"][..]),
        ("status", &["status"][..]),
        ("repro, everything cached", &["repro"][..]),
    ] {
        let times: Vec<f64> = (0..3).map(|_| run(args)).collect::<Result<_>>()?;
        let best = times.iter().copied().fold(f64::INFINITY, f64::min);
        println!("  {what}: {best:.2} s (best of 3)");
    }
    Ok(())
}

/// Full-batch training of the tanh net with `optimizer`: time per epoch; returns the trained
/// theta.
fn tanh_training(
    obj: &dyn Derivatives,
    arch: &Arch,
    n: usize,
    epochs: usize,
    optimizer: Optimizer,
) -> Result<Vec<f64>> {
    let spec = TrainSpec {
        lr: 0.05,
        optimizer,
        epochs,
        batch_size: None,
        shuffle_seed: 0,
        sharpness: None,
        checkpoints: CheckpointPlan::default(),
        test_every: 0,
        snapshot_every: 0,
        stop_fraction: None,
    };
    let objs = Objectives {
        train: obj,
        hessian: obj,
        test: None,
        batch: None,
        n_examples: n,
    };
    let mut progress = |_: usize, _: usize| {};
    let mut snapshot = |_: &TrainState| Ok(());
    let mut extendable = |_: &TrainState| Ok(());
    let mut hooks = Hooks {
        progress: &mut progress,
        snapshot: &mut snapshot,
        extendable: &mut extendable,
    };
    let start = Instant::now();
    let state = train(
        &objs,
        &spec,
        TrainState::new(arch.init(&Init::Gaussian { gamma: 1.0 }, 0)),
        &mut hooks,
    )?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "  {:.1} us/epoch ({} epochs in {secs:.2} s; loss {:.3e} -> {:.3e})",
        secs * 1e6 / (epochs + 1) as f64,
        epochs,
        state.rows[0].loss,
        state.rows.last().map_or(f64::NAN, |r| r.loss)
    );
    Ok(state.theta)
}

/// lambda_max of the trained tanh net by power iteration and by Lanczos, cold and warm.
fn tanh_sharpness(obj: &dyn Derivatives, theta: &[f64]) -> Result<()> {
    let reps = 200;
    let start = Instant::now();
    let mut lambda = 0.0;
    for _ in 0..reps {
        lambda = power_iteration(obj, theta, 20)?;
    }
    println!(
        "  lambda_max by 20 power iterations (exact HVPs, as the anchors): {:.3} ms ({lambda:.6})",
        start.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
    let cfg = LanczosConfig {
        k: 1,
        max_iter: 100,
        tol: 1e-8,
        seed: 1,
    };
    let start = Instant::now();
    let eig = lanczos(theta.len(), &mut *obj.hessian_at(theta), &cfg, None)?;
    let cold = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let warm = lanczos(
        theta.len(),
        &mut *obj.hessian_at(theta),
        &cfg,
        eig.vectors.first().map(Vec::as_slice),
    )?;
    println!(
        "  lambda_max = {:.6} (Lanczos, exact HVPs, tol 1e-8): {:.2} ms cold ({} HVPs, residual {:.1e}), {:.2} ms warm-started ({} HVPs)",
        eig.values[0],
        cold * 1e3,
        eig.matvecs,
        eig.residuals[0],
        start.elapsed().as_secs_f64() * 1e3,
        warm.matvecs
    );
    Ok(())
}

/// The CIFAR-10 nets: the two-layer CNN's epoch and HVPs, VGG-11's epoch at two widths, the
/// CNN's top Lanczos eigenpairs.
fn cnn(opts: &Options, cifar: &Location, backend: BackendKind) -> Result<()> {
    let (images, origin) = cifar_1000(cifar)?;
    println!("two-layer CNN (Fig 3.1(d)/Table A.1) on 1000 {origin} images, MSE, f32");
    let cnn = Arch::named("cnn2", 1.0)?;
    let theta = cnn.init(&Init::Xavier, 0);
    let on = |precision, method| {
        evaluator(
            backend,
            Supervised::new(&cnn, &images, Loss::Mse, precision),
            method,
        )
    };
    let f32_obj = on(Precision::F32, HvpMethod::Exact);
    println!(
        "  {:.0} ms per epoch (forward + backward, full batch)",
        time_epoch(&*f32_obj, &theta, 5)? * 1e3
    );
    let v = SeededRng::new(2).normals(theta.len());
    for (name, method, precision) in [
        ("exact, f32", HvpMethod::Exact, Precision::F32),
        ("exact, f64", HvpMethod::Exact, Precision::F64),
        (
            "central differences, f64",
            HvpMethod::CentralDifference { rel_eps: 1e-5 },
            Precision::F64,
        ),
    ] {
        let o = on(precision, method);
        o.hvp(&theta, &v)?;
        let reps = 3;
        let start = Instant::now();
        for _ in 0..reps {
            o.hvp(&theta, &v)?;
        }
        println!(
            "  {:.0} ms per HVP ({name})",
            start.elapsed().as_secs_f64() * 1e3 / reps as f64
        );
    }
    // the VGG epochs before the Lanczos run, in the PyTorch anchor's order
    let first_256 = images.rows(&(0..256).collect::<Vec<_>>());
    // 1 warm-up and 3 timed epochs, as the PyTorch anchor; 10 at 1/8 width, whose 30-50 ms
    // epochs vary by more than that on a shared VM
    for (width, reps) in [(0.125, 10), (1.0, 3)] {
        let vgg = Arch::named("vgg11", width)?;
        let theta = vgg.init(&Init::Xavier, 0);
        let o = evaluator(
            backend,
            Supervised::new(&vgg, &first_256, Loss::Mse, Precision::F32),
            HvpMethod::Exact,
        );
        println!(
            "VGG-11 BN, width {width}, 256 {origin} images, MSE, f32: {:.0} ms per epoch (forward + backward, full batch)",
            time_epoch(&*o, &theta, reps)? * 1e3
        );
    }
    let cfg = LanczosConfig {
        k: opts.lanczos_k,
        max_iter: 4 * opts.lanczos_k,
        tol: 1e-4,
        seed: 1,
    };
    let start = Instant::now();
    let eig = lanczos(theta.len(), &mut *f32_obj.hessian_at(&theta), &cfg, None)?;
    println!(
        "two-layer CNN, top-{} Lanczos (exact HVPs, f32, tol 1e-4): {:.1} s, {} HVPs, lambda_1 = {:.4}, lambda_{} = {:.4}, max residual {:.1e}",
        opts.lanczos_k,
        start.elapsed().as_secs_f64(),
        eig.matvecs,
        eig.values[0],
        eig.values.len(),
        eig.values.last().copied().unwrap_or(f64::NAN),
        eig.residuals.iter().cloned().fold(0.0, f64::max)
    );
    Ok(())
}

/// Seconds per full-batch loss and gradient, after one warm-up.
fn time_epoch(o: &dyn Derivatives, theta: &[f64], reps: usize) -> Result<f64> {
    o.loss_and_grad(theta)?;
    let start = Instant::now();
    for _ in 0..reps {
        o.loss_and_grad(theta)?;
    }
    Ok(start.elapsed().as_secs_f64() / reps as f64)
}

/// lambda_max by `iters` power iterations from the all-ones vector (the anchors' estimate).
fn power_iteration(o: &dyn Derivatives, theta: &[f64], iters: usize) -> Result<f64> {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut v = vec![1.0 / (theta.len() as f64).sqrt(); theta.len()];
    let mut lambda = 0.0;
    let mut hessian = o.hessian_at(theta);
    for _ in 0..iters {
        let hv = hessian(&v)?;
        lambda = v.iter().zip(&hv).map(|(a, b)| a * b).sum();
        let n = norm(&hv);
        v = hv.iter().map(|x| x / n).collect();
    }
    Ok(lambda)
}

/// The first 1000 CIFAR-10 training images (scaled to [0, 1]) from the local copy, or random
/// images of the same shape when there is none (the timings are the same).
fn cifar_1000(cifar: &Location) -> Result<(Data, &'static str)> {
    let n = 1000;
    if let Location::Local(dir) = cifar
        && let Ok(source) = Source::at(dir)
    {
        let (train, _) = source.read()?;
        if train.len() >= n {
            let x: Vec<f64> = train.pixels[..n * cifar10::PIXELS]
                .iter()
                .map(|&p| p as f64 / 255.0)
                .collect();
            let mut y = vec![0.0; n * 10];
            for (i, &l) in train.labels[..n].iter().enumerate() {
                y[i * 10 + l as usize] = 1.0;
            }
            return Ok((Data::new(x, vec![n, 3, 32, 32], y, 10)?, "CIFAR-10"));
        }
    }
    let mut rng = SeededRng::new(0);
    let x = (0..n * 3072).map(|_| rng.uniform(0.0, 1.0)).collect();
    let mut y = vec![0.0; n * 10];
    for i in 0..n {
        y[i * 10 + rng.below(10)] = 1.0;
    }
    Ok((
        Data::new(x, vec![n, 3, 32, 32], y, 10)?,
        "random (no local CIFAR-10 found)",
    ))
}
