//! Parameter initialisation from the project's own seeded RNG (ChaCha8, host side), so that a
//! seed gives the same initial network on every backend and machine.

use super::model::{Arch, Block, Role};
use crate::rng::SeededRng;

impl Arch {
    /// Initial theta from `seed` (host-side, so identical on every backend).
    pub fn init(&self, init: &Init, seed: u64) -> Vec<f64> {
        let mut rng = SeededRng::new(seed);
        let mut theta = Vec::with_capacity(self.dim());
        for block in self.blocks() {
            theta.extend(init.sample(self, &block, &mut rng));
        }
        theta
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Every parameter ~ N(0, m^-gamma), m the width (paper Appendix A; gamma = 1 is the
    /// "linear regime" default, the gamma sweep of Fig 5.4 varies it).
    Gaussian { gamma: f64 },
    /// Weights ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (PyTorch's xavier_uniform_);
    /// biases 0; batch-norm scale 1, shift 0.
    Xavier,
    /// Conv weights ~ N(0, 2 / fan_out) (torchvision's VGG init), linear weights ~ N(0, 0.01^2),
    /// biases 0, batch-norm scale 1, shift 0.
    Kaiming,
}

impl Init {
    pub(crate) fn sample(&self, arch: &Arch, block: &Block, rng: &mut SeededRng) -> Vec<f64> {
        let n = block.len();
        match (self, block.role) {
            (Init::Gaussian { gamma }, _) => {
                let m = match arch {
                    Arch::Fnn { width, .. } => *width,
                    _ => block.fan_in,
                };
                let std = (m as f64).powf(-gamma / 2.0);
                (0..n).map(|_| std * rng.normal()).collect()
            }
            (_, Role::Bias) | (_, Role::BnShift) => vec![0.0; n],
            (_, Role::BnScale) => vec![1.0; n],
            (Init::Xavier, Role::Weight) => {
                let a = (6.0 / (block.fan_in + block.fan_out) as f64).sqrt();
                (0..n).map(|_| rng.uniform(-a, a)).collect()
            }
            (Init::Kaiming, Role::Weight) => {
                let std = if block.shape.len() == 4 {
                    (2.0 / block.fan_out as f64).sqrt()
                } else {
                    0.01
                };
                (0..n).map(|_| std * rng.normal()).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Activation;

    #[test]
    fn same_seed_same_theta_and_the_variance_convention() {
        let arch = Arch::Fnn {
            width: 4000,
            act: Activation::Tanh,
            out_bias: false,
        };
        let a = arch.init(&Init::Gaussian { gamma: 1.0 }, 7);
        assert_eq!(a, arch.init(&Init::Gaussian { gamma: 1.0 }, 7));
        assert_ne!(a, arch.init(&Init::Gaussian { gamma: 1.0 }, 8));
        // variance m^-gamma: 1/4000 for gamma = 1, within sampling error (12000 draws).
        let var = a.iter().map(|x| x * x).sum::<f64>() / a.len() as f64;
        assert!((var * 4000.0 - 1.0).abs() < 0.05, "{}", var * 4000.0);
        let b = arch.init(&Init::Gaussian { gamma: 0.4 }, 7);
        let var = b.iter().map(|x| x * x).sum::<f64>() / b.len() as f64;
        assert!((var / 4000f64.powf(-0.4) - 1.0).abs() < 0.05);
    }

    #[test]
    fn xavier_bounds_and_zero_biases() {
        let arch = Arch::named("cnn2", 1.0).unwrap();
        let theta = arch.init(&Init::Xavier, 1);
        let blocks = arch.blocks();
        let conv = &theta[..blocks[0].len()];
        let a = (6.0f64 / (27.0 + 144.0)).sqrt();
        assert!(conv.iter().all(|w| w.abs() <= a));
        assert!(conv.iter().cloned().fold(0.0, f64::max) > 0.9 * a);
        let bias = &theta[blocks[0].len()..blocks[0].len() + 16];
        assert!(bias.iter().all(|&b| b == 0.0));
    }
}
