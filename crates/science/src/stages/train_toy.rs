//! `train_toy`: gradient descent on the toy LLAS model (paper Sec 3.3, Appendix A), recording per
//! step the loss, (x, y) and lambda_max of the exact 2x2 Hessian.

use anyhow::{Result, bail};

use spike_engine::context::StageContext;
use spike_engine::kind::Kind;
use spike_nn::backend::BackendKind;
use spike_nn::eval;
use spike_nn::linalg::sym2;
use spike_nn::objective::HvpMethod;

use super::backend_of;

pub(crate) struct TrainToy;

spike_engine::table_schema! {
    /// One row per step: the state before the update of that step.
    pub struct ToyLog in "log" {
        pub step: Vec<i64>,
        pub loss: Vec<f64>,
        pub x: Vec<f64>,
        pub y: Vec<f64>,
        pub lambda_max: Vec<f64>,
    }
}

spike_config::stage_params! {
    pub(crate) struct TrainToyParams {
        /// learning rate (paper: 5e-3)
        pub lr: f64 = 5e-3; positive(1e6),
        /// initial x (paper: 0.5), in the model's domain x > -4
        pub x0: f64 = 0.5; open_range(-4.0, 1e12),
        /// initial y (paper: 1e-5)
        pub y0: f64 = 1e-5; range(-1e12, 1e12),
        /// number of gradient-descent steps
        pub steps: usize = 150; range(1.0, 1e8),
    }
}

/// Trains the toy model on the given backend; `on_step` sees each step.
pub fn train(
    backend: BackendKind,
    lr: f64,
    x0: f64,
    y0: f64,
    steps: usize,
    on_step: &(dyn Fn(usize) + Sync),
) -> Result<ToyLog> {
    let toy = eval::toy(backend, HvpMethod::Exact);
    let mut theta = vec![x0, y0];
    let mut log = ToyLog::default();
    for step in 0..=steps {
        let (loss, grad) = toy.loss_and_grad(&theta)?;
        if !loss.is_finite() {
            bail!("the toy model diverged at step {step} (loss {loss}); lower lr");
        }
        let h = spike_nn::derivatives::dense_hessian(&*toy, &theta)?;
        log.step.push(step as i64);
        log.loss.push(loss);
        log.x.push(theta[0]);
        log.y.push(theta[1]);
        log.lambda_max
            .push(sym2::eigenvalues(h[0][0], h[0][1], h[1][1])[0]);
        if step < steps {
            for (t, g) in theta.iter_mut().zip(&grad) {
                *t -= lr * g;
            }
        }
        on_step(step);
    }
    Ok(log)
}

impl Kind for TrainToy {
    const NAME: &'static str = "train_toy";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Gradient descent on f(x, y) = (50x + 200) y^2 - x + 5 with lambda_max of the exact Hessian per step";
    const NUMERIC: bool = true;
    type Params = TrainToyParams;
    type Output = ();

    fn run(&self, p: &TrainToyParams, ctx: &mut StageContext) -> Result<()> {
        let bar = ctx.progress(p.steps as u64 + 1, "steps");
        let on_step = |s: usize| bar.set_position(s as u64 + 1);
        let log = train(backend_of(ctx)?, p.lr, p.x0, p.y0, p.steps, &on_step)?;
        ctx.write(&log)
    }
}
