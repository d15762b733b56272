//! The command line's `-S stage.param=value`: checked against the kinds' schemas, sorted into
//! parameters and matrix axes by stage.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::raw::RawPipeline;
use super::{KindSchema, Override};
use crate::ConfigError;
use crate::params::ParamType;
use crate::suggest::did_you_mean;
use crate::value::{Params, Value};

/// Per declared stage: the command line's (params, matrix).
pub(super) type CliLayer = BTreeMap<String, (Params, Params)>;

/// Checks the command line's overrides as the YAML's values are checked (the same messages) and
/// sorts them into params and matrix axes by stage.
pub(super) fn cli_layer(
    raw: &RawPipeline,
    kinds: &dyn KindSchema,
    overrides: &[Override],
) -> Result<CliLayer, ConfigError> {
    let fail = |o: &Override, message: String| ConfigError {
        also: vec![],
        file: PathBuf::from("command line"),
        line: None,
        column: None,
        message: format!("-S {}: {message}", o.text),
    };
    let declared: Vec<&str> = raw.stages.iter().map(|s| s.name.as_str()).collect();
    let mut layer = CliLayer::new();
    let mut errors = Vec::new();
    for o in overrides {
        let Some(stage) = raw.stages.iter().find(|s| s.name == o.stage) else {
            errors.push(fail(
                o,
                format!(
                    "no stage `{}`{} (use a declared name; a matrix group's name sets every member)",
                    o.stage,
                    did_you_mean(&o.stage, &declared)
                ),
            ));
            continue;
        };
        // An unknown kind is reported with the stage's own line below.
        let Some(specs) = kinds.kind_params(&stage.kind) else {
            continue;
        };
        let Some(spec) = specs.iter().find(|p| p.name == o.param) else {
            let names: Vec<&str> = specs.iter().map(|p| p.name).collect();
            errors.push(fail(
                o,
                format!(
                    "unknown parameter `{}` of kind `{}`{}; valid parameters: {}",
                    o.param,
                    stage.kind,
                    did_you_mean(&o.param, &names),
                    names.join(", ")
                ),
            ));
            continue;
        };
        let is_list_param = matches!(
            spec.ty,
            ParamType::FloatList | ParamType::IntList | ParamType::StrList
        );
        let entry = layer.entry(o.stage.clone()).or_default();
        let checked = match &o.value {
            Value::List(items) if !is_list_param => items
                .iter()
                .map(|v| spec.normalise(v))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| {
                    entry.1.insert(o.param.clone(), Value::List(v));
                }),
            v => spec.normalise(v).map(|v| {
                entry.0.insert(o.param.clone(), v);
            }),
        };
        if let Err(m) = checked {
            errors.push(fail(o, format!("params.{}: {m}", o.param)));
        }
    }
    match ConfigError::all(errors) {
        Some(e) => Err(e),
        None => Ok(layer),
    }
}
