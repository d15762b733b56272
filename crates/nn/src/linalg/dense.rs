//! Dense symmetric eigendecomposition (faer), for small Hessians and Lanczos' tridiagonals.

use anyhow::{Result, anyhow};
use faer::{Mat, Side};

/// Eigenpairs of a symmetric matrix (given as rows), largest algebraic eigenvalue first;
/// `vectors[i]` belongs to `values[i]`.
pub fn eigh(a: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let n = a.len();
    let m = Mat::from_fn(n, n, |i, j| a[i][j]);
    let evd = m
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| anyhow!("symmetric eigendecomposition did not converge: {e:?}"))?;
    let (s, u) = (evd.S(), evd.U());
    // faer sorts ascending; reverse to largest first.
    let values: Vec<f64> = (0..n).rev().map(|i| s[i]).collect();
    let vectors: Vec<Vec<f64>> = (0..n)
        .rev()
        .map(|i| (0..n).map(|r| u[(r, i)]).collect())
        .collect();
    Ok((values, vectors))
}

/// The symmetric matrix of a linear operator on R^n, from its columns (the operator applied to
/// each unit vector), symmetrised as (A + A^T) / 2; non-finite entries are an error.
pub fn from_columns(
    n: usize,
    op: &mut dyn FnMut(&[f64]) -> Result<Vec<f64>>,
) -> Result<Vec<Vec<f64>>> {
    let mut cols = Vec::with_capacity(n);
    let mut e = vec![0.0; n];
    for j in 0..n {
        e[j] = 1.0;
        cols.push(op(&e)?);
        e[j] = 0.0;
    }
    let h: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| 0.5 * (cols[j][i] + cols[i][j])).collect())
        .collect();
    if h.iter().flatten().any(|x| !x.is_finite()) {
        return Err(anyhow!("the matrix has non-finite entries"));
    }
    Ok(h)
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `y += alpha x`.
pub fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

pub fn matvec(a: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    a.iter().map(|row| dot(row, x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigh_of_a_known_matrix() {
        // [[2, 1, 0], [1, 2, 0], [0, 0, -5]]: eigenvalues 3, 1, -5.
        let a = vec![
            vec![2.0, 1.0, 0.0],
            vec![1.0, 2.0, 0.0],
            vec![0.0, 0.0, -5.0],
        ];
        let (vals, vecs) = eigh(&a).unwrap();
        for (v, e) in vals.iter().zip([3.0, 1.0, -5.0]) {
            assert!((v - e).abs() < 1e-13);
        }
        for (val, vec) in vals.iter().zip(&vecs) {
            let av = matvec(&a, vec);
            let r: Vec<f64> = av.iter().zip(vec).map(|(x, y)| x - val * y).collect();
            assert!(norm(&r) < 1e-13 && (norm(vec) - 1.0).abs() < 1e-13);
        }
    }
}
