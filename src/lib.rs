//! spike-pipe: a reproducible pipeline for "Loss Spike in Training Neural Networks"
//! (Li, Xu, Zhang, 2025). README.md describes the architecture, the stage kinds and the claims.
//!
//! This crate is the command line (`main.rs`), the HTML report and the benchmark; the layers
//! below it are crates of the workspace, re-exported here under the names the tests use.

pub use spike_config as config;
pub use spike_config::{choice_enum, stage_params};
pub use spike_engine as engine;
pub use spike_engine::{table, table_schema};
pub use spike_nn as nn;
pub use spike_nn::{linalg, rng};
pub use spike_science::{analysis, claims, datasets, plot, stages};

pub mod bench;
pub mod report;
