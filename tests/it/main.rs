//! The integration tests: one binary (one link of polars, burn and object_store), one module per
//! area. `cargo test --test it engine::` runs one area.

mod backends;
mod common;
mod datasets;
mod diff;
mod engine;
mod engine_contract;
mod figures;
mod native;
mod numerics;
mod reference;
mod remote;
mod resume;
mod servers;
mod slurm;
mod toy;
mod training;
mod validation;
