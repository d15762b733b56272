//! The toy LLAS model trained with burn autodiff against closed forms (paper Sec 3.3, App. A.1).

use spike_pipe::linalg::sym2;
use spike_pipe::nn::backend::{BackendKind, Flex};
use spike_pipe::nn::derivatives::dense_hessian;
use spike_pipe::nn::eval;
use spike_pipe::nn::objective::{HvpMethod, value_and_grad};
use spike_pipe::nn::toy::{self, Toy};
use spike_pipe::stages::train_toy::train;

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn trajectory_matches_an_independent_f64_recurrence() {
    let (lr, steps) = (5e-3, 150);
    let log = train(BackendKind::Flex, lr, 0.5, 1e-5, steps, &|_| {}).unwrap();
    let (mut x, mut y) = (0.5f64, 1e-5f64);
    let mut worst: f64 = 0.0;
    for s in 0..=steps {
        // While |y| is above 1e-200 the values are bounded away from underflow.
        if y.abs() > 1e-200 {
            worst = worst
                .max(rel(log.x[s], x))
                .max(rel(log.y[s], y))
                .max(rel(log.loss[s], toy::loss(x, y)));
        }
        let [gx, gy] = toy::gradient(x, y);
        x -= lr * gx;
        y -= lr * gy;
    }
    assert!(worst < 1e-12, "worst relative deviation {worst:e}");
    // The spike of Fig 3.2(c): the loss rises from about 4.4 to above 250 and comes back down.
    let peak = log.loss.iter().cloned().fold(f64::MIN, f64::max);
    assert!(
        peak > 250.0 && log.loss[0] < 5.0 && log.loss[steps] < 7.0,
        "peak {peak}"
    );
}

#[test]
fn gradient_and_hessian_match_the_closed_forms() {
    let dev = Default::default();
    for &(x, y) in &[(0.5, 1e-5), (0.67, 0.0591), (-1.06, 0.225), (3.0, -2.0)] {
        let (loss, g) = value_and_grad::<Flex, _>(&Toy, &[x, y], &dev).unwrap();
        assert!(rel(loss, toy::loss(x, y)) < 1e-15);
        let gc = toy::gradient(x, y);
        for i in 0..2 {
            // f64 gradients exact to rounding: catches an f32 step anywhere in the chain.
            assert!(
                (g[i] - gc[i]).abs() <= 1e-14 * gc[i].abs().max(1.0),
                "grad {i}: {} vs {}",
                g[i],
                gc[i]
            );
        }
        let h = dense_hessian(&*eval::toy(BackendKind::Flex, HvpMethod::Exact), &[x, y]).unwrap();
        let hc = toy::hessian(x, y);
        for i in 0..2 {
            for j in 0..2 {
                assert!(
                    (h[i][j] - hc[i][j]).abs() <= 1e-12 * hc[i][j].abs().max(1.0),
                    "H[{i}][{j}]"
                );
            }
        }
        let lmax = sym2::eigenvalues(h[0][0], h[0][1], h[1][1])[0];
        let lc = sym2::eigenvalues(hc[0][0], hc[0][1], hc[1][1])[0];
        assert!(rel(lmax, lc) < 1e-13);
    }
    // At y = 0 the eigenvalues are 100x + 400 and 0 (Appendix A.1).
    let h = toy::hessian(0.5, 0.0);
    assert_eq!(sym2::eigenvalues(h[0][0], h[0][1], h[1][1]), [450.0, 0.0]);
}

#[test]
fn lambda_max_crosses_two_over_lr_around_the_spike() {
    let lr = 5e-3;
    let log = train(BackendKind::Flex, lr, 0.5, 1e-5, 150, &|_| {}).unwrap();
    // At the start lambda_max = 450 > 2/lr = 400 (unstable in y); after the spike it is below.
    assert!((log.lambda_max[0] - 450.0).abs() < 1e-6);
    assert!(log.lambda_max[60] < 400.0);
}
