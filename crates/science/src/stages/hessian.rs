//! Parameters shared by the stages that compute Hessian eigenpairs.

use spike_nn::backend::Precision;
use spike_nn::linalg::lanczos::LanczosConfig;
use spike_nn::objective::{Hvp, HvpMethod};

spike_config::stage_params! {
    /// How Hessian eigenpairs are computed.
    pub struct HessianParams {
        /// Hessian-vector products: nested autodiff (exact) or central differences
        pub hvp: Hvp = Hvp::Exact,
        /// precision of Hessian-vector products
        pub hessian_dtype: Precision = Precision::F64,
        /// relative Ritz residual tolerance
        pub lanczos_tol: f64 = 1e-6; positive(1.0),
        /// maximum Lanczos iterations
        pub lanczos_max_iter: usize = 60; range(1.0, 100_000.0),
    }
}

impl HessianParams {
    pub fn method(&self) -> HvpMethod {
        self.hvp.method()
    }

    pub fn lanczos(&self, k: usize) -> LanczosConfig {
        LanczosConfig {
            k,
            max_iter: self.lanczos_max_iter.max(k),
            tol: self.lanczos_tol,
            seed: 1,
        }
    }
}
