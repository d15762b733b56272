//! Parameters shared by the stages that compute Hessian eigenpairs.

use anyhow::Result;

use crate::config::{ParamSpec, Params};
use crate::engine::kind::ParamsExt;
use crate::linalg::lanczos::LanczosConfig;
use crate::nn::backend::Precision;
use crate::nn::objective::HvpMethod;

pub fn params() -> Vec<ParamSpec> {
    vec![
        ParamSpec::choice(
            "hvp",
            &["exact", "central"],
            "Hessian-vector products: nested autodiff (exact) or central differences",
        )
        .default("exact"),
        ParamSpec::choice(
            "hessian_dtype",
            &["f32", "f64"],
            "precision of Hessian-vector products",
        )
        .default("f64"),
        ParamSpec::float("lanczos_tol", "relative Ritz residual tolerance")
            .positive(1.0)
            .default(1e-6),
        ParamSpec::int("lanczos_max_iter", "maximum Lanczos iterations")
            .range(1.0, 100_000.0)
            .default(60i64),
    ]
}

pub struct Settings {
    pub method: HvpMethod,
    pub precision: Precision,
    pub tol: f64,
    pub max_iter: usize,
}

impl Settings {
    pub fn from(p: &Params) -> Result<Settings> {
        Ok(Settings {
            method: super::train::hvp_method(p)?,
            precision: Precision::parse(p.str("hessian_dtype")?)?,
            tol: p.f64("lanczos_tol")?,
            max_iter: p.usize("lanczos_max_iter")?,
        })
    }
    pub fn lanczos(&self, k: usize) -> LanczosConfig {
        LanczosConfig {
            k,
            max_iter: self.max_iter.max(k),
            tol: self.tol,
            seed: 1,
        }
    }
}
