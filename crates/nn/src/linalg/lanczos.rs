//! Lanczos with full reorthogonalisation for the largest *algebraic* eigenpairs of a symmetric
//! operator given only by matrix-vector products (Hessian-vector products).

use anyhow::{Result, bail};

use super::dense::{axpy, dot, eigh, norm};
use crate::rng::SeededRng;

#[derive(Clone, Debug)]
pub struct LanczosConfig {
    /// Number of eigenpairs wanted (largest algebraic first).
    pub k: usize,
    /// Maximum Krylov dimension (= matrix-vector products).
    pub max_iter: usize,
    /// A pair has converged when its Ritz residual is at most `tol * max(|lambda_1|, 1e-30)`.
    pub tol: f64,
    /// Seed of the random start vector (when there is no warm start).
    pub seed: u64,
}

impl Default for LanczosConfig {
    fn default() -> Self {
        LanczosConfig {
            k: 1,
            max_iter: 100,
            tol: 1e-8,
            seed: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Eigen {
    /// Ritz values, largest first.
    pub values: Vec<f64>,
    /// Ritz vectors (unit norm), one per value.
    pub vectors: Vec<Vec<f64>>,
    /// Ritz residual norms ||A y - theta y|| (= beta_m |s_m| with full reorthogonalisation).
    pub residuals: Vec<f64>,
    /// Krylov dimension reached.
    pub iterations: usize,
    /// Matrix-vector products used.
    pub matvecs: usize,
    pub converged: bool,
}

/// Top-`k` eigenpairs of the symmetric operator `op` on R^n, starting from `start` (a warm start,
/// e.g. the previous top eigenvector) or a seeded random vector.
pub fn lanczos(
    n: usize,
    op: &mut dyn FnMut(&[f64]) -> Result<Vec<f64>>,
    cfg: &LanczosConfig,
    start: Option<&[f64]>,
) -> Result<Eigen> {
    if n == 0 || cfg.k == 0 {
        bail!("lanczos needs n > 0 and k > 0 (n = {n}, k = {})", cfg.k);
    }
    let k = cfg.k.min(n);
    let max_iter = cfg.max_iter.max(k).min(n);
    let mut q = match start {
        Some(s) if s.len() == n && norm(s) > 0.0 => s.to_vec(),
        _ => SeededRng::new(cfg.seed).normals(n),
    };
    let q_norm = norm(&q);
    q.iter_mut().for_each(|x| *x /= q_norm);

    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(max_iter);
    let mut alpha: Vec<f64> = Vec::new();
    let mut beta: Vec<f64> = Vec::new();
    let mut matvecs = 0;
    basis.push(q);
    loop {
        let j = basis.len() - 1;
        let mut w = op(&basis[j])?;
        matvecs += 1;
        if w.len() != n || w.iter().any(|x| !x.is_finite()) {
            bail!("the operator returned a non-finite or wrongly sized vector");
        }
        let a = dot(&w, &basis[j]);
        alpha.push(a);
        // Full reorthogonalisation (twice is enough, Kahan-Parlett).
        for _ in 0..2 {
            for b in &basis {
                let c = dot(&w, b);
                axpy(-c, b, &mut w);
            }
        }
        let b = norm(&w);
        let m = alpha.len();
        // Solving the tridiagonal costs O(m^3): for many pairs, check convergence every few steps.
        let check_every = (k / 5).max(1);
        let exhausted = m >= max_iter;
        if !exhausted && b > 0.0 && (m < k || !(m - k).is_multiple_of(check_every)) {
            beta.push(b);
            w.iter_mut().for_each(|x| *x /= b);
            basis.push(w);
            continue;
        }
        let t: Vec<Vec<f64>> = (0..m)
            .map(|r| {
                (0..m)
                    .map(|c| match r.abs_diff(c) {
                        0 => alpha[r],
                        1 => beta[r.min(c)],
                        _ => 0.0,
                    })
                    .collect()
            })
            .collect();
        let (theta, s) = eigh(&t)?;
        let scale = theta.iter().map(|x| x.abs()).fold(1e-30, f64::max);
        let kk = k.min(m);
        let residual_of = |i: usize| b * s[i][m - 1].abs();
        let done = m >= k && (0..kk).all(|i| residual_of(i) <= cfg.tol * scale);
        let exhausted = exhausted || b <= 1e-14 * scale;
        if done || exhausted {
            let mut vectors = Vec::with_capacity(kk);
            let mut residuals = Vec::with_capacity(kk);
            for si in &s[..kk] {
                let mut y = vec![0.0; n];
                for (c, q) in basis.iter().enumerate() {
                    axpy(si[c], q, &mut y);
                }
                let yn = norm(&y);
                y.iter_mut().for_each(|x| *x /= yn);
                vectors.push(y);
                residuals.push(b * si[m - 1].abs());
            }
            return Ok(Eigen {
                values: theta[..kk].to_vec(),
                vectors,
                residuals,
                iterations: m,
                matvecs,
                converged: done || b <= 1e-14 * scale,
            });
        }
        beta.push(b);
        w.iter_mut().for_each(|x| *x /= b);
        basis.push(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::dense::matvec;

    /// A random symmetric matrix with the given spectrum: Q diag(l) Q^T, Q orthogonal.
    pub(crate) fn with_spectrum(spectrum: &[f64], seed: u64) -> Vec<Vec<f64>> {
        let n = spectrum.len();
        let mut rng = SeededRng::new(seed);
        let mut q: Vec<Vec<f64>> = Vec::new();
        while q.len() < n {
            let mut v = rng.normals(n);
            for _ in 0..2 {
                for b in &q {
                    let c = dot(&v, b);
                    axpy(-c, b, &mut v);
                }
            }
            let nv = norm(&v);
            v.iter_mut().for_each(|x| *x /= nv);
            q.push(v);
        }
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (0..n).map(|k| q[k][i] * spectrum[k] * q[k][j]).sum())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn largest_algebraic_not_largest_magnitude() {
        // Indefinite: |-50| is the largest magnitude, 3 the largest algebraic eigenvalue.
        let mut spectrum = vec![3.0, 2.5, 2.0, -50.0, -40.0];
        spectrum.extend((0..55).map(|i| -1.0 + i as f64 * 0.03));
        let a = with_spectrum(&spectrum, 3);
        let cfg = LanczosConfig {
            k: 3,
            max_iter: 60,
            tol: 1e-10,
            seed: 1,
        };
        let e = lanczos(60, &mut |v| Ok(matvec(&a, v)), &cfg, None).unwrap();
        let (dense, _) = eigh(&a).unwrap();
        assert!(e.converged);
        for (v, d) in e.values.iter().zip(&dense) {
            assert!((v - d).abs() < 1e-9, "{v} vs {d}");
        }
        assert!((e.values[0] - 3.0).abs() < 1e-9);
        // Reported residuals are the true ones.
        for i in 0..3 {
            let av = matvec(&a, &e.vectors[i]);
            let r: Vec<f64> = av
                .iter()
                .zip(&e.vectors[i])
                .map(|(x, y)| x - e.values[i] * y)
                .collect();
            assert!(
                (norm(&r) - e.residuals[i]).abs() < 1e-8,
                "{} vs {}",
                norm(&r),
                e.residuals[i]
            );
        }
    }

    #[test]
    fn top_k_and_warm_start() {
        let spectrum: Vec<f64> = (0..200).map(|i| 100.0 * 0.9f64.powi(i)).collect();
        let a = with_spectrum(&spectrum, 5);
        let cfg = LanczosConfig {
            k: 10,
            max_iter: 200,
            tol: 1e-10,
            seed: 2,
        };
        let mut count = 0;
        let e = lanczos(
            200,
            &mut |v| {
                count += 1;
                Ok(matvec(&a, v))
            },
            &cfg,
            None,
        )
        .unwrap();
        assert_eq!(e.matvecs, count);
        for i in 0..10 {
            assert!((e.values[i] - spectrum[i]).abs() < 1e-8 * spectrum[0]);
        }
        // Warm-started from the answer, lambda_max converges in very few products.
        let cfg1 = LanczosConfig {
            k: 1,
            max_iter: 200,
            tol: 1e-10,
            seed: 2,
        };
        let warm = lanczos(200, &mut |v| Ok(matvec(&a, v)), &cfg1, Some(&e.vectors[0])).unwrap();
        let cold = lanczos(200, &mut |v| Ok(matvec(&a, v)), &cfg1, None).unwrap();
        assert!(
            warm.matvecs <= 3 && warm.matvecs < cold.matvecs,
            "{} vs {}",
            warm.matvecs,
            cold.matvecs
        );
        assert!((warm.values[0] - 100.0).abs() < 1e-8);
    }
}
