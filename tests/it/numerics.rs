//! The numerical core against independent references: finite differences for gradients and
//! Hessian-vector products, dense Hessians, closed forms.

use spike_pipe::linalg::dense::{dot, eigh, norm};
use spike_pipe::linalg::lanczos::{LanczosConfig, lanczos};
use spike_pipe::nn::backend::{BackendKind, Flex, Precision};
use spike_pipe::nn::data::{Data, Loss, Supervised};
use spike_pipe::nn::derivatives::dense_hessian;
use spike_pipe::nn::eval::evaluator;
use spike_pipe::nn::init::Init;
use spike_pipe::nn::model::Arch;
use spike_pipe::nn::objective::{HvpMethod, hvp, value, value_and_grad};
use spike_pipe::nn::ops::Activation;
use spike_pipe::nn::optim::{OptState, Optimizer, preconditioned};
use spike_pipe::rng::SeededRng;

fn dev() -> <Flex as burn::backend::BackendTypes>::Device {
    Default::default()
}

fn fnn(act: Activation, width: usize, out_bias: bool) -> Arch {
    Arch::Fnn {
        width,
        act,
        out_bias,
    }
}

/// sin x + sin 4x on `n` evenly spaced points of [-3, 3].
pub(crate) fn curve(n: usize) -> Data {
    let xs: Vec<f64> = (0..n)
        .map(|i| -3.0 + 6.0 * i as f64 / (n - 1) as f64)
        .collect();
    let ys: Vec<f64> = xs.iter().map(|x| x.sin() + (4.0 * x).sin()).collect();
    Data::regression(&xs, &ys)
}

fn images(n: usize, seed: u64, classes: usize) -> Data {
    let mut rng = SeededRng::new(seed);
    let x = rng.normals(n * 3 * 32 * 32);
    let mut y = vec![0.0; n * classes];
    for i in 0..n {
        y[i * classes + rng.below(classes)] = 1.0;
    }
    Data::new(x, vec![n, 3, 32, 32], y, classes).unwrap()
}

/// Directional derivatives of the loss against central differences along random directions.
fn check_gradient(obj: &Supervised, theta: &[f64], directions: usize, tol: f64) {
    let (_, g) = value_and_grad::<Flex, _>(obj, theta, &dev()).unwrap();
    let mut rng = SeededRng::new(99);
    for _ in 0..directions {
        // Unit directions and small steps: piecewise-linear models (ReLU, max-pool) must not
        // cross a kink between the two evaluations.
        let mut v = rng.normals(theta.len());
        let nv = norm(&v);
        v.iter_mut().for_each(|x| *x /= nv);
        let eps = 1e-6;
        let plus: Vec<f64> = theta.iter().zip(&v).map(|(t, d)| t + eps * d).collect();
        let minus: Vec<f64> = theta.iter().zip(&v).map(|(t, d)| t - eps * d).collect();
        let fd = (value::<Flex, _>(obj, &plus, &dev()).unwrap()
            - value::<Flex, _>(obj, &minus, &dev()).unwrap())
            / (2.0 * eps);
        let ad = dot(&g, &v);
        assert!(
            (fd - ad).abs() <= tol * ad.abs().max(1e-3),
            "directional derivative {ad} vs finite difference {fd}"
        );
    }
}

/// Exact HVP against the central-difference HVP along random directions.
fn check_hvp(obj: &Supervised, theta: &[f64], rel_eps: f64, tol: f64) {
    let mut rng = SeededRng::new(7);
    for _ in 0..2 {
        let v = rng.normals(theta.len());
        let exact = hvp::<Flex, _>(obj, HvpMethod::Exact, theta, &v, &dev()).unwrap();
        let fd = hvp::<Flex, _>(
            obj,
            HvpMethod::CentralDifference { rel_eps },
            theta,
            &v,
            &dev(),
        )
        .unwrap();
        let diff: Vec<f64> = exact.iter().zip(&fd).map(|(a, b)| a - b).collect();
        let rel = norm(&diff) / norm(&exact);
        assert!(
            rel < tol,
            "exact vs finite-difference HVP: relative difference {rel:e}"
        );
    }
}

#[test]
fn two_layer_nets_gradients_and_hvps() {
    let data = curve(9);
    for act in [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::LeakyRelu(0.1),
    ] {
        for out_bias in [false, true] {
            let arch = fnn(act, 6, out_bias);
            let theta = arch.init(&Init::Gaussian { gamma: 0.5 }, 3);
            let obj = Supervised::new(&arch, &data, Loss::Mse, Precision::F64);
            check_gradient(&obj, &theta, 5, 1e-7);
            check_hvp(&obj, &theta, 1e-5, 1e-6);
        }
    }
}

/// The tanh net's loss, gradient and Hessian written out by hand.
fn tanh_net_reference(
    theta: &[f64],
    xs: &[f64],
    ys: &[f64],
    m: usize,
) -> (f64, Vec<f64>, Vec<Vec<f64>>) {
    let n = xs.len() as f64;
    let (a, w, b) = (&theta[..m], &theta[m..2 * m], &theta[2 * m..3 * m]);
    let mut loss = 0.0;
    let mut g = vec![0.0; 3 * m];
    let mut h = vec![vec![0.0; 3 * m]; 3 * m];
    for (&x, &y) in xs.iter().zip(ys) {
        let t: Vec<f64> = (0..m).map(|k| (w[k] * x + b[k]).tanh()).collect();
        let f: f64 = (0..m).map(|k| a[k] * t[k]).sum();
        let r = f - y;
        loss += r * r / n;
        // df/dtheta and d2f/dtheta2 per example.
        let mut df = vec![0.0; 3 * m];
        for k in 0..m {
            let s = 1.0 - t[k] * t[k];
            df[k] = t[k];
            df[m + k] = a[k] * s * x;
            df[2 * m + k] = a[k] * s;
        }
        for i in 0..3 * m {
            g[i] += 2.0 * r * df[i] / n;
            for j in 0..3 * m {
                h[i][j] += 2.0 * df[i] * df[j] / n;
            }
        }
        for k in 0..m {
            let s = 1.0 - t[k] * t[k];
            let ds = -2.0 * t[k] * s; // d(1 - tanh^2)/du
            let (ia, iw, ib) = (k, m + k, 2 * m + k);
            let c = 2.0 * r / n;
            h[ia][iw] += c * s * x;
            h[iw][ia] += c * s * x;
            h[ia][ib] += c * s;
            h[ib][ia] += c * s;
            h[iw][iw] += c * a[k] * ds * x * x;
            h[iw][ib] += c * a[k] * ds * x;
            h[ib][iw] += c * a[k] * ds * x;
            h[ib][ib] += c * a[k] * ds;
        }
    }
    (loss, g, h)
}

#[test]
fn tanh_net_matches_the_analytic_hessian_and_lanczos_matches_eigh() {
    let data = curve(11);
    let m = 8;
    let arch = fnn(Activation::Tanh, m, false);
    let theta = arch.init(&Init::Gaussian { gamma: 0.5 }, 11);
    let (rl, rg, rh) = tanh_net_reference(&theta, &data.x, &data.y, m);
    let (dense_vals, dense_vecs) = eigh(&rh).unwrap();
    // both the autodiff reference and the native path
    for backend in [BackendKind::Flex, BackendKind::Native] {
        let obj = evaluator(
            backend,
            Supervised::new(&arch, &data, Loss::Mse, Precision::F64),
            HvpMethod::Exact,
        );
        let (loss, g) = obj.loss_and_grad(&theta).unwrap();
        assert!((loss - rl).abs() < 1e-14 * rl, "{backend:?}");
        let gerr = norm(&g.iter().zip(&rg).map(|(a, b)| a - b).collect::<Vec<_>>()) / norm(&rg);
        // f64 all the way: an f32 rounding anywhere (e.g. a div_scalar backward) would show as ~1e-8.
        assert!(
            gerr < 1e-13,
            "{backend:?}: gradient relative error {gerr:e}"
        );
        let h = dense_hessian(&*obj, &theta).unwrap();
        let mut worst: f64 = 0.0;
        let scale = rh.iter().flatten().fold(0.0f64, |a, b| a.max(b.abs()));
        for i in 0..3 * m {
            for j in 0..3 * m {
                worst = worst.max((h[i][j] - rh[i][j]).abs());
            }
        }
        assert!(
            worst < 1e-12 * scale,
            "{backend:?}: Hessian max error {worst:e} (scale {scale:e})"
        );
        let cfg = LanczosConfig {
            k: 5,
            max_iter: 3 * m,
            tol: 1e-10,
            seed: 4,
        };
        let e = lanczos(3 * m, &mut |v| obj.hvp(&theta, v), &cfg, None).unwrap();
        for i in 0..5 {
            assert!(
                (e.values[i] - dense_vals[i]).abs() < 1e-8 * dense_vals[0].abs(),
                "{backend:?}: eigenvalue {i}"
            );
            let overlap = dot(&e.vectors[i], &dense_vecs[i]).abs();
            assert!(
                overlap > 1.0 - 1e-6,
                "{backend:?}: eigenvector {i} overlap {overlap}"
            );
        }
    }
}

#[test]
fn cnns_gradients_and_hvps() {
    for name in ["cnn2", "cnn3", "cnn5"] {
        let arch = Arch::named(name, 1.0).unwrap();
        let data = images(3, 1, 10);
        let theta = arch.init(&Init::Xavier, 5);
        for loss in [Loss::Mse, Loss::CrossEntropy] {
            let obj = Supervised::new(&arch, &data, loss, Precision::F64);
            check_gradient(&obj, &theta, 3, 1e-6);
            check_hvp(&obj, &theta, 1e-8, 1e-5);
        }
    }
}

#[test]
fn vgg_with_batch_norm_gradients_and_hvps() {
    let arch = Arch::named("vgg11", 1.0 / 16.0).unwrap();
    let data = images(4, 2, 10);
    let theta = arch.init(&Init::Kaiming, 5);
    let obj = Supervised::new(&arch, &data, Loss::Mse, Precision::F64);
    check_gradient(&obj, &theta, 3, 1e-6);
    check_hvp(&obj, &theta, 1e-8, 1e-5);
}

#[test]
fn fast_and_twice_differentiable_ops_compute_the_same_function() {
    use spike_pipe::nn::backend::tensor;
    use spike_pipe::nn::ops::Order;
    for name in ["cnn2", "cnn5"] {
        let arch = Arch::named(name, 1.0).unwrap();
        let data = images(2, 3, 10);
        let theta = arch.init(&Init::Xavier, 1);
        let run = |order| {
            let t = tensor::<Flex>(&theta, &[theta.len()], Precision::F64, &dev());
            let x = tensor::<Flex>(&data.x, &data.x_shape, Precision::F64, &dev());
            spike_pipe::nn::backend::to_vec::<Flex>(arch.forward::<Flex>(&t, x, order)).unwrap()
        };
        let (a, b) = (run(Order::First), run(Order::Second));
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                "{name}: {x} vs {y}"
            );
        }
    }
}

/// Adam's preconditioned operator P^-1/2 H P^-1/2 (the matrix whose top eigenvalue is the
/// preconditioned sharpness): symmetric, equal to the dense float64 product, its Lanczos top
/// eigenvalue that of the dense matrix, and that eigenvalue one of P^-1 H.
#[test]
fn adams_preconditioned_hessian_against_a_dense_computation() {
    let arch = fnn(Activation::Tanh, 6, false);
    let data = curve(8);
    let obj = evaluator(
        BackendKind::Native,
        Supervised::new(&arch, &data, Loss::Mse, Precision::F64),
        HvpMethod::Exact,
    );
    let adam = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    // Five steps of Adam, then the preconditioner of the sixth.
    let (mut theta, mut state) = (
        arch.init(&Init::Gaussian { gamma: 1.0 }, 3),
        OptState::default(),
    );
    for _ in 0..5 {
        let (_, g) = obj.loss_and_grad(&theta).unwrap();
        adam.step(&mut state, &mut theta, &g, 0.01);
    }
    let (_, g) = obj.loss_and_grad(&theta).unwrap();
    let p = adam.preconditioner(&state, Some(&g)).unwrap();
    let n = theta.len();
    let h = dense_hessian(&*obj, &theta).unwrap();
    let dense: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| h[i][j] / (p[i] * p[j]).sqrt()).collect())
        .collect();
    let (values, vectors) = eigh(&dense).unwrap();
    let scale = values[0].abs();
    let mut hessian = obj.hessian_at(&theta);
    let mut op = preconditioned(&mut *hessian, &p);
    let columns: Vec<Vec<f64>> = (0..n)
        .map(|j| {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            op(&e).unwrap()
        })
        .collect();
    for i in 0..n {
        for j in 0..n {
            assert!(
                (columns[j][i] - columns[i][j]).abs() <= 1e-12 * scale,
                "not symmetric at ({i}, {j})"
            );
            assert!(
                (columns[j][i] - dense[i][j]).abs() <= 1e-12 * scale,
                "differs from the dense product at ({i}, {j})"
            );
        }
    }
    let cfg = LanczosConfig {
        k: 1,
        max_iter: n,
        tol: 1e-12,
        seed: 1,
    };
    let top = lanczos(n, &mut op, &cfg, None).unwrap().values[0];
    assert!(
        (top - values[0]).abs() <= 1e-10 * scale,
        "Lanczos {top} vs dense {}",
        values[0]
    );
    // x = P^-1/2 y is an eigenvector of P^-1 H with the same eigenvalue.
    let x: Vec<f64> = vectors[0]
        .iter()
        .zip(&p)
        .map(|(y, p)| y / p.sqrt())
        .collect();
    let hx = obj.hvp(&theta, &x).unwrap();
    for i in 0..n {
        assert!((hx[i] / p[i] - values[0] * x[i]).abs() <= 1e-9 * scale * norm(&x));
    }
}
