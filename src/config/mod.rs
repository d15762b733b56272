//! `pipeline.yaml`: schema, profiles, matrix expansion and validation with clear errors.
//!
//! Loading either yields a fully expanded, validated [`Pipeline`] or a [`ConfigError`] that names
//! the file, the place (line and column where known, otherwise the stage and field) and what to
//! do. Nothing is run or written before loading succeeds.

mod params;
mod pipeline;
mod suggest;
mod value;

pub use params::{ParamError, ParamSpec, ParamType, check_params};
pub use pipeline::{KindSchema, Pipeline, StageDef, load, parse};
pub use suggest::{closest, did_you_mean};
pub use value::{Params, Value, encode_bytes, encode_params, params_from_json, params_to_json};

use std::fmt;
use std::path::PathBuf;

/// A problem with `pipeline.yaml`; its message says where and what to do.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}
