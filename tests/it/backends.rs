//! The LibTorch backend (`--features tch`, see scripts/setup-libtorch.sh) against flex: the same
//! seed gives the same initial theta; losses, gradients and exact HVPs agree.
#![cfg(feature = "tch")]
#![allow(deprecated)] // burn-tch is deprecated upstream; users asked for it.

use burn::backend::LibTorch;
use spike_pipe::nn::backend::{Flex, Precision};
use spike_pipe::nn::data::{Data, Loss, Supervised};
use spike_pipe::nn::init::Init;
use spike_pipe::nn::model::Arch;
use spike_pipe::nn::objective::{HvpMethod, hvp, value_and_grad};
use spike_pipe::nn::ops::Activation;
use spike_pipe::rng::SeededRng;
use spike_pipe::stages::train_toy::train;

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    d / b.iter().map(|y| y * y).sum::<f64>().sqrt()
}

#[test]
fn tch_agrees_with_flex() {
    let flex = Default::default();
    let tch = burn::backend::libtorch::LibTorchDevice::Cpu;
    let xs: Vec<f64> = (0..16).map(|i| -3.0 + 0.4 * i as f64).collect();
    let ys: Vec<f64> = xs.iter().map(|x| x.sin() + (4.0 * x).sin()).collect();
    let data = Data::regression(&xs, &ys);
    let arch = Arch::Fnn {
        width: 20,
        act: Activation::Tanh,
        out_bias: false,
    };
    let theta = arch.init(&Init::Gaussian { gamma: 1.0 }, 3);
    let obj = Supervised::new(&arch, &data, Loss::Mse, Precision::F64);
    let (lf, gf) = value_and_grad::<Flex, _>(&obj, &theta, &flex).unwrap();
    let (lt, gt) = value_and_grad::<LibTorch, _>(&obj, &theta, &tch).unwrap();
    assert!((lf - lt).abs() < 1e-13 * lf);
    assert!(rel(&gt, &gf) < 1e-12);
    let v = SeededRng::new(1).normals(theta.len());
    let hf = hvp::<Flex, _>(&obj, HvpMethod::Exact, &theta, &v, &flex).unwrap();
    let ht = hvp::<LibTorch, _>(&obj, HvpMethod::Exact, &theta, &v, &tch).unwrap();
    assert!(rel(&ht, &hf) < 1e-12);

    let cnn = Arch::named("cnn2", 1.0).unwrap();
    let mut rng = SeededRng::new(4);
    let x = rng.normals(2 * 3072);
    let mut y = vec![0.0; 20];
    y[3] = 1.0;
    y[17] = 1.0;
    let images = Data::new(x, vec![2, 3, 32, 32], y, 10).unwrap();
    let theta = cnn.init(&Init::Xavier, 1);
    let obj = Supervised::new(&cnn, &images, Loss::CrossEntropy, Precision::F64);
    let (_, gf) = value_and_grad::<Flex, _>(&obj, &theta, &flex).unwrap();
    let (_, gt) = value_and_grad::<LibTorch, _>(&obj, &theta, &tch).unwrap();
    assert!(rel(&gt, &gf) < 1e-10);
    let v = rng.normals(theta.len());
    let hf = hvp::<Flex, _>(&obj, HvpMethod::Exact, &theta, &v, &flex).unwrap();
    let ht = hvp::<LibTorch, _>(&obj, HvpMethod::Exact, &theta, &v, &tch).unwrap();
    assert!(rel(&ht, &hf) < 1e-9);
}

#[test]
fn same_seed_same_initial_theta_and_toy_run_on_both_backends() {
    use spike_pipe::nn::backend::BackendKind;
    let a = train(BackendKind::Flex, 5e-3, 0.5, 1e-5, 100, &|_| {}).unwrap();
    let b = train(BackendKind::Tch, 5e-3, 0.5, 1e-5, 100, &|_| {}).unwrap();
    assert_eq!(a.x[0], b.x[0]);
    for i in 0..=100 {
        assert!(
            (a.loss[i] - b.loss[i]).abs() <= 1e-9 * a.loss[i].abs(),
            "step {i}"
        );
    }
}
