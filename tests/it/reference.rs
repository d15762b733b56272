//! Plain-Rust reference implementations of the paper's networks (loops, no burn), used to check
//! the burn models' outputs, gradients and training steps independently.
#![allow(dead_code)]

use spike_pipe::nn::model::Arch;

/// x: [c, h, w] flat; w: [cout, cin, 3, 3]; padding 1.
fn conv3x3(
    x: &[f64],
    c: usize,
    h: usize,
    w: &[f64],
    bias: Option<&[f64]>,
    cout: usize,
) -> Vec<f64> {
    let mut out = vec![0.0; cout * h * h];
    for o in 0..cout {
        for i in 0..h {
            for j in 0..h {
                let mut s = bias.map(|b| b[o]).unwrap_or(0.0);
                for ci in 0..c {
                    for di in 0..3 {
                        for dj in 0..3 {
                            let (ii, jj) =
                                (i as isize + di as isize - 1, j as isize + dj as isize - 1);
                            if ii >= 0 && jj >= 0 && (ii as usize) < h && (jj as usize) < h {
                                s += w[((o * c + ci) * 3 + di) * 3 + dj]
                                    * x[(ci * h + ii as usize) * h + jj as usize];
                            }
                        }
                    }
                }
                out[(o * h + i) * h + j] = s;
            }
        }
    }
    out
}

fn pool2(x: &[f64], c: usize, h: usize) -> Vec<f64> {
    let k = h / 2;
    let mut out = vec![0.0; c * k * k];
    for ci in 0..c {
        for i in 0..k {
            for j in 0..k {
                let at = |a: usize, b: usize| x[(ci * h + 2 * i + a) * h + 2 * j + b];
                out[(ci * k + i) * k + j] = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
            }
        }
    }
    out
}

fn relu(x: &mut [f64]) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// Outputs [n, classes] of a CNN or VGG for images [n, 3, 32, 32].
pub fn forward(arch: &Arch, theta: &[f64], x: &[f64], n: usize) -> Vec<f64> {
    if let Arch::Fnn {
        width,
        act,
        out_bias,
    } = arch
    {
        let m = *width;
        return (0..n)
            .map(|i| {
                let s: f64 = (0..m)
                    .map(|k| theta[k] * act.eval(theta[m + k] * x[i] + theta[2 * m + k]))
                    .sum();
                s + if *out_bias { theta[3 * m] } else { 0.0 }
            })
            .collect();
    }
    let blocks = arch.blocks();
    let mut params: Vec<&[f64]> = Vec::new();
    let mut off = 0;
    for b in &blocks {
        params.push(&theta[off..off + b.len()]);
        off += b.len();
    }
    let mut p = params.into_iter();
    let mut acts: Vec<Vec<f64>> = (0..n)
        .map(|i| x[i * 3072..(i + 1) * 3072].to_vec())
        .collect();
    let (mut c, mut h) = (3usize, 32usize);
    match arch {
        Arch::Cnn {
            convs,
            hidden,
            classes,
        } => {
            for &cout in convs {
                let (w, b) = (p.next().unwrap(), p.next().unwrap());
                for a in acts.iter_mut() {
                    let mut y = conv3x3(a, c, h, w, Some(b), cout);
                    relu(&mut y);
                    *a = pool2(&y, cout, h);
                }
                c = cout;
                h /= 2;
            }
            let mut widths: Vec<usize> = hidden.clone();
            widths.push(*classes);
            for (li, &out) in widths.iter().enumerate() {
                let (w, b) = (p.next().unwrap(), p.next().unwrap());
                for a in acts.iter_mut() {
                    let fin = a.len();
                    let mut y: Vec<f64> = (0..out)
                        .map(|o| b[o] + (0..fin).map(|i| a[i] * w[i * out + o]).sum::<f64>())
                        .collect();
                    if li + 1 < widths.len() {
                        relu(&mut y);
                    }
                    *a = y;
                }
            }
        }
        Arch::Vgg {
            bn_eps, classes, ..
        } => {
            let convs: Vec<&spike_pipe::nn::model::Block> =
                blocks.iter().filter(|b| b.shape.len() == 4).collect();
            let mut conv_i = 0;
            for step in 0..13 {
                let is_pool = [1, 3, 6, 9, 12].contains(&step);
                if is_pool {
                    for a in acts.iter_mut() {
                        *a = pool2(a, c, h);
                    }
                    h /= 2;
                    continue;
                }
                let cout = convs[conv_i].shape[0];
                conv_i += 1;
                let (w, gamma, beta) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
                let mut ys: Vec<Vec<f64>> = acts
                    .iter()
                    .map(|a| conv3x3(a, c, h, w, None, cout))
                    .collect();
                for o in 0..cout {
                    let vals: Vec<f64> = ys
                        .iter()
                        .flat_map(|y| y[o * h * h..(o + 1) * h * h].to_vec())
                        .collect();
                    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                    let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
                        / vals.len() as f64;
                    for y in ys.iter_mut() {
                        for v in &mut y[o * h * h..(o + 1) * h * h] {
                            *v =
                                ((*v - mean) / (var + bn_eps).sqrt() * gamma[o] + beta[o]).max(0.0);
                        }
                    }
                }
                acts = ys;
                c = cout;
            }
            let (w, b) = (p.next().unwrap(), p.next().unwrap());
            for a in acts.iter_mut() {
                let fin = a.len();
                *a = (0..*classes)
                    .map(|o| b[o] + (0..fin).map(|i| a[i] * w[i * classes + o]).sum::<f64>())
                    .collect();
            }
        }
        Arch::Fnn { .. } => unreachable!("handled above"),
    }
    acts.concat()
}

/// MSE (mean over all elements) of the reference forward.
pub fn mse(arch: &Arch, theta: &[f64], x: &[f64], y: &[f64], n: usize) -> f64 {
    let f = forward(arch, theta, x, n);
    f.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / f.len() as f64
}

/// Central-difference gradient of `f` in every coordinate.
pub fn fd_gradient(f: &dyn Fn(&[f64]) -> f64, theta: &[f64], eps: f64) -> Vec<f64> {
    let mut t = theta.to_vec();
    (0..theta.len())
        .map(|i| {
            t[i] = theta[i] + eps;
            let p = f(&t);
            t[i] = theta[i] - eps;
            let m = f(&t);
            t[i] = theta[i];
            (p - m) / (2.0 * eps)
        })
        .collect()
}
