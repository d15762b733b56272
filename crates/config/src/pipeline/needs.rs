//! `needs:`: parsed, resolved to concrete stages (selectors, matrix groups), checked against
//! the kinds' inputs, and ordered topologically.

use std::collections::HashMap;

use super::locate::Ctx;
use super::raw::RawStage;
use super::{KindSchema, StageDef};
use crate::ConfigError;
use crate::inputs::check_inputs;
use crate::suggest::did_you_mean;
use crate::value::Params;

/// `needs` is a list of stage names (each its own role) or a map role -> name or list of names.
pub(super) fn parse_needs(
    cx: &Ctx,
    s: &RawStage,
) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    let line = cx.stage_line(&s.name);
    let bad = |what: String| {
        cx.err(
            cx.line_after(line, "needs"),
            format!("stage `{}`, needs: {what}", s.name),
        )
    };
    let as_names = |v: &serde_yaml::Value| -> Result<Vec<String>, ConfigError> {
        match v {
            serde_yaml::Value::String(n) => Ok(vec![n.clone()]),
            serde_yaml::Value::Sequence(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("expected stage names, got {i:?}")))
                })
                .collect(),
            other => Err(bad(format!(
                "expected a stage name or a list of them, got {other:?}"
            ))),
        }
    };
    match &s.needs {
        serde_yaml::Value::Null => Ok(vec![]),
        serde_yaml::Value::Mapping(m) => m
            .iter()
            .map(|(role, v)| {
                let role = role
                    .as_str()
                    .ok_or_else(|| bad(format!("roles must be strings, got {role:?}")))?;
                Ok((role.to_string(), as_names(v)?))
            })
            .collect(),
        v => Ok(as_names(v)?
            .into_iter()
            .map(|n| (n.clone(), vec![n]))
            .collect()),
    }
}

pub(super) fn resolve_needs(
    cx: &Ctx,
    raw: &[RawStage],
    stages: &mut [StageDef],
) -> Result<(), ConfigError> {
    let all_names: Vec<String> = stages.iter().map(|s| s.name.clone()).collect();
    let declared: Vec<&str> = raw.iter().map(|s| s.name.as_str()).collect();
    let by_base: HashMap<String, Vec<(String, Params)>> =
        stages.iter().fold(HashMap::new(), |mut m, s| {
            m.entry(s.base.clone())
                .or_default()
                .push((s.name.clone(), s.matrix.clone()));
            m
        });
    let raw_needs: HashMap<&str, Vec<(String, Vec<String>)>> = raw
        .iter()
        .map(|s| Ok((s.name.as_str(), parse_needs(cx, s)?)))
        .collect::<Result<_, ConfigError>>()?;
    for stage in stages.iter_mut() {
        let line = cx.stage_line(&stage.base);
        let mut listed: Vec<&String> = Vec::new();
        for (role, names) in &raw_needs[stage.base.as_str()] {
            let mut resolved = Vec::new();
            for need in names {
                let at = cx.line_after(line, need);
                if listed.contains(&need) {
                    return Err(cx.err(
                        at,
                        format!(
                            "stage `{}` lists `{need}` twice in needs; list each stage once",
                            stage.base
                        ),
                    ));
                }
                listed.push(need);
                if *need == stage.base {
                    return Err(cx.err(at, format!("cycle in needs: {need} -> {need}")));
                }
                let agrees = |axes: &Params| {
                    axes.iter()
                        .all(|(axis, v)| stage.matrix.get(axis).is_none_or(|mine| mine == v))
                };
                if let Some(members) = by_base.get(need) {
                    // A matrix group: members that agree with this stage on the axes both share.
                    resolved.extend(
                        members
                            .iter()
                            .filter(|(_, axes)| agrees(axes))
                            .map(|(m, _)| m.clone()),
                    );
                } else if all_names.contains(need) {
                    resolved.push(need.clone());
                } else if let Some((group, selector)) = selector(need)
                    && let Some(members) = by_base.get(group)
                {
                    // `group[axis=value,...]`: the members with these values on these axes (and
                    // any others, such as the axes `readings:` and `seeds:` add).
                    let picked: Vec<String> = members
                        .iter()
                        .filter(|(_, axes)| {
                            agrees(axes)
                                && selector
                                    .iter()
                                    .all(|(k, v)| axes.get(*k).is_some_and(|x| x.to_string() == *v))
                        })
                        .map(|(m, _)| m.clone())
                        .collect();
                    if picked.is_empty() {
                        return Err(cx.err(
                            at,
                            format!(
                                "stage `{}` needs `{need}`: no member of `{group}` has these values (its members: {})",
                                stage.base,
                                members.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                    resolved.extend(picked);
                } else {
                    return Err(cx.err(
                        at,
                        format!(
                            "stage `{}` needs `{need}`, which is not a stage{}",
                            stage.base,
                            did_you_mean(need, &declared)
                        ),
                    ));
                }
            }
            stage.needs.insert(role.clone(), resolved);
        }
    }
    Ok(())
}

/// `group[axis=value,...]` as (group, [(axis, value)]).
pub(super) fn selector(need: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let (group, rest) = need.split_once('[')?;
    let inner = rest.strip_suffix(']')?;
    let pairs = inner
        .split(',')
        .map(|p| p.split_once('=').map(|(k, v)| (k.trim(), v.trim())))
        .collect::<Option<Vec<_>>>()?;
    Some((group, pairs))
}

/// Every stage's `needs` against the inputs its kind declares; all errors at once.
pub(super) fn check_needs(
    cx: &Ctx,
    kinds: &dyn KindSchema,
    stages: &[StageDef],
) -> Result<(), ConfigError> {
    let kind_of: HashMap<&str, &str> = stages
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str()))
        .collect();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in stages {
        let Some(specs) = kinds.kind_inputs(&s.kind) else {
            continue;
        };
        let found = check_inputs(specs, &s.needs, &|n| {
            kind_of.get(n).map(ToString::to_string)
        });
        for message in found {
            // The members of a matrix stage repeat their group's error: report it once.
            if seen.insert((s.base.clone(), message.clone())) {
                errors.push(cx.err(
                    cx.stage_line(&s.base),
                    format!("stage `{}` (kind `{}`): {message}", s.base, s.kind),
                ));
            }
        }
    }
    ConfigError::all(errors).map_or(Ok(()), Err)
}

pub(super) fn topo_sort(cx: &Ctx, stages: Vec<StageDef>) -> Result<Vec<StageDef>, ConfigError> {
    let index: HashMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; stages.len()];
    let mut order = Vec::with_capacity(stages.len());
    fn visit(
        i: usize,
        stages: &[StageDef],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), Vec<String>> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..]
                    .iter()
                    .map(|&p| stages[p].base.clone())
                    .collect();
                cycle.push(stages[i].base.clone());
                cycle.dedup();
                return Err(cycle);
            }
            _ => {}
        }
        state[i] = 1;
        path.push(i);
        for up in stages[i].upstream() {
            visit(index[up.as_str()], stages, index, state, path, order)?;
        }
        path.pop();
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..stages.len() {
        let mut path = Vec::new();
        visit(i, &stages, &index, &mut state, &mut path, &mut order).map_err(|cycle| {
            cx.err(
                cx.stage_line(&cycle[0]),
                format!(
                    "cycle in needs: {}; a stage cannot depend on its own output",
                    cycle.join(" -> ")
                ),
            )
        })?;
    }
    let mut slots: Vec<Option<StageDef>> = stages.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| slots[i].take().expect("each stage once"))
        .collect())
}
