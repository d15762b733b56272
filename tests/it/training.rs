//! The trainer and the models against plain-Rust references: forward passes, one GD step of each
//! model, determinism, divergence, spike-triggered checkpoints, SGD batches.

use crate::reference;
use spike_pipe::linalg::lanczos::LanczosConfig;
use spike_pipe::nn::backend::{BackendKind, Flex, Precision, tensor, to_vec};
use spike_pipe::nn::data::{Data, Loss, Supervised};
use spike_pipe::nn::derivatives::{Derivatives, Evaluator};
use spike_pipe::nn::eval::evaluator;
use spike_pipe::nn::init::Init;
use spike_pipe::nn::model::Arch;
use spike_pipe::nn::objective::HvpMethod;
use spike_pipe::nn::ops::{Activation, Order};
use spike_pipe::nn::optim::Optimizer;
use spike_pipe::nn::train::{
    CheckpointPlan, Diverged, Hooks, Objectives, Sharpness, SpikeTrigger, TrainSpec, TrainState,
    epoch_batches, train,
};
use spike_pipe::rng::SeededRng;

fn dev() -> <Flex as burn::backend::BackendTypes>::Device {
    Default::default()
}

fn spec(lr: f64, epochs: usize) -> TrainSpec {
    TrainSpec {
        lr,
        optimizer: Optimizer::Gd,
        epochs,
        batch_size: None,
        shuffle_seed: 0,
        sharpness: None,
        checkpoints: CheckpointPlan::default(),
        test_every: 0,
        snapshot_every: 0,
        stop_fraction: None,
    }
}

fn run(obj: &dyn Derivatives, spec: &TrainSpec, theta: Vec<f64>) -> anyhow::Result<TrainState> {
    let objs = Objectives {
        train: obj,
        hessian: obj,
        test: None,
        batch: None,
        n_examples: 0,
    };
    run_on(&objs, spec, theta)
}

/// Trains on `objs` without hooks.
fn run_on(objs: &Objectives, spec: &TrainSpec, theta: Vec<f64>) -> anyhow::Result<TrainState> {
    let mut progress = |_: usize, _: usize| {};
    let mut snapshot = |_: &TrainState| Ok(());
    let mut extendable = |_: &TrainState| Ok(());
    let mut hooks = Hooks {
        progress: &mut progress,
        snapshot: &mut snapshot,
        extendable: &mut extendable,
    };
    train(objs, spec, TrainState::new(theta), &mut hooks)
}

/// The model on flex, burn's autodiff (the reference backend).
fn on_flex(obj: Supervised<'_>) -> Box<dyn Evaluator + '_> {
    evaluator(BackendKind::Flex, obj, HvpMethod::Exact)
}

fn toy() -> Box<dyn Derivatives> {
    spike_pipe::nn::eval::toy(BackendKind::Flex, HvpMethod::Exact)
}

/// `steps` GD steps of the toy from (0.5, 1e-5) at lr 5e-3 in closed form: the points and
/// their losses.
fn toy_gd(steps: usize) -> (Vec<(f64, f64)>, Vec<f64>) {
    let mut traj = vec![(0.5f64, 1e-5f64)];
    for _ in 0..steps {
        let (x, y) = *traj.last().unwrap();
        let [gx, gy] = spike_pipe::nn::toy::gradient(x, y);
        traj.push((x - 5e-3 * gx, y - 5e-3 * gy));
    }
    let loss = traj
        .iter()
        .map(|&(x, y)| spike_pipe::nn::toy::loss(x, y))
        .collect();
    (traj, loss)
}

fn images(n: usize, seed: u64) -> Data {
    let mut rng = SeededRng::new(seed);
    let x = rng.normals(n * 3 * 32 * 32);
    let mut y = vec![0.0; n * 10];
    for i in 0..n {
        y[i * 10 + rng.below(10)] = 1.0;
    }
    Data::new(x, vec![n, 3, 32, 32], y, 10).unwrap()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// One GD step of `arch` against theta - lr * (finite-difference gradient of the plain-Rust
/// reference loss).
fn one_step_matches_reference(arch: &Arch, data: &Data, init: Init, lr: f64) {
    let theta = arch.init(&init, 3);
    let n = data.len();
    let x = tensor::<Flex>(&theta, &[theta.len()], Precision::F64, &dev());
    let xin = tensor::<Flex>(&data.x, &data.x_shape, Precision::F64, &dev());
    let burn_out = to_vec::<Flex>(arch.forward::<Flex>(&x, xin, Order::First)).unwrap();
    let ref_out = reference::forward(arch, &theta, &data.x, n);
    assert!(
        max_rel(&burn_out, &ref_out) < 1e-12,
        "forward differs from the reference"
    );

    let obj = Supervised::new(arch, data, Loss::Mse, Precision::F64);
    let state = run(&*on_flex(obj), &spec(lr, 1), theta.clone()).unwrap();
    let loss = |t: &[f64]| reference::mse(arch, t, &data.x, &data.y, n);
    let g = reference::fd_gradient(&loss, &theta, 1e-6);
    let expected: Vec<f64> = theta.iter().zip(&g).map(|(t, g)| t - lr * g).collect();
    let step: Vec<f64> = state.theta.iter().zip(&theta).map(|(a, b)| a - b).collect();
    let expected_step: Vec<f64> = expected.iter().zip(&theta).map(|(a, b)| a - b).collect();
    assert!(
        max_rel(&step, &expected_step) < 1e-6,
        "GD step differs: {:e}",
        max_rel(&step, &expected_step)
    );
    assert!((state.rows[0].loss - loss(&theta)).abs() < 1e-13 * loss(&theta));
}

#[test]
fn one_gd_step_of_each_model_matches_a_hand_computation() {
    // Two-layer nets with every activation, by the reference's loops.
    let xs: Vec<f64> = (0..7).map(|i| -2.0 + i as f64 * 0.6).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|x| (x - 1.0f64).tanh() + (x + 1.0f64).tanh())
        .collect();
    let data = Data::regression(&xs, &ys);
    for act in [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::LeakyRelu(0.2),
    ] {
        let arch = Arch::Fnn {
            width: 5,
            act,
            out_bias: true,
        };
        one_step_matches_reference(&arch, &data, Init::Gaussian { gamma: 0.5 }, 0.05);
    }
    let data = images(2, 4);
    one_step_matches_reference(
        &Arch::Cnn {
            convs: vec![2],
            hidden: vec![],
            classes: 10,
        },
        &data,
        Init::Xavier,
        0.1,
    );
    one_step_matches_reference(
        &Arch::Cnn {
            convs: vec![2, 2, 2],
            hidden: vec![4],
            classes: 10,
        },
        &data,
        Init::Xavier,
        0.1,
    );
    one_step_matches_reference(
        &Arch::named("vgg11", 1.0 / 64.0).unwrap(),
        &images(3, 5),
        Init::Kaiming,
        0.1,
    );
}

#[test]
fn the_paper_cnns_match_the_reference_forward() {
    let data = images(2, 9);
    for name in ["cnn2", "cnn3", "cnn5"] {
        let arch = Arch::named(name, 1.0).unwrap();
        let theta = arch.init(&Init::Xavier, 1);
        let t = tensor::<Flex>(&theta, &[theta.len()], Precision::F64, &dev());
        let x = tensor::<Flex>(&data.x, &data.x_shape, Precision::F64, &dev());
        let out = to_vec::<Flex>(arch.forward::<Flex>(&t, x, Order::First)).unwrap();
        assert!(
            max_rel(&out, &reference::forward(&arch, &theta, &data.x, 2)) < 1e-12,
            "{name}"
        );
    }
    assert_eq!(
        Arch::named("cnn2", 1.0).unwrap().dim(),
        16 * 27 + 16 + 4096 * 10 + 10
    );
    assert_eq!(
        Arch::named("cnn3", 1.0).unwrap().dim(),
        448 + 32 * 16 * 9 + 32 + 2048 * 10 + 10
    );
    assert_eq!(
        Arch::named("cnn5", 1.0).unwrap().dim(),
        448 + 4640 + 64 * 32 * 9 + 64 + 1024 * 500 + 500 + 5010
    );
}

#[test]
fn same_seed_same_backend_is_bitwise_identical() {
    let arch = Arch::Fnn {
        width: 20,
        act: Activation::Tanh,
        out_bias: false,
    };
    let xs: Vec<f64> = (0..16).map(|i| -3.0 + 0.4 * i as f64).collect();
    let ys: Vec<f64> = xs.iter().map(|x| x.sin() + (4.0 * x).sin()).collect();
    let data = Data::regression(&xs, &ys);
    let obj = on_flex(Supervised::new(&arch, &data, Loss::Mse, Precision::F64));
    let mut s = spec(0.05, 200);
    s.sharpness = Some(Sharpness {
        every: 50,
        lanczos: LanczosConfig {
            k: 1,
            max_iter: 30,
            tol: 1e-8,
            seed: 1,
        },
    });
    let a = run(&*obj, &s, arch.init(&Init::Gaussian { gamma: 1.0 }, 5)).unwrap();
    let b = run(&*obj, &s, arch.init(&Init::Gaussian { gamma: 1.0 }, 5)).unwrap();
    assert_eq!(a, b);
    assert!(a.rows[200].loss < a.rows[0].loss);
    assert!(
        a.rows[200].lambda_max.is_some()
            && a.rows[50].lambda_max.is_some()
            && a.rows[49].lambda_max.is_none()
    );
}

#[test]
fn divergence_names_the_epoch_and_keeps_the_log() {
    let err = run(&*toy(), &spec(1.0, 500), vec![0.5, 1e-5]).unwrap_err();
    let d = err.downcast_ref::<Diverged>().expect("a divergence error");
    assert!(d.epoch > 2 && d.epoch < 500);
    assert_eq!(d.state.rows.len(), d.epoch);
    assert!(d.state.rows.iter().all(|r| r.loss.is_finite()));
    assert!(
        err.to_string()
            .contains(&format!("diverged at epoch {}", d.epoch))
    );
}

#[test]
fn spike_triggered_checkpoints_cover_the_window_and_the_spike() {
    // The toy model's spike: the loss first exceeds 1.1x the previous epoch at step 34.
    let mut s = spec(5e-3, 100);
    s.checkpoints = CheckpointPlan {
        every: Some(25),
        at: vec![7],
        dense: None,
        spike: Some(SpikeTrigger {
            factor: 1.1,
            lookback: 1,
            window: 5,
            max_spikes: 1,
            max_epochs: 30,
        }),
    };
    let state = run(&*toy(), &s, vec![0.5, 1e-5]).unwrap();
    // The closed-form trajectory says where the rule first fires.
    let (traj, loss) = toy_gd(100);
    let onset = (1..=100).find(|&e| loss[e] > 1.1 * loss[e - 1]).unwrap();
    assert!((33..=36).contains(&onset), "{onset}");
    let epochs: Vec<usize> = state.checkpoints.iter().map(|c| c.epoch).collect();
    let spike: Vec<usize> = state
        .checkpoints
        .iter()
        .filter(|c| c.reason == "spike")
        .map(|c| c.epoch)
        .collect();
    assert_eq!(
        spike,
        (onset - 5..=onset + 30).collect::<Vec<_>>(),
        "5 epochs before the onset, then 30 after"
    );
    for e in [0, 7, 25, 75, 100] {
        assert!(epochs.contains(&e), "missing checkpoint {e}");
    }
    let at_onset = state.checkpoints.iter().find(|c| c.epoch == onset).unwrap();
    assert!(
        (at_onset.theta[0] - traj[onset].0).abs() < 1e-12
            && (at_onset.theta[1] - traj[onset].1).abs() < 1e-12
    );
}

#[test]
fn sgd_batches_are_permutations_and_reproducible() {
    let b = epoch_batches(70, 32, 1, 3);
    assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![32, 32, 6]);
    let mut all: Vec<usize> = b.concat();
    all.sort();
    assert_eq!(all, (0..70).collect::<Vec<_>>());
    assert_eq!(b, epoch_batches(70, 32, 1, 3));
    assert_ne!(b, epoch_batches(70, 32, 1, 4));
}

#[test]
fn stop_fraction_ends_training_at_the_first_epoch_at_or_below_it() {
    // The toy from (0.5, 1e-5) at lr 5e-3 first loses about 0.005 per step (x grows by lr);
    // the closed-form trajectory says which step first reaches 99.5% of the starting loss.
    let (traj, loss) = toy_gd(50);
    let stop = (0..=50).find(|&e| loss[e] <= 0.995 * loss[0]).unwrap();
    assert!((3..=10).contains(&stop), "{stop}");
    let mut s = spec(5e-3, 150);
    s.stop_fraction = Some(0.995);
    let state = run(&*toy(), &s, vec![0.5, 1e-5]).unwrap();
    assert_eq!(state.rows.len(), stop + 1);
    let last = state.rows.last().unwrap();
    assert_eq!(last.epoch, stop);
    assert!((last.loss - loss[stop]).abs() < 1e-12 * loss[0]);
    assert!(state.rows[stop - 1].loss > 0.995 * state.rows[0].loss);
    let final_ck = state.checkpoints.last().unwrap();
    assert_eq!((final_ck.epoch, final_ck.reason.as_str()), (stop, "final"));
    assert!((final_ck.theta[0] - traj[stop].0).abs() < 1e-12);
    // Without it, all 150 epochs run.
    let all = run(&*toy(), &spec(5e-3, 150), vec![0.5, 1e-5]).unwrap();
    assert_eq!(all.rows.len(), 151);
}

/// The stability measure the trainer logs beside lambda_max, against its definition computed
/// here: Adam's preconditioned sharpness (the top eigenvalue of the dense P^-1/2 H P^-1/2 with
/// the preconditioner of epoch 0's step), none for full-batch momentum (its measure is
/// lambda_max), and for SGD the batch sharpness, the mean over the epoch's batches of
/// g_B^T H_B g_B / |g_B|^2.
#[test]
fn each_optimizers_stability_measure_is_logged_as_defined() {
    use spike_pipe::linalg::dense::{dot, eigh};
    use spike_pipe::nn::derivatives::dense_hessian;
    use spike_pipe::nn::optim::OptState;
    let arch = Arch::Fnn {
        width: 5,
        act: Activation::Tanh,
        out_bias: false,
    };
    let data = crate::numerics::curve(9);
    let obj = evaluator(
        BackendKind::Native,
        Supervised::new(&arch, &data, Loss::Mse, Precision::F64),
        HvpMethod::Exact,
    );
    let theta = arch.init(&Init::Gaussian { gamma: 1.0 }, 5);
    let n = theta.len();
    let sharpness = Some(Sharpness {
        every: 2,
        lanczos: LanczosConfig {
            k: 1,
            max_iter: n,
            tol: 1e-12,
            seed: 1,
        },
    });
    let adam = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let with = |optimizer, batch_size| TrainSpec {
        optimizer,
        batch_size,
        sharpness: sharpness.clone(),
        ..spec(0.01, 4)
    };
    let state = run(&*obj, &with(adam, None), theta.clone()).unwrap();
    let (_, g) = obj.loss_and_grad(&theta).unwrap();
    let p = adam.preconditioner(&OptState::default(), Some(&g)).unwrap();
    let h = dense_hessian(&*obj, &theta).unwrap();
    let m: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| h[i][j] / (p[i] * p[j]).sqrt()).collect())
        .collect();
    let top = eigh(&m).unwrap().0[0];
    let logged = state.rows[0].stability.unwrap();
    assert!((logged - top).abs() <= 1e-9 * top, "{logged} vs {top}");
    assert!((state.rows[0].lambda_max.unwrap() - eigh(&h).unwrap().0[0]).abs() < 1e-9);
    assert!(state.rows[2].stability.is_some() && state.rows[1].stability.is_none());

    let momentum = run(
        &*obj,
        &with(Optimizer::HeavyBall { beta: 0.9 }, None),
        theta.clone(),
    );
    assert!(momentum.unwrap().rows.iter().all(|r| r.stability.is_none()));

    // SGD on batches of 4 of the 9 points.
    let make = |rows: &[usize]| -> Box<dyn Derivatives> {
        let sub = Supervised {
            arch: &arch,
            data: std::borrow::Cow::Owned(data.rows(rows)),
            loss: Loss::Mse,
            precision: Precision::F64,
        };
        evaluator(BackendKind::Native, sub, HvpMethod::Exact)
    };
    let objs = Objectives {
        train: &*obj,
        hessian: &*obj,
        test: None,
        batch: Some(&make),
        n_examples: data.len(),
    };
    let sgd = with(Optimizer::Gd, Some(4));
    let state = run_on(&objs, &sgd, theta.clone()).unwrap();
    let batches = epoch_batches(data.len(), 4, sgd.shuffle_seed, 0);
    assert_eq!(batches.len(), 3);
    let expected: f64 = batches
        .iter()
        .map(|rows| {
            let b = make(rows);
            let (_, gb) = b.loss_and_grad(&theta).unwrap();
            dot(&gb, &b.hvp(&theta, &gb).unwrap()) / dot(&gb, &gb)
        })
        .sum::<f64>()
        / 3.0;
    let logged = state.rows[0].stability.unwrap();
    assert!(
        (logged - expected).abs() <= 1e-12 * expected.abs(),
        "{logged} vs {expected}"
    );
}
