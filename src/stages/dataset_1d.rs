//! `dataset_1d`: 1-D regression data of the paper (Appendix A): a target function sampled at
//! evenly spaced points, with an optional test set.

use anyhow::{Result, bail};

use crate::config::ParamSpec;
use crate::engine::context::StageContext;
use crate::engine::kind::{ParamsExt, StageKind};
use crate::plot::linspace;
use crate::table::TableBuilder;

/// The target functions (a closed set; see [`target`]).
pub const TARGETS: &[&str] = &["sin_sin4", "tanh_pair", "relu_pair"];

/// The paper's targets:
/// - `sin_sin4`: sin(x) + sin(4x) (Fig 3.1(a-c), 3.2(a), 3.3),
/// - `tanh_pair`: tanh(x - 6) + tanh(x + 6) (Fig 4.1, 4.2(a), 5.1(b), B.1; and in pipeline.yaml
///   Fig 5.1(a), 5.2-5.4, B.2, B.3, which the paper trains "with the same settings as in
///   Fig. 5.1": Appendix A gives Fig 5.1's data only for 5.1(b), this target),
/// - `relu_pair`: 0.5 ReLU(-x - 1/3) + 0.5 ReLU(x - 1/3) (Fig A.1).
pub fn target(name: &str) -> Result<fn(f64) -> f64> {
    Ok(match name {
        "sin_sin4" => |x: f64| x.sin() + (4.0 * x).sin(),
        "tanh_pair" => |x: f64| (x - 6.0).tanh() + (x + 6.0).tanh(),
        "relu_pair" => |x: f64| 0.5 * (-x - 1.0 / 3.0).max(0.0) + 0.5 * (x - 1.0 / 3.0).max(0.0),
        _ => bail!(
            "unknown target `{name}`; valid targets: {}",
            TARGETS.join(", ")
        ),
    })
}

pub struct Dataset1d;

impl StageKind for Dataset1d {
    fn name(&self) -> &'static str {
        "dataset_1d"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "1-D regression data: a target function at evenly spaced train (and test) points"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::choice("target", TARGETS, "target function"),
            ParamSpec::int("n_train", "number of training points").range(2.0, 1e6),
            ParamSpec::floats(
                "train_range",
                "interval [a, b] of the training points (endpoints included)",
            )
            .len(2, 2),
            ParamSpec::int("n_test", "number of test points (0: no test set)")
                .range(0.0, 1e6)
                .default(0i64),
            ParamSpec::floats("test_range", "interval of the test points")
                .len(2, 2)
                .optional(),
        ]
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let f = target(p.str("target")?)?;
        let write = |name: &str, n: usize, range: &[f64]| -> Result<()> {
            if range.len() != 2 || range[0] >= range[1] {
                bail!("`{name}_range` must be [a, b] with a < b, got {range:?}");
            }
            let xs = linspace(range[0], range[1], n);
            let ys: Vec<f64> = xs.iter().map(|&x| f(x)).collect();
            ctx.write_table(
                name,
                &mut TableBuilder::new().f64("x", xs).f64("y", ys).build()?,
            )
        };
        let n_train = p.usize("n_train")?;
        write("train", n_train, &p.f64s("train_range")?)?;
        let n_test = p.usize("n_test")?;
        if n_test > 0 {
            let Some(range) = (!p.is_null("test_range"))
                .then(|| p.f64s("test_range"))
                .transpose()?
            else {
                bail!("`n_test` is {n_test} but `test_range` is not set");
            };
            write("test", n_test, &range)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_the_papers() {
        let f = target("relu_pair").unwrap();
        assert_eq!(f(0.0), 0.0);
        assert!((f(5.0 / 3.0) - 0.5 * (5.0 / 3.0 - 1.0 / 3.0)).abs() < 1e-15);
        assert!((f(-5.0 / 3.0) - f(5.0 / 3.0)).abs() < 1e-15);
        assert!((target("tanh_pair").unwrap()(0.0)).abs() < 1e-15);
        assert!((target("sin_sin4").unwrap()(1.0) - (1f64.sin() + 4f64.sin())).abs() < 1e-15);
        let e = target("cos").unwrap_err().to_string();
        assert!(e.contains("sin_sin4, tanh_pair, relu_pair"), "{e}");
    }
}
