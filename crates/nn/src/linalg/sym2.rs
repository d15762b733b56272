//! Closed-form eigenvalues of a symmetric 2x2 matrix.

/// Eigenvalues of [[a, b], [b, c]], largest (algebraic) first.
pub fn eigenvalues(a: f64, b: f64, c: f64) -> [f64; 2] {
    let mean = 0.5 * (a + c);
    let radius = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    [mean + radius, mean - radius]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_known_spectra() {
        assert_eq!(eigenvalues(2.0, 0.0, -3.0), [2.0, -3.0]);
        // [[2, 1], [1, 2]] has eigenvalues 3 and 1.
        let [l1, l2] = eigenvalues(2.0, 1.0, 2.0);
        assert!((l1 - 3.0).abs() < 1e-15 && (l2 - 1.0).abs() < 1e-15);
        // Indefinite: the largest algebraic eigenvalue, not the largest magnitude.
        let [l1, l2] = eigenvalues(-10.0, 0.0, 1.0);
        assert_eq!((l1, l2), (1.0, -10.0));
    }
}
