//! `dataset_1d`: 1-D regression data of the paper (Appendix A): a target function sampled at
//! evenly spaced points, with an optional test set.

use anyhow::{Result, bail};

use crate::plot::linspace;
use spike_engine::context::StageContext;
use spike_engine::kind::Kind;

spike_config::choice_enum! {
    /// The paper's targets:
    /// - `sin_sin4`: sin(x) + sin(4x) (Fig 3.1(a-c), 3.2(a), 3.3),
    /// - `tanh_pair`: tanh(x - 6) + tanh(x + 6) (Fig 4.1, 4.2(a), 5.1(b), B.1; and in
    ///   pipeline.yaml Fig 5.1(a), 5.2-5.4, B.2, B.3, which the paper trains "with the same
    ///   settings as in Fig. 5.1": Appendix A gives Fig 5.1's data only for 5.1(b), this target),
    /// - `relu_pair`: 0.5 ReLU(-x - 1/3) + 0.5 ReLU(x - 1/3) (Fig A.1).
    pub(crate) enum Target {
        SinSin4 = "sin_sin4",
        TanhPair = "tanh_pair",
        ReluPair = "relu_pair",
    }
}

impl Target {
    pub(crate) fn function(self) -> fn(f64) -> f64 {
        match self {
            Target::SinSin4 => |x: f64| x.sin() + (4.0 * x).sin(),
            Target::TanhPair => |x: f64| (x - 6.0).tanh() + (x + 6.0).tanh(),
            Target::ReluPair => {
                |x: f64| 0.5 * (-x - 1.0 / 3.0).max(0.0) + 0.5 * (x - 1.0 / 3.0).max(0.0)
            }
        }
    }
}

spike_engine::table_schema! {
    /// 1-D regression data, written as `train` and `test`.
    pub(crate) struct Points in "train" {
        pub x: Vec<f64>,
        pub y: Vec<f64>,
    }
}

spike_config::stage_params! {
    pub(crate) struct Dataset1dParams {
        /// target function
        pub target: Target,
        /// number of training points
        pub n_train: usize; range(2.0, 1e6),
        /// interval [a, b] of the training points (endpoints included)
        pub train_range: Vec<f64>; len(2, 2),
        /// number of test points (0: no test set)
        pub n_test: usize = 0; range(0.0, 1e6),
        /// interval of the test points
        pub test_range: Option<Vec<f64>>; len(2, 2),
    }
}

pub(crate) struct Dataset1d;

impl Kind for Dataset1d {
    const NAME: &'static str = "dataset_1d";
    const VERSION: u32 = 1;
    const DOC: &'static str =
        "1-D regression data: a target function at evenly spaced train (and test) points";
    type Params = Dataset1dParams;
    type Output = ();

    fn run(&self, p: &Dataset1dParams, ctx: &mut StageContext) -> Result<()> {
        let f = p.target.function();
        let write = |name: &str, n: usize, range: &[f64]| -> Result<()> {
            if range.len() != 2 || range[0] >= range[1] {
                bail!("`{name}_range` must be [a, b] with a < b, got {range:?}");
            }
            let x = linspace(range[0], range[1], n);
            let y: Vec<f64> = x.iter().map(|&x| f(x)).collect();
            ctx.write_named(name, &Points { x, y })
        };
        write("train", p.n_train, &p.train_range)?;
        if p.n_test > 0 {
            let Some(range) = &p.test_range else {
                bail!("`n_test` is {} but `test_range` is not set", p.n_test);
            };
            write("test", p.n_test, range)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_the_papers() {
        let f = Target::ReluPair.function();
        assert_eq!(f(0.0), 0.0);
        assert!((f(5.0 / 3.0) - 0.5 * (5.0 / 3.0 - 1.0 / 3.0)).abs() < 1e-15);
        assert!((f(-5.0 / 3.0) - f(5.0 / 3.0)).abs() < 1e-15);
        assert!((Target::TanhPair.function()(0.0)).abs() < 1e-15);
        assert!((Target::SinSin4.function()(1.0) - (1f64.sin() + 4f64.sin())).abs() < 1e-15);
        let e = Target::parse("cos").unwrap_err().to_string();
        assert!(e.contains("sin_sin4, tanh_pair, relu_pair"), "{e}");
    }
}
