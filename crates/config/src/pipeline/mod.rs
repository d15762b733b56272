//! Parsing, profile merging, matrix expansion and DAG validation of `pipeline.yaml`.

mod cli;
mod expand;
mod locate;
mod needs;
mod raw;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use cli::{CliLayer, cli_layer};
use expand::{Implied, expand_stage, inherited_axes};
use locate::{Ctx, yaml_error};
use needs::{check_needs, parse_needs, resolve_needs, topo_sort};
use raw::{RawPipeline, RawStage};

use crate::ConfigError;
use crate::inputs::InputSpec;
use crate::params::ParamSpec;
use crate::readings::{READINGS_PARAM, RawReading, Reading, Seeds};
use crate::suggest::did_you_mean;
use crate::value::{Params, Value};

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

/// A pipeline file larger than this is refused before parsing (the paper's is 35 KB).
const MAX_BYTES: usize = 1 << 20;
/// Flow collections (`[`, `{`) nested deeper than this are refused before parsing: no pipeline
/// needs them, and the parser takes seconds on deep ones (18 s on 100,000 here).
const MAX_DEPTH: usize = 64;

/// Refuses a file too large, or with flow collections nested too deep, before the parser sees
/// it. Quoted scalars and comments are skipped.
fn check_bounds(cx: &Ctx) -> Result<(), ConfigError> {
    if cx.text.len() > MAX_BYTES {
        return Err(cx.err(
        None,
        format!(
            "the file has {} bytes, more than a pipeline file may ({MAX_BYTES}); is it the right file?",
            cx.text.len()
        ),
    ));
    }
    let (mut depth, mut quote, mut comment) = (0usize, None, false);
    let mut chars = cx.text.chars().peekable();
    let (mut line, mut column, mut previous) = (1, 0, '\n');
    while let Some(c) = chars.next() {
        column += 1;
        match (quote, c) {
            // a quoted scalar may span lines: `quote` is kept
            (_, '\n') => (line, column, comment) = (line + 1, 0, false),
            _ if comment => {}
            (Some('"'), '\\') => {
                chars.next();
                column += 1;
            }
            (Some(q), c) if c == q => {
                if q == '\'' && chars.peek() == Some(&'\'') {
                    chars.next();
                    column += 1;
                } else {
                    quote = None;
                }
            }
            (Some(_), _) => {}
            (None, '#') if previous.is_whitespace() => comment = true,
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    let mut e = cx.err(
                        Some(line),
                        format!(
                            "`[` and `{{` nested more than {MAX_DEPTH} deep; no pipeline needs that"
                        ),
                    );
                    e.column = Some(column);
                    return Err(e);
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    Ok(())
}

pub fn parse(
    text: &str,
    file: &Path,
    profile: Option<&str>,
    kinds: &dyn KindSchema,
    overrides: &[Override],
) -> Result<Pipeline, ConfigError> {
    let cx = Ctx { text, file };
    check_bounds(&cx)?;
    let raw: RawPipeline = serde_yaml::from_str(text).map_err(|e| yaml_error(file, &e))?;
    let profiles: Vec<String> = raw.profiles.keys().cloned().collect();
    let selected = select_profile(&cx, &raw, profile)?;
    check_names(&cx, &raw)?;
    let cli = cli_layer(&raw, kinds, overrides)?;
    let stage_specs = |name: &str| {
        raw.stages
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| kinds.kind_params(&s.kind))
    };
    let readings = parse_readings(&cx, &raw, &profiles, &stage_specs)?;
    let seeds_of = |pname: &str| -> Result<Option<Seeds>, ConfigError> {
        raw.seeds
            .as_ref()
            .map(|s| crate::readings::seeds(s, pname, &profiles, &stage_specs))
            .transpose()
            .map_err(|e| cx.err(cx.line_after(Some(1), "seeds:"), e))
    };
    let mut expanded = Expansion {
        cx: &cx,
        raw: &raw,
        kinds,
        selected: &selected,
        cli: &cli,
        readings: &readings,
        seeds_of: &seeds_of,
    }
    .run()?;
    resolve_needs(&cx, &raw.stages, &mut expanded)?;
    let stages = topo_sort(&cx, expanded)?;
    check_needs(&cx, kinds, &stages)?;
    let seeds = seeds_of(&selected)?;
    let mut extra = BTreeMap::new();
    if let Some(c) = raw.cache {
        extra.insert("cache".to_string(), c);
    }
    if let Some(e) = raw.executor {
        extra.insert("executor".to_string(), e);
    }
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

/// The profile to use: the one asked for, else `default_profile`, else `quick`; `default`
/// when the file declares none.
fn select_profile(
    cx: &Ctx,
    raw: &RawPipeline,
    profile: Option<&str>,
) -> Result<String, ConfigError> {
    let profiles: Vec<&str> = raw.profiles.keys().map(String::as_str).collect();
    let selected = match profile.or(raw.default_profile.as_deref()) {
        Some(p) => p.to_string(),
        None if profiles.is_empty() => "default".to_string(),
        None if raw.profiles.contains_key("quick") => "quick".to_string(),
        None => {
            return Err(cx.err(
                None,
                format!(
                    "no profile selected and no `default_profile`; pass --profile with one of: {}",
                    profiles.join(", ")
                ),
            ));
        }
    };
    if !profiles.is_empty() && !raw.profiles.contains_key(&selected) {
        return Err(cx.err(
            None,
            format!(
                "unknown profile `{selected}`{}; profiles in this file: {}",
                did_you_mean(&selected, &profiles),
                profiles.join(", ")
            ),
        ));
    }
    Ok(selected)
}

/// Declared names must be unique and well-formed, and every profile may override only declared
/// stages (every profile is checked, not only the selected one, so a typo in `paper` fails in
/// CI).
fn check_names(cx: &Ctx, raw: &RawPipeline) -> Result<(), ConfigError> {
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
    Ok(())
}

/// The `readings:` section, in declared order.
fn parse_readings(
    cx: &Ctx,
    raw: &RawPipeline,
    profiles: &[String],
    stage_specs: &dyn Fn(&str) -> Option<Vec<ParamSpec>>,
) -> Result<Vec<Reading>, ConfigError> {
    let readings_line = cx.line_after(Some(1), "readings:");
    let mut readings = Vec::new();
    for (name, body) in &raw.readings {
        let name = name.as_str().unwrap_or_default();
        let at = cx.line_after(readings_line, &format!("{name}:"));
        let parsed: RawReading = serde_yaml::from_value(body.clone())
            .map_err(|e| cx.err(at, format!("readings.{name}: {e}")))?;
        readings.push(
            crate::readings::reading(name, &parsed, profiles, stage_specs)
                .map_err(|e| cx.err(at, e))?,
        );
    }
    Ok(readings)
}

/// Expands every declared stage under every profile (so that all their errors are reported
/// together), keeping the selected profile's stages.
struct Expansion<'a> {
    cx: &'a Ctx<'a>,
    raw: &'a RawPipeline,
    kinds: &'a dyn KindSchema,
    selected: &'a str,
    cli: &'a CliLayer,
    readings: &'a [Reading],
    seeds_of: &'a dyn Fn(&str) -> Result<Option<Seeds>, ConfigError>,
}

/// (profile, declared name): the matrix values of the stage's expansions, for `foreach` and
/// inherited axes.
type Members = HashMap<(String, String), Vec<Params>>;

impl Expansion<'_> {
    fn run(&self) -> Result<Vec<StageDef>, ConfigError> {
        let (cx, raw) = (self.cx, self.raw);
        let figure_readings = Value::List(self.readings.iter().flat_map(Reading::encode).collect());
        let reading_params: Vec<String> = self
            .readings
            .iter()
            .filter_map(|r| r.sets.as_ref().map(|(p, _)| p.clone()))
            .collect();
        let profile_names: Vec<String> = if raw.profiles.is_empty() {
            vec![self.selected.to_string()]
        } else {
            raw.profiles.keys().cloned().collect()
        };
        let mut expanded: Vec<StageDef> = Vec::new();
        let mut errors: Vec<ConfigError> = Vec::new();
        let mut failed: HashSet<(String, String)> = HashSet::new();
        let mut combos = Members::new();
        for s in &raw.stages {
            let line = cx.stage_line(&s.name);
            let Some(specs) = self.kinds.kind_params(&s.kind) else {
                let names = self.kinds.kind_names();
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
            for pname in &profile_names {
                let key = (pname.clone(), s.name.clone());
                if let Some(group) = &s.foreach
                    && failed.contains(&(pname.clone(), group.clone()))
                {
                    // Its group's error is reported already.
                    failed.insert(key);
                    continue;
                }
                let implied = Implied {
                    foreach: self.members(s, pname, &combos, line)?,
                    axes: crate::readings::axes_of(
                        &s.name,
                        self.readings,
                        (self.seeds_of)(pname)?.as_ref(),
                        pname,
                    ),
                    inherited: inherited_axes(
                        &parse_needs(cx, s)?,
                        &|group| combos.get(&(pname.clone(), group.to_string())),
                        &reading_params,
                    ),
                    readings: specs
                        .iter()
                        .any(|p| p.name == READINGS_PARAM)
                        .then_some(&figure_readings),
                };
                let ov = raw.profiles.get(pname).and_then(|o| o.get(&s.name));
                let from_cli = self.cli.get(&s.name).filter(|_| pname == self.selected);
                match expand_stage(cx, s, ov, from_cli, &specs, line, &implied) {
                    Ok(stages) => {
                        combos.insert(key, stages.iter().map(|d| d.matrix.clone()).collect());
                        if pname == self.selected {
                            expanded.extend(stages);
                        }
                    }
                    Err(e) => {
                        errors.push(with_profile(e, pname, ov.is_some()));
                        failed.insert(key);
                    }
                }
            }
        }
        match ConfigError::all(errors) {
            Some(e) => Err(e),
            None => Ok(expanded),
        }
    }

    /// The members of a stage's `foreach` group in profile `pname`.
    fn members<'m>(
        &self,
        s: &RawStage,
        pname: &str,
        combos: &'m Members,
        line: Option<usize>,
    ) -> Result<Option<&'m [Params]>, ConfigError> {
        let Some(group) = &s.foreach else {
            return Ok(None);
        };
        combos
            .get(&(pname.to_string(), group.clone()))
            .filter(|c| c.iter().any(|m| !m.is_empty()))
            .map(|c| Some(c.as_slice()))
            .ok_or_else(|| {
                let declared: Vec<&str> =
                    self.raw.stages.iter().map(|s| s.name.as_str()).collect();
                self.cx.err(
                    self.cx.line_after(line, "foreach"),
                    format!(
                        "stage `{}`: foreach `{group}` must name a matrix stage declared before it{}",
                        s.name,
                        did_you_mean(group, &declared)
                    ),
                )
            })
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
