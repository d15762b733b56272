//! Matrix expansion: a declared stage becomes one stage per combination of its matrix, its
//! `foreach` group's members, and the axes its readings, seeds and upstream stages add.

use std::collections::BTreeMap;

use super::StageDef;
use super::locate::Ctx;
use super::needs::selector;
use super::raw::{RawOverride, RawStage, mapping_to_params};
use crate::ConfigError;
use crate::params::{ParamSpec, check_all};
use crate::readings::READINGS_PARAM;
use crate::suggest::did_you_mean;
use crate::value::{Params, Value, product};

/// What a stage expands over beyond its own declaration: the members of its `foreach` group,
/// and what the `readings:` and `seeds:` sections add.
pub(super) struct Implied<'a> {
    pub(super) foreach: Option<&'a [Params]>,
    /// Matrix axes (parameter -> values), unless the stage sets the parameter itself.
    pub(super) axes: Vec<(String, Value)>,
    /// The reading axes of the stages it needs (see [`inherited_axes`]): axes of its matrix
    /// that are not its parameters.
    pub(super) inherited: Vec<(String, Vec<Value>)>,
    /// The encoded readings, for kinds with a `readings` parameter.
    pub(super) readings: Option<&'a Value>,
}

/// The reading axes a stage inherits from the stages it needs (those declared before it): a
/// stage downstream of a reading's stages runs once per alternative they were run under, paired
/// with the members of that alternative, so that one reading applies to the whole chain. An axis
/// a `needs` selector fixes is not inherited.
pub(super) fn inherited_axes<'a>(
    needs: &[(String, Vec<String>)],
    members: &dyn Fn(&str) -> Option<&'a Vec<Params>>,
    reading_params: &[String],
) -> Vec<(String, Vec<Value>)> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    for need in needs.iter().flat_map(|(_, names)| names) {
        let (group, fixed) = selector(need).unwrap_or((need.as_str(), Vec::new()));
        for member in members(group).into_iter().flatten() {
            for (axis, value) in member {
                if !reading_params.contains(axis) || fixed.iter().any(|(k, _)| k == axis) {
                    continue;
                }
                match out.iter_mut().find(|(a, _)| a == axis) {
                    Some((_, values)) if !values.contains(value) => values.push(value.clone()),
                    Some(_) => {}
                    None => out.push((axis.clone(), vec![value.clone()])),
                }
            }
        }
    }
    out
}

pub(super) fn expand_stage(
    cx: &Ctx,
    s: &RawStage,
    ov: Option<&RawOverride>,
    cli: Option<&(Params, Params)>,
    specs: &[ParamSpec],
    line: Option<usize>,
    implied: &Implied,
) -> Result<Vec<StageDef>, ConfigError> {
    let foreach = implied.foreach;
    let (params, matrix) = layers(cx, s, ov, cli, line, implied)?;
    let axes = matrix_axes(cx, s, specs, line, &params, &matrix)?;

    if foreach.is_some() && !axes.is_empty() {
        return Err(cx.err(
            line,
            format!(
                "stage `{}` has both `matrix` and `foreach`; keep one",
                s.name
            ),
        ));
    }
    // Figure kinds compare the readings: they inherit none.
    let inherited: Vec<(String, Vec<Value>)> = implied
        .inherited
        .iter()
        .filter(|(axis, _)| {
            implied.readings.is_none()
                && !params.contains_key(axis)
                && !matrix.contains_key(axis)
                && foreach.is_none_or(|f| f.iter().all(|m| !m.contains_key(axis)))
        })
        .cloned()
        .collect();
    let combos = product(
        product(
            foreach
                .map(<[Params]>::to_vec)
                .unwrap_or_else(|| vec![Params::new()]),
            &axes,
        ),
        &inherited,
    );
    let mut out = Vec::new();
    for combo in combos {
        let mut given = params.clone();
        given.extend(
            combo
                .iter()
                .filter(|(k, _)| axes.iter().any(|(a, _)| a == *k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let checked = check_all(specs, &given).map_err(|errs| {
            let errs = errs
                .into_iter()
                .map(|e| {
                    cx.err(
                        cx.line_after(line, &format!("{}:", e.param)),
                        format!(
                            "stage `{}` (kind `{}`), params.{}: {}",
                            s.name, s.kind, e.param, e.message
                        ),
                    )
                })
                .collect();
            ConfigError::all(errs).expect("at least one error")
        })?;
        let name = if combo.is_empty() {
            s.name.clone()
        } else {
            let parts: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}[{}]", s.name, parts.join(","))
        };
        out.push(StageDef {
            name,
            base: s.name.clone(),
            kind: s.kind.clone(),
            params: checked,
            matrix: combo,
            needs: BTreeMap::new(),
            doc: s.doc.clone(),
        });
    }
    Ok(out)
}

/// The stage's parameters and matrix, layered: declared, the profile's, what the readings and
/// seeds add (unless set), the encoded readings, and the command line's last.
fn layers(
    cx: &Ctx,
    s: &RawStage,
    ov: Option<&RawOverride>,
    cli: Option<&(Params, Params)>,
    line: Option<usize>,
    implied: &Implied,
) -> Result<(Params, Params), ConfigError> {
    let mut params = mapping_to_params(cx, &s.name, line, "params", &s.params)?;
    let mut matrix = mapping_to_params(cx, &s.name, line, "matrix", &s.matrix)?;
    if let Some(ov) = ov {
        params.extend(mapping_to_params(cx, &s.name, line, "params", &ov.params)?);
        matrix.extend(mapping_to_params(cx, &s.name, line, "matrix", &ov.matrix)?);
    }
    let set_by_cli = |k: &str| cli.is_some_and(|(p, m)| p.contains_key(k) || m.contains_key(k));
    for (axis, values) in &implied.axes {
        if !params.contains_key(axis) && !matrix.contains_key(axis) && !set_by_cli(axis) {
            matrix.insert(axis.clone(), values.clone());
        }
    }
    if let Some(readings) = implied.readings {
        if params.contains_key(READINGS_PARAM) {
            return Err(cx.err(
                cx.line_after(line, &format!("{READINGS_PARAM}:")),
                format!(
                    "stage `{}`: `{READINGS_PARAM}` is set from the pipeline's `readings:` section; declare a reading there instead",
                    s.name
                ),
            ));
        }
        params.insert(READINGS_PARAM.to_string(), readings.clone());
    }
    // The command line's value replaces a matrix axis of that name, and a sweep replaces a value.
    if let Some((cli_params, cli_matrix)) = cli {
        for (k, v) in cli_params {
            matrix.remove(k);
            params.insert(k.clone(), v.clone());
        }
        for (k, v) in cli_matrix {
            params.remove(k);
            matrix.insert(k.clone(), v.clone());
        }
    }
    Ok((params, matrix))
}

/// The matrix's axes, each checked against the kind's parameter and normalised.
fn matrix_axes(
    cx: &Ctx,
    s: &RawStage,
    specs: &[ParamSpec],
    line: Option<usize>,
    params: &Params,
    matrix: &Params,
) -> Result<Vec<(String, Vec<Value>)>, ConfigError> {
    let names: Vec<&str> = specs.iter().map(|p| p.name).collect();
    let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
    for (axis, values) in matrix {
        let at = cx.line_after(line, &format!("{axis}:"));
        let Some(spec) = specs.iter().find(|p| p.name == axis) else {
            return Err(cx.err(at, format!(
                "stage `{}`, matrix.{axis}: `{axis}` is not a parameter of kind `{}`{}; valid parameters: {}",
                s.name, s.kind, did_you_mean(axis, &names), names.join(", ")
            )));
        };
        if params.contains_key(axis) {
            return Err(cx.err(
                at,
                format!(
                    "stage `{}`: `{axis}` is given both in params and in matrix; keep one",
                    s.name
                ),
            ));
        }
        let Value::List(items) = values else {
            return Err(cx.err(at, format!(
                "stage `{}`, matrix.{axis}: expected a list of values to sweep over, got {} `{values}`",
                s.name, values.type_name()
            )));
        };
        if items.is_empty() {
            return Err(cx.err(
                at,
                format!("stage `{}`, matrix.{axis}: the list is empty", s.name),
            ));
        }
        let mut normalised = Vec::new();
        for item in items {
            let v = spec
                .normalise(item)
                .map_err(|e| cx.err(at, format!("stage `{}`, matrix.{axis}: {e}", s.name)))?;
            if normalised.contains(&v) {
                return Err(cx.err(
                    at,
                    format!("stage `{}`, matrix.{axis}: `{v}` is listed twice", s.name),
                ));
            }
            normalised.push(v);
        }
        axes.push((axis.clone(), normalised));
    }

    Ok(axes)
}
