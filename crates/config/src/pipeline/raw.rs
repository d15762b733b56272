//! The serde shape of `pipeline.yaml`, before validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::locate::Ctx;
use crate::ConfigError;
use crate::readings::RawSeeds;
use crate::value::{Params, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPipeline {
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) version: Option<u32>,
    #[serde(default)]
    pub(super) default_profile: Option<String>,
    #[serde(default)]
    pub(super) profiles: BTreeMap<String, BTreeMap<String, RawOverride>>,
    #[serde(default)]
    pub(super) cache: Option<serde_yaml::Value>,
    #[serde(default)]
    pub(super) executor: Option<serde_yaml::Value>,
    #[serde(default)]
    pub(super) readings: serde_yaml::Mapping,
    #[serde(default)]
    pub(super) seeds: Option<RawSeeds>,
    pub(super) stages: Vec<RawStage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStage {
    pub(super) name: String,
    pub(super) kind: String,
    #[serde(default)]
    pub(super) needs: serde_yaml::Value,
    #[serde(default)]
    pub(super) params: serde_yaml::Mapping,
    #[serde(default)]
    pub(super) matrix: serde_yaml::Mapping,
    /// Expand once per member of this (earlier) matrix stage, with its matrix values.
    #[serde(default)]
    pub(super) foreach: Option<String>,
    #[serde(default)]
    pub(super) doc: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    #[serde(default)]
    pub(super) params: serde_yaml::Mapping,
    #[serde(default)]
    pub(super) matrix: serde_yaml::Mapping,
}

pub(super) fn mapping_to_params(
    cx: &Ctx,
    stage: &str,
    line: Option<usize>,
    field: &str,
    m: &serde_yaml::Mapping,
) -> Result<Params, ConfigError> {
    let mut out = Params::new();
    for (k, v) in m {
        let Some(k) = k.as_str() else {
            return Err(cx.err(
                line,
                format!("stage `{stage}`: {field} keys must be strings, got {k:?}"),
            ));
        };
        let v = Value::from_yaml(v).map_err(|e| {
            cx.err(
                cx.line_after(line, &format!("{k}:")),
                format!("stage `{stage}`, {field}.{k}: {e}"),
            )
        })?;
        out.insert(k.to_string(), v);
    }
    Ok(out)
}
