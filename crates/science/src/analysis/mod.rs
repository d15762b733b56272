//! Analyses of training runs: spike detection, frequency content, condensation.

pub mod atlas;
pub mod condensation;
pub mod frequency;
pub mod spikes;
pub mod stats;
