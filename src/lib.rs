//! spike-pipe: a reproducible pipeline for "Loss Spike in Training Neural Networks"
//! (Li, Xu, Zhang, 2025). README.md describes the architecture, the stage kinds and the claims.

pub mod analysis;
pub mod bench;
pub mod claims;
pub mod config;
pub mod datasets;
pub mod engine;
pub mod linalg;
pub mod nn;
pub mod plot;
pub mod report;
pub mod rng;
pub mod stages;
pub mod table;
