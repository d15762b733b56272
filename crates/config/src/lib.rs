//! `pipeline.yaml`: schema, profiles, matrix expansion and validation with clear errors.
//!
//! Loading either yields a fully expanded, validated [`Pipeline`] or a [`ConfigError`] that names
//! the file, the place (line and column where known, otherwise the stage and field) and what to
//! do. Nothing is run or written before loading succeeds.

mod inputs;
mod params;
mod pipeline;
mod readings;
mod suggest;
mod typed;
mod value;

pub use inputs::{ANY_ROLE, Count, InputSpec, check_inputs};
pub use params::{ParamError, ParamSpec, ParamType, check_params};
pub use pipeline::{KindSchema, Override, Pipeline, StageDef, load, parse};
pub use readings::{READINGS_PARAM, Reading, SEED_AXIS, Seeds};
pub use suggest::{closest, did_you_mean};
pub use typed::{NoParams, ParamValue, StageParams, spec_of};
pub use value::{
    Params, Value, encode_bytes, encode_params, params_from_json, params_to_json, product,
};

use std::fmt;
use std::path::PathBuf;

/// A problem with `pipeline.yaml`; its message says where and what to do.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    /// Further errors found in the same load (each printed on its own line).
    pub also: Vec<ConfigError>,
}

/// The longest message an error prints, in characters, and the most further errors it lists.
const MAX_MESSAGE_CHARS: usize = 2_000;
const MAX_ALSO: usize = 100;

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        // A message quoting the input (an alias bomb expands to megabytes) is cut short.
        match self.message.char_indices().nth(MAX_MESSAGE_CHARS) {
            Some((cut, _)) => write!(
                f,
                ": {}... ({} more bytes)",
                &self.message[..cut],
                self.message.len() - cut
            )?,
            None => write!(f, ": {}", self.message)?,
        }
        for e in self.also.iter().take(MAX_ALSO) {
            write!(f, "\n{e}")?;
        }
        if self.also.len() > MAX_ALSO {
            write!(f, "\n... and {} more errors", self.also.len() - MAX_ALSO)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// One error holding all of `errors` (the first in front, repeats dropped: a stage no
    /// profile overrides fails the same way in each); `None` when there are none.
    pub fn all(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        let mut seen = std::collections::HashSet::new();
        let flat: Vec<ConfigError> = errors
            .drain(..)
            .flat_map(|mut e| {
                let also = std::mem::take(&mut e.also);
                std::iter::once(e).chain(also)
            })
            .filter(|e| seen.insert((e.line, e.column, e.message.clone())))
            .collect();
        let mut it = flat.into_iter();
        let mut first = it.next()?;
        first.also = it.collect();
        Some(first)
    }
}
