//! Principal component analysis of a set of points (parameter vectors), through the Gram matrix
//! of the centred points, so the cost is O(T^2 n) for T points of dimension n.

use anyhow::{Result, bail};

use super::dense::{axpy, dot, eigh, norm};

pub struct Pca {
    /// Unit principal directions, largest variance first.
    pub directions: Vec<Vec<f64>>,
    /// Fraction of the total variance along each direction (all components).
    pub explained: Vec<f64>,
}

/// PCA of `points` after subtracting their mean (as scikit-learn's PCA); keeps `k` directions.
/// Each direction's sign is chosen so that its largest component is positive.
pub fn pca(points: &[Vec<f64>], k: usize) -> Result<Pca> {
    let t = points.len();
    if t < 2 {
        bail!("PCA needs at least 2 points, got {t}");
    }
    let n = points[0].len();
    let mut mean = vec![0.0; n];
    for p in points {
        axpy(1.0 / t as f64, p, &mut mean);
    }
    let centred: Vec<Vec<f64>> = points
        .iter()
        .map(|p| p.iter().zip(&mean).map(|(a, b)| a - b).collect())
        .collect();
    let gram: Vec<Vec<f64>> = (0..t)
        .map(|i| (0..t).map(|j| dot(&centred[i], &centred[j])).collect())
        .collect();
    let (values, vectors) = eigh(&gram)?;
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    if total <= 0.0 {
        bail!("the points are all equal; PCA is undefined");
    }
    let explained: Vec<f64> = values.iter().map(|v| v.max(0.0) / total).collect();
    let mut directions = Vec::new();
    for (value, u) in values.iter().zip(&vectors).take(k.min(t)) {
        if *value <= 1e-14 * total {
            break;
        }
        let mut d = vec![0.0; n];
        for (c, p) in centred.iter().enumerate() {
            axpy(u[c], p, &mut d);
        }
        let dn = norm(&d);
        let big = d
            .iter()
            .cloned()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        d.iter_mut().for_each(|x| *x *= sign / dn);
        directions.push(d);
    }
    Ok(Pca {
        directions,
        explained,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_known_directions_and_variances() {
        // Points spread 3:1 along (1, 1, 0)/sqrt2 and (0, 0, 1), offset from the origin.
        let s = 0.5f64.sqrt();
        let mut points = Vec::new();
        for i in 0..8 {
            for j in 0..8 {
                let a = 3.0 * (i as f64 - 3.5);
                let b = j as f64 - 3.5;
                points.push(vec![5.0 + a * s, -2.0 + a * s, 1.0 + b]);
            }
        }
        let p = pca(&points, 2).unwrap();
        assert!((p.explained[0] - 0.9).abs() < 1e-12, "{:?}", p.explained);
        assert!((p.explained[1] - 0.1).abs() < 1e-12);
        assert!((dot(&p.directions[0], &[s, s, 0.0]) - 1.0).abs() < 1e-12);
        assert!((dot(&p.directions[1], &[0.0, 0.0, 1.0]) - 1.0).abs() < 1e-12);
        assert!(pca(&points[..1], 2).is_err());
    }
}
