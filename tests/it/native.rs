//! The native CPU path against burn's autodiff (flex): losses, gradients, exact HVPs (one at a
//! time and from the Hessian operator at a point), 100 GD steps and 30 of momentum and Adam
//! on every architecture, to about 1e-12 relative in f64 and to float32 rounding in f32.

use crate::numerics::curve;
use spike_pipe::nn::backend::{BackendKind, Precision};
use spike_pipe::nn::data::{Data, Loss, Supervised};
use spike_pipe::nn::derivatives::{Derivatives, Evaluator};
use spike_pipe::nn::eval::evaluator;
use spike_pipe::nn::init::Init;
use spike_pipe::nn::model::Arch;
use spike_pipe::nn::objective::HvpMethod;
use spike_pipe::nn::ops::Activation;
use spike_pipe::nn::optim::{OptState, Optimizer};
use spike_pipe::rng::SeededRng;

/// `max |a - b| / max |b|`: the error relative to the reference's scale.
fn rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let err = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    err / scale.max(f64::MIN_POSITIVE)
}

fn images(n: usize, seed: u64) -> Data {
    let mut rng = SeededRng::new(seed);
    let x = (0..n * 3072).map(|_| rng.uniform(0.0, 1.0)).collect();
    let mut y = vec![0.0; n * 10];
    for i in 0..n {
        y[i * 10 + rng.below(10)] = 1.0;
    }
    Data::new(x, vec![n, 3, 32, 32], y, 10).unwrap()
}

struct Case {
    name: &'static str,
    arch: Arch,
    data: Data,
    loss: Loss,
    init: Init,
}

fn cases() -> Vec<Case> {
    let fnn = |act, out_bias| Arch::Fnn {
        width: 16,
        act,
        out_bias,
    };
    let gaussian = Init::Gaussian { gamma: 1.0 };
    vec![
        Case {
            name: "fnn tanh",
            arch: fnn(Activation::Tanh, false),
            data: curve(40),
            loss: Loss::Mse,
            init: gaussian,
        },
        Case {
            name: "fnn relu + bias",
            arch: fnn(Activation::Relu, true),
            data: curve(40),
            loss: Loss::HalfMse,
            init: gaussian,
        },
        Case {
            name: "fnn sigmoid",
            arch: fnn(Activation::Sigmoid, true),
            data: curve(40),
            loss: Loss::Mse,
            init: gaussian,
        },
        Case {
            name: "fnn leaky relu",
            arch: fnn(Activation::LeakyRelu(0.1), false),
            data: curve(40),
            loss: Loss::Mse,
            init: gaussian,
        },
        Case {
            name: "cnn2",
            arch: Arch::named("cnn2", 1.0).unwrap(),
            data: images(6, 1),
            loss: Loss::Mse,
            init: Init::Xavier,
        },
        Case {
            name: "cnn3",
            arch: Arch::named("cnn3", 1.0).unwrap(),
            data: images(5, 2),
            loss: Loss::CrossEntropy,
            init: Init::Xavier,
        },
        Case {
            name: "cnn5",
            arch: Arch::named("cnn5", 1.0).unwrap(),
            data: images(5, 3),
            loss: Loss::Mse,
            init: Init::Xavier,
        },
        Case {
            name: "vgg11 1/16",
            arch: Arch::named("vgg11", 1.0 / 16.0).unwrap(),
            data: images(6, 4),
            loss: Loss::Mse,
            init: Init::Xavier,
        },
        Case {
            name: "vgg11 1/16 ce",
            arch: Arch::named("vgg11", 1.0 / 16.0).unwrap(),
            data: images(6, 5),
            loss: Loss::CrossEntropy,
            init: Init::Xavier,
        },
    ]
}

fn pair<'a>(
    c: &'a Case,
    precision: Precision,
) -> (Box<dyn Evaluator + 'a>, Box<dyn Evaluator + 'a>) {
    let on = |b| {
        evaluator(
            b,
            Supervised::new(&c.arch, &c.data, c.loss, precision),
            HvpMethod::Exact,
        )
    };
    (on(BackendKind::Native), on(BackendKind::Flex))
}

/// Loss, gradient, HVP and outputs at the initialisation and at a perturbed point.
fn agree(precision: Precision, tol: f64) {
    for c in cases() {
        let (native, flex) = pair(&c, precision);
        let theta0 = c.arch.init(&c.init, 7);
        let mut rng = SeededRng::new(11);
        let theta: Vec<f64> = theta0.iter().map(|t| t + 0.05 * rng.normal()).collect();
        let v = rng.normals(theta.len());
        let v2 = rng.normals(theta.len());
        for t in [&theta0, &theta] {
            let (ln, gn) = native.loss_and_grad(t).unwrap();
            let (lf, gf) = flex.loss_and_grad(t).unwrap();
            assert!(rel(&[ln], &[lf]) <= tol, "{}: loss {ln} vs {lf}", c.name);
            assert!(
                rel(&[native.loss(t).unwrap()], &[lf]) <= tol,
                "{}: loss alone",
                c.name
            );
            let e = rel(&gn, &gf);
            assert!(e <= tol, "{}: gradient off by {e:e}", c.name);
            let hf = flex.hvp(t, &v).unwrap();
            let e = rel(&native.hvp(t, &v).unwrap(), &hf);
            assert!(e <= tol, "{}: HVP off by {e:e}", c.name);
            // The operator at t (the two-layer net's caches its forward pass), over two products.
            let mut at_t = native.hessian_at(t);
            for (w, reference) in [(&v2, flex.hvp(t, &v2).unwrap()), (&v, hf)] {
                let e = rel(&at_t(w).unwrap(), &reference);
                assert!(e <= tol, "{}: Hessian operator off by {e:e}", c.name);
            }
            let (x, shape) = (&c.data.x, &c.data.x_shape);
            let e = rel(
                &native.outputs(t, x, shape).unwrap(),
                &flex.outputs(t, x, shape).unwrap(),
            );
            assert!(e <= tol, "{}: outputs off by {e:e}", c.name);
        }
    }
}

#[test]
fn native_agrees_with_autodiff_in_f64() {
    agree(Precision::F64, 1e-12);
}

/// Float32 rounding: the reference itself is only that accurate (unit roundoff 6e-8, sums of up
/// to a few thousand terms).
#[test]
fn native_agrees_with_autodiff_in_f32() {
    agree(Precision::F32, 1e-5);
}

fn gd(d: &dyn Derivatives, theta: &[f64], lr: f64, steps: usize) -> (Vec<f64>, Vec<f64>) {
    let mut t = theta.to_vec();
    let mut losses = vec![];
    for _ in 0..steps {
        let (l, g) = d.loss_and_grad(&t).unwrap();
        losses.push(l);
        for (t, g) in t.iter_mut().zip(&g) {
            *t -= lr * g;
        }
    }
    (t, losses)
}

/// `steps` steps of `opt` from `theta`: the final theta and the losses on the way.
fn optimise(
    d: &dyn Derivatives,
    theta: &[f64],
    opt: Optimizer,
    lr: f64,
    steps: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (mut t, mut state, mut losses) = (theta.to_vec(), OptState::default(), vec![]);
    for _ in 0..steps {
        let (l, g) = d.loss_and_grad(&t).unwrap();
        losses.push(l);
        opt.step(&mut state, &mut t, &g, lr);
    }
    (t, losses)
}

/// Momentum and Adam run on the host on every backend's gradients: native and burn's autodiff
/// give the same trajectory.
#[test]
fn momentum_and_adam_steps_agree_in_f64() {
    let optimisers = [
        (Optimizer::HeavyBall { beta: 0.9 }, 0.01),
        (Optimizer::Nesterov { beta: 0.9 }, 0.01),
        (
            Optimizer::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            0.001,
        ),
    ];
    for c in cases() {
        let (native, flex) = pair(&c, Precision::F64);
        let theta = c.arch.init(&c.init, 3);
        for (opt, lr) in optimisers {
            let (tn, ln) = optimise(&*native, &theta, opt, lr, 30);
            let (tf, lf) = optimise(&*flex, &theta, opt, lr, 30);
            let (el, et) = (rel(&ln, &lf), rel(&tn, &tf));
            assert!(el <= 1e-11, "{} {opt:?}: losses off by {el:e}", c.name);
            assert!(et <= 1e-11, "{} {opt:?}: theta off by {et:e}", c.name);
            assert!(ln[29] < ln[0], "{} {opt:?} lowers the loss", c.name);
        }
    }
}

#[test]
fn one_hundred_gd_steps_agree_in_f64() {
    for c in cases() {
        let (native, flex) = pair(&c, Precision::F64);
        let theta = c.arch.init(&c.init, 3);
        let (tn, ln) = gd(&*native, &theta, 0.05, 100);
        let (tf, lf) = gd(&*flex, &theta, 0.05, 100);
        assert!(
            rel(&ln, &lf) <= 1e-12,
            "{}: losses off by {:e}",
            c.name,
            rel(&ln, &lf)
        );
        assert!(
            rel(&tn, &tf) <= 1e-12,
            "{}: theta off by {:e}",
            c.name,
            rel(&tn, &tf)
        );
        assert!(ln[99] < ln[0], "{}: GD at lr 0.05 lowers the loss", c.name);
    }
}

/// The dual-number HVP is exact: against the Hessian of a function known in closed form.
#[test]
fn native_toy_hessian_is_the_closed_form() {
    let toy = spike_pipe::nn::eval::toy(BackendKind::Native, HvpMethod::Exact);
    for (x, y) in [(0.5, 1e-5), (-1.0, 0.3), (3.0, -2.0)] {
        let h = spike_pipe::nn::derivatives::dense_hessian(&*toy, &[x, y]).unwrap();
        let want = spike_pipe::nn::toy::hessian(x, y);
        for i in 0..2 {
            assert_eq!(h[i], want[i].to_vec());
        }
        let (l, g) = toy.loss_and_grad(&[x, y]).unwrap();
        assert_eq!(l, spike_pipe::nn::toy::loss(x, y));
        assert_eq!(g, spike_pipe::nn::toy::gradient(x, y).to_vec());
    }
}

/// The same call gives the same bits, whatever rayon's scheduling did.
#[test]
fn native_results_repeat_bit_for_bit() {
    let c = &cases()[7];
    let (native, _) = pair(c, Precision::F32);
    let theta = c.arch.init(&c.init, 1);
    let v = SeededRng::new(5).normals(theta.len());
    let a = (
        native.loss_and_grad(&theta).unwrap(),
        native.hvp(&theta, &v).unwrap(),
    );
    for _ in 0..3 {
        let b = (
            native.loss_and_grad(&theta).unwrap(),
            native.hvp(&theta, &v).unwrap(),
        );
        assert!(a == b);
    }
}
