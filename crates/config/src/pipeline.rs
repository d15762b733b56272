//! Parsing, profile merging, matrix expansion and DAG validation of `pipeline.yaml`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use super::inputs::{InputSpec, check_inputs};
use super::params::{ParamSpec, ParamType, check_all};
use super::readings::{READINGS_PARAM, RawReading, RawSeeds, Reading, Seeds};
use super::suggest::{closest, did_you_mean};
use super::value::{Params, Value, product};

/// What the config layer needs to know about stage kinds (the engine's registry provides it).
pub trait KindSchema {
    fn kind_names(&self) -> Vec<&'static str>;
    fn kind_params(&self, kind: &str) -> Option<Vec<ParamSpec>>;
    /// The inputs a kind takes; `None` leaves its `needs` unchecked.
    fn kind_inputs(&self, _kind: &str) -> Option<&'static [InputSpec]> {
        None
    }
}

/// A validated, fully expanded pipeline.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub file: PathBuf,
    pub profile: String,
    pub profiles: Vec<String>,
    /// Stages in a topological order (every stage after all it needs).
    pub stages: Vec<StageDef>,
    /// Sections of `pipeline.yaml` that other layers interpret (`cache`, `executor`).
    pub extra: BTreeMap<String, serde_yaml::Value>,
    /// The command line's `-S stage.param=value`, as given.
    pub overrides: Vec<String>,
    /// The readings of the paper (`readings:`), in declared order.
    pub readings: Vec<Reading>,
    /// The selected profile's seeds (`seeds:`), if declared.
    pub seeds: Option<Seeds>,
}

/// `-S stage.param=value` from the command line: a last layer over the selected profile. The
/// stage is a declared name (for a matrix group, every member); a list for a parameter that
/// is not itself a list makes it a matrix axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub text: String,
    pub stage: String,
    pub param: String,
    pub value: Value,
}

impl Override {
    pub fn parse(text: &str) -> Result<Override, String> {
        let usage = || {
            format!(
                "-S {text}: expected STAGE.PARAM=VALUE (VALUE in YAML, a list [a, b] for a sweep)"
            )
        };
        let (lhs, rhs) = text.split_once('=').ok_or_else(usage)?;
        let (stage, param) = lhs.trim().rsplit_once('.').ok_or_else(usage)?;
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(rhs).map_err(|e| format!("-S {text}: {e}"))?;
        let value = Value::from_yaml(&yaml).map_err(|e| format!("-S {text}: {e}"))?;
        if stage.is_empty() || param.is_empty() {
            return Err(usage());
        }
        Ok(Override {
            text: text.to_string(),
            stage: stage.to_string(),
            param: param.to_string(),
            value,
        })
    }
}

/// Per declared stage: the command line's (params, matrix).
type CliLayer = BTreeMap<String, (Params, Params)>;

#[derive(Clone, Debug, PartialEq)]
pub struct StageDef {
    /// Concrete name; matrix stages are `base[axis=value,...]`.
    pub name: String,
    /// The declared name (equal to `name` for stages without a matrix).
    pub base: String,
    pub kind: String,
    pub params: Params,
    /// This expansion's matrix values (empty without a matrix).
    pub matrix: Params,
    /// Role -> concrete upstream stage names.
    pub needs: BTreeMap<String, Vec<String>>,
    pub doc: Option<String>,
}

impl Pipeline {
    pub fn stage(&self, name: &str) -> Option<&StageDef> {
        self.stages.iter().find(|s| s.name == name)
    }
    pub fn index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }
}

impl StageDef {
    pub fn upstream(&self) -> impl Iterator<Item = &String> {
        self.needs.values().flatten()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<u32>,
    #[serde(default)]
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, BTreeMap<String, RawOverride>>,
    #[serde(default)]
    cache: Option<serde_yaml::Value>,
    #[serde(default)]
    executor: Option<serde_yaml::Value>,
    #[serde(default)]
    readings: serde_yaml::Mapping,
    #[serde(default)]
    seeds: Option<RawSeeds>,
    stages: Vec<RawStage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: String,
    kind: String,
    #[serde(default)]
    needs: serde_yaml::Value,
    #[serde(default)]
    params: serde_yaml::Mapping,
    #[serde(default)]
    matrix: serde_yaml::Mapping,
    /// Expand once per member of this (earlier) matrix stage, with its matrix values.
    #[serde(default)]
    foreach: Option<String>,
    #[serde(default)]
    doc: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    #[serde(default)]
    params: serde_yaml::Mapping,
    #[serde(default)]
    matrix: serde_yaml::Mapping,
}

pub fn load(
    path: &Path,
    profile: Option<&str>,
    kinds: &dyn KindSchema,
    overrides: &[Override],
) -> Result<Pipeline, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        also: vec![],
        file: path.to_path_buf(),
        line: None,
        column: None,
        message: format!(
            "cannot read the pipeline file: {e} (run from the project root or pass --pipeline)"
        ),
    })?;
    parse(&text, path, profile, kinds, overrides)
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, line: Option<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            also: vec![],
            file: self.file.to_path_buf(),
            line,
            column: None,
            message: message.into(),
        }
    }

    /// Line of the stage declaration `name: <stage>` (1-based).
    fn stage_line(&self, stage: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| {
                let t = l.trim_start().trim_start_matches('-').trim();
                t.strip_prefix("name:")
                    .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == stage)
                    .unwrap_or(false)
            })
            .map(|i| i + 1)
    }

    /// First line at or after `after` (1-based) that contains `needle`, within the next stage.
    fn line_after(&self, after: Option<usize>, needle: &str) -> Option<usize> {
        let start = after?;
        for (i, l) in self.text.lines().enumerate().skip(start - 1) {
            if i + 1 > start && l.trim_start().starts_with("- name:") {
                break;
            }
            if l.contains(needle) {
                return Some(i + 1);
            }
        }
        after
    }
}

pub fn parse(
    text: &str,
    file: &Path,
    profile: Option<&str>,
    kinds: &dyn KindSchema,
    overrides: &[Override],
) -> Result<Pipeline, ConfigError> {
    let cx = Ctx { text, file };
    let raw: RawPipeline = serde_yaml::from_str(text).map_err(|e| yaml_error(file, &e))?;

    let profiles: Vec<String> = raw.profiles.keys().cloned().collect();
    let selected =
        match profile.or(raw.default_profile.as_deref()) {
            Some(p) => p.to_string(),
            None if profiles.is_empty() => "default".to_string(),
            None if raw.profiles.contains_key("quick") => "quick".to_string(),
            None => {
                return Err(cx.err(None, format!(
                "no profile selected and no `default_profile`; pass --profile with one of: {}",
                profiles.join(", ")
            )));
            }
        };
    if !profiles.is_empty() && !raw.profiles.contains_key(&selected) {
        let names: Vec<&str> = profiles.iter().map(String::as_str).collect();
        return Err(cx.err(
            None,
            format!(
                "unknown profile `{selected}`{}; profiles in this file: {}",
                did_you_mean(&selected, &names),
                names.join(", ")
            ),
        ));
    }

    // Declared names must be unique and well-formed.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, s) in raw.stages.iter().enumerate() {
        if s.name.is_empty()
            || !s
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(cx.err(
                cx.stage_line(&s.name),
                format!(
                    "stage name `{}` may only use letters, digits, `.`, `_` and `-`",
                    s.name
                ),
            ));
        }
        if let Some(first) = seen.insert(&s.name, i) {
            return Err(cx.err(cx.stage_line(&s.name), format!(
                "stage `{}` is declared twice (stages[{first}] and stages[{i}]); stage names must be unique",
                s.name
            )));
        }
    }
    let declared: Vec<&str> = raw.stages.iter().map(|s| s.name.as_str()).collect();

    let cli = cli_layer(&raw, kinds, overrides)?;
    let stage_specs = |name: &str| {
        raw.stages
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| kinds.kind_params(&s.kind))
    };
    let readings_line = cx.line_after(Some(1), "readings:");
    let mut readings = Vec::new();
    for (name, body) in &raw.readings {
        let name = name.as_str().unwrap_or_default();
        let at = cx.line_after(readings_line, &format!("{name}:"));
        let parsed: RawReading = serde_yaml::from_value(body.clone())
            .map_err(|e| cx.err(at, format!("readings.{name}: {e}")))?;
        readings.push(
            super::readings::reading(name, &parsed, &profiles, &stage_specs)
                .map_err(|e| cx.err(at, e))?,
        );
    }
    let seeds_of = |pname: &str| -> Result<Option<Seeds>, ConfigError> {
        raw.seeds
            .as_ref()
            .map(|s| super::readings::seeds(s, pname, &profiles, &stage_specs))
            .transpose()
            .map_err(|e| cx.err(cx.line_after(Some(1), "seeds:"), e))
    };
    let figure_readings = Value::List(readings.iter().flat_map(Reading::encode).collect());
    let reading_params: Vec<String> = readings
        .iter()
        .filter_map(|r| r.sets.as_ref().map(|(p, _)| p.clone()))
        .collect();

    // Every profile is validated, not only the selected one, so a typo in `paper` fails in CI.
    for (pname, overrides) in &raw.profiles {
        for sname in overrides.keys() {
            if !seen.contains_key(sname.as_str()) {
                return Err(cx.err(
                    cx.line_after(Some(1), &format!("{sname}:")),
                    format!(
                        "profile `{pname}` overrides `{sname}`, which is not a stage{}",
                        did_you_mean(sname, &declared)
                    ),
                ));
            }
        }
    }

    let mut expanded: Vec<StageDef> = Vec::new();
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut failed: std::collections::HashSet<(String, String)> = Default::default();
    // (profile, declared name) -> matrix values of its expansions, for `foreach`.
    let mut combos: HashMap<(String, String), Vec<Params>> = HashMap::new();
    for s in &raw.stages {
        let line = cx.stage_line(&s.name);
        let Some(specs) = kinds.kind_params(&s.kind) else {
            let names = kinds.kind_names();
            return Err(cx.err(
                cx.line_after(line, "kind:"),
                format!(
                    "stage `{}`: unknown kind `{}`{}; known kinds: {}",
                    s.name,
                    s.kind,
                    did_you_mean(&s.kind, &names),
                    names.join(", ")
                ),
            ));
        };
        let mut chosen = Vec::new();
        let profile_names: Vec<String> = if raw.profiles.is_empty() {
            vec![selected.clone()]
        } else {
            raw.profiles.keys().cloned().collect()
        };
        for pname in &profile_names {
            let ov = raw.profiles.get(pname).and_then(|o| o.get(&s.name));
            if let Some(group) = &s.foreach
                && failed.contains(&(pname.clone(), group.clone()))
            {
                // Its group's error is reported already.
                failed.insert((pname.clone(), s.name.clone()));
                continue;
            }
            let members = match &s.foreach {
                None => None,
                Some(group) => Some(combos.get(&(pname.clone(), group.clone())).filter(|c| c.iter().any(|m| !m.is_empty())).ok_or_else(|| {
                    cx.err(cx.line_after(line, "foreach"), format!(
                        "stage `{}`: foreach `{group}` must name a matrix stage declared before it{}",
                        s.name,
                        did_you_mean(group, &declared)
                    ))
                })?),
            };
            // Every stage in every profile is checked: all their errors are reported together.
            let from_cli = cli.get(&s.name).filter(|_| *pname == selected);
            let seeds = seeds_of(pname)?;
            let implied = Implied {
                foreach: members.map(Vec::as_slice),
                axes: super::readings::axes_of(&s.name, &readings, seeds.as_ref(), pname),
                inherited: inherited_axes(
                    &parse_needs(&cx, s)?,
                    &|group| combos.get(&(pname.clone(), group.to_string())),
                    &reading_params,
                ),
                readings: specs
                    .iter()
                    .any(|p| p.name == READINGS_PARAM)
                    .then_some(&figure_readings),
            };
            let stages = match expand_stage(&cx, s, ov, from_cli, &specs, line, &implied) {
                Ok(stages) => stages,
                Err(e) => {
                    errors.push(with_profile(e, pname, ov.is_some()));
                    failed.insert((pname.clone(), s.name.clone()));
                    continue;
                }
            };
            combos.insert(
                (pname.clone(), s.name.clone()),
                stages.iter().map(|d| d.matrix.clone()).collect(),
            );
            if *pname == selected {
                chosen = stages;
            }
        }
        expanded.extend(chosen);
    }
    if let Some(e) = ConfigError::all(errors) {
        return Err(e);
    }

    resolve_needs(&cx, &raw.stages, &mut expanded)?;
    let stages = topo_sort(&cx, expanded)?;
    check_needs(&cx, kinds, &stages)?;
    let mut extra = BTreeMap::new();
    if let Some(c) = raw.cache {
        extra.insert("cache".to_string(), c);
    }
    if let Some(e) = raw.executor {
        extra.insert("executor".to_string(), e);
    }
    let seeds = seeds_of(&selected)?;
    Ok(Pipeline {
        file: file.to_path_buf(),
        profile: selected,
        profiles,
        stages,
        extra,
        overrides: overrides.iter().map(|o| o.text.clone()).collect(),
        seeds,
        readings,
    })
}

/// What a stage expands over beyond its own declaration: the members of its `foreach` group,
/// and what the `readings:` and `seeds:` sections add.
struct Implied<'a> {
    foreach: Option<&'a [Params]>,
    /// Matrix axes (parameter -> values), unless the stage sets the parameter itself.
    axes: Vec<(String, Value)>,
    /// The reading axes of the stages it needs (see [`inherited_axes`]): axes of its matrix
    /// that are not its parameters.
    inherited: Vec<(String, Vec<Value>)>,
    /// The encoded readings, for kinds with a `readings` parameter.
    readings: Option<&'a Value>,
}

/// The reading axes a stage inherits from the stages it needs (those declared before it): a
/// stage downstream of a reading's stages runs once per alternative they were run under, paired
/// with the members of that alternative, so that one reading applies to the whole chain. An axis
/// a `needs` selector fixes is not inherited.
fn inherited_axes<'a>(
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

/// Checks the command line's overrides as the YAML's values are checked (the same messages) and
/// sorts them into params and matrix axes by stage.
fn cli_layer(
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

fn with_profile(mut e: ConfigError, profile: &str, overridden: bool) -> ConfigError {
    if overridden {
        let suffix = format!(" (with profile `{profile}`)");
        e.message.push_str(&suffix);
        for err in &mut e.also {
            err.message.push_str(&suffix);
        }
    }
    e
}

fn yaml_error(file: &Path, e: &serde_yaml::Error) -> ConfigError {
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; we print the location in front instead.
    if let Some(pos) = message.find(" at line ") {
        message.truncate(pos);
    }
    if let Some(rest) = message.split("unknown field `").nth(1) {
        let field = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> = rest
            .split_once("expected ")
            .map(|(_, list)| {
                list.trim_start_matches("one of ")
                    .split([',', ' '])
                    .map(|s| s.trim().trim_matches('`'))
                    .filter(|s| !s.is_empty() && *s != "or")
                    .collect()
            })
            .unwrap_or_default();
        if let Some(c) = closest(field, &expected) {
            message.push_str(&format!(" (did you mean `{c}`?)"));
        }
    }
    ConfigError {
        also: vec![],
        file: file.to_path_buf(),
        line: e.location().map(|l| l.line()),
        column: e.location().map(|l| l.column()),
        message,
    }
}

fn mapping_to_params(
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

fn expand_stage(
    cx: &Ctx,
    s: &RawStage,
    ov: Option<&RawOverride>,
    cli: Option<&(Params, Params)>,
    specs: &[ParamSpec],
    line: Option<usize>,
    implied: &Implied,
) -> Result<Vec<StageDef>, ConfigError> {
    let foreach = implied.foreach;
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
    let names: Vec<&str> = specs.iter().map(|p| p.name).collect();
    let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
    for (axis, values) in &matrix {
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

/// `needs` is a list of stage names (each its own role) or a map role -> name or list of names.
fn parse_needs(cx: &Ctx, s: &RawStage) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
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

fn resolve_needs(cx: &Ctx, raw: &[RawStage], stages: &mut [StageDef]) -> Result<(), ConfigError> {
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
fn selector(need: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let (group, rest) = need.split_once('[')?;
    let inner = rest.strip_suffix(']')?;
    let pairs = inner
        .split(',')
        .map(|p| p.split_once('=').map(|(k, v)| (k.trim(), v.trim())))
        .collect::<Option<Vec<_>>>()?;
    Some((group, pairs))
}

/// Every stage's `needs` against the inputs its kind declares; all errors at once.
fn check_needs(cx: &Ctx, kinds: &dyn KindSchema, stages: &[StageDef]) -> Result<(), ConfigError> {
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

fn topo_sort(cx: &Ctx, stages: Vec<StageDef>) -> Result<Vec<StageDef>, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamSpec;

    struct Kinds;
    impl KindSchema for Kinds {
        fn kind_names(&self) -> Vec<&'static str> {
            vec!["train", "figure", "compare"]
        }
        fn kind_params(&self, kind: &str) -> Option<Vec<ParamSpec>> {
            match kind {
                "train" => Some(vec![
                    ParamSpec::new("lr", ParamType::Float, "learning rate"),
                    ParamSpec::new("seed", ParamType::Int, "seed").default(0i64),
                ]),
                "figure" => Some(vec![
                    ParamSpec::new("title", ParamType::Str, "title").default(""),
                ]),
                "compare" => Some(vec![
                    ParamSpec::new(READINGS_PARAM, ParamType::StrList, "readings")
                        .default(Vec::<&str>::new()),
                ]),
                _ => None,
            }
        }
    }

    fn parse_str(text: &str, profile: Option<&str>) -> Result<Pipeline, ConfigError> {
        parse(text, Path::new("pipeline.yaml"), profile, &Kinds, &[])
    }

    #[test]
    fn stages_downstream_of_a_reading_inherit_its_axis() {
        let text = r#"
profiles:
  quick: {}
  paper: {}
readings:
  rate:
    default: slow
    alternatives: {slow: 0.1, fast: 0.2}
    sets: lr
    stages: [data]
    profiles: {quick: [slow]}
    why: the paper gives none
stages:
  - name: data
    kind: train
  - name: train
    kind: figure
    needs: [data]
  - name: pinned
    kind: figure
    needs: ["data[lr=0.1]"]
  - name: after
    kind: figure
    needs: [train]
  - name: compare
    kind: compare
    needs: [after]
"#;
        let paper = parse_str(text, Some("paper")).unwrap();
        // Every stage downstream runs once per alternative, paired with its members.
        let t = paper.stage("train[lr=0.2]").unwrap();
        assert_eq!(t.needs["data"], vec!["data[lr=0.2]"]);
        assert!(
            !t.params.contains_key("lr"),
            "an inherited axis is not a parameter"
        );
        let after = paper.stage("after[lr=0.1]").unwrap();
        assert_eq!(after.needs["train"], vec!["train[lr=0.1]"]);
        // A selector that fixes the axis inherits nothing; the comparing kind takes every member.
        assert!(paper.stage("pinned").is_some());
        assert_eq!(paper.stage("compare").unwrap().needs["after"].len(), 2);
        // The quick profile runs the default alternative only.
        let quick = parse_str(text, Some("quick")).unwrap();
        assert!(quick.stage("train[lr=0.1]").is_some() && quick.stage("train[lr=0.2]").is_none());
    }

    #[test]
    fn matrix_expands_and_pairs_on_shared_axes() {
        let p = parse_str(
            r#"
stages:
  - name: train
    kind: train
    matrix: {lr: [0.1, 0.2], seed: [1, 2]}
  - name: per_lr
    kind: train
    params: {seed: 0}
    matrix: {lr: [0.1, 0.2]}
    needs: {runs: train}
  - name: fig
    kind: figure
    needs: [train]
"#,
            None,
        )
        .unwrap();
        assert_eq!(p.stages.len(), 4 + 2 + 1);
        let per = p.stage("per_lr[lr=0.1]").unwrap();
        assert_eq!(
            per.needs["runs"],
            vec!["train[lr=0.1,seed=1]", "train[lr=0.1,seed=2]"]
        );
        assert_eq!(p.stage("fig").unwrap().needs["train"].len(), 4);
        // topological order
        let pos = |n: &str| p.index(n).unwrap();
        assert!(pos("train[lr=0.2,seed=2]") < pos("per_lr[lr=0.2]"));
    }

    #[test]
    fn foreach_follows_a_matrix_stage_in_every_profile() {
        let text = r#"
profiles:
  quick: {}
  smoke:
    train: {matrix: {lr: [0.5]}}
stages:
  - name: train
    kind: train
    matrix: {lr: [0.1, 0.2]}
  - name: fig
    kind: figure
    foreach: train
    needs: [train]
"#;
        let quick = parse_str(text, None).unwrap();
        let fig = quick.stage("fig[lr=0.2]").unwrap();
        assert_eq!(fig.needs["train"], vec!["train[lr=0.2]"]);
        assert!(
            !fig.params.contains_key("lr"),
            "foreach values are not parameters"
        );
        let smoke = parse_str(text, Some("smoke")).unwrap();
        assert!(smoke.stage("fig[lr=0.5]").is_some() && smoke.stage("fig[lr=0.1]").is_none());
        let bad = text.replace("foreach: train", "foreach: trian");
        let e = parse_str(&bad, None).unwrap_err().to_string();
        assert!(
            e.contains("foreach `trian` must name a matrix stage declared before it")
                && e.contains("did you mean `train`?"),
            "{e}"
        );
    }

    #[test]
    fn profiles_override_params_and_matrix() {
        let text = r#"
default_profile: quick
profiles:
  quick: {}
  smoke:
    train: {params: {lr: 0.5}, matrix: {seed: [7]}}
stages:
  - name: train
    kind: train
    params: {lr: 0.1}
    matrix: {seed: [1, 2]}
"#;
        assert_eq!(parse_str(text, None).unwrap().stages.len(), 2);
        let smoke = parse_str(text, Some("smoke")).unwrap();
        assert_eq!(smoke.stages.len(), 1);
        assert_eq!(smoke.stages[0].params["lr"], Value::Float(0.5));
        assert_eq!(smoke.stages[0].name, "train[seed=7]");
        let e = parse_str(text, Some("smok")).unwrap_err().to_string();
        assert!(
            e.contains("unknown profile `smok` (did you mean `smoke`?)"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_place_and_the_fix() {
        let e = parse_str(
            "stages:\n  - name: a\n    kind: train\n    parms: {lr: 1}\n",
            None,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(
            e.message.contains("unknown field `parms`")
                && e.message.contains("did you mean `params`?"),
            "{e}"
        );

        let e = parse_str("stages:\n  - name: a\n    kind: trian\n", None).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(
            e.message
                .contains("unknown kind `trian` (did you mean `train`?)"),
            "{e}"
        );

        let e = parse_str("stages: [\n", None).unwrap_err();
        assert!(e.line.is_some(), "{e}");

        let e = parse_str(
            "stages:\n  - name: a\n    kind: train\n    params: {lr: fast}\n",
            None,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(
            e.message
                .contains("params.lr: expected a number, got a string `fast`"),
            "{e}"
        );

        let cyc = "stages:\n  - name: a\n    kind: figure\n    needs: [b]\n  - name: b\n    kind: figure\n    needs: [a]\n";
        let e = parse_str(cyc, None).unwrap_err().to_string();
        assert!(e.contains("cycle in needs: a -> b -> a"), "{e}");

        let e = parse_str(
            "stages:\n  - name: a\n    kind: figure\n    needs: [c]\n",
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("needs `c`, which is not a stage"), "{e}");

        let dup = "stages:\n  - name: a\n    kind: figure\n  - name: a\n    kind: figure\n";
        assert!(
            parse_str(dup, None)
                .unwrap_err()
                .message
                .contains("declared twice")
        );
    }
}
