//! `readings:` and `seeds:` of `pipeline.yaml`: the named interpretations of what the paper leaves
//! ambiguous, and the seeds every run of a figure is repeated over.
//!
//! A reading that `sets` a parameter on `stages` becomes a matrix axis of those stages (one
//! cached stage per alternative); a reading without `sets` is applied by the claim checks
//! themselves (a definition, a threshold). Figure kinds with a `readings` parameter receive every
//! reading, encoded by [`Reading::encode`], so that their claims are checked under each
//! alternative, and a change of a default reruns them. A parameter a stage sets itself (in its
//! params, a profile or `-S`) wins over the reading's axis.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::params::ParamSpec;
use super::value::Value;

/// The name of the parameter of figure kinds that receives the readings.
pub const READINGS_PARAM: &str = "readings";
/// The matrix axis of the seeds.
pub const SEED_AXIS: &str = "seed";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReading {
    default: serde_yaml::Value,
    /// A list of alternatives (each the parameter value it sets), or a map alternative -> value.
    alternatives: serde_yaml::Value,
    why: String,
    #[serde(default)]
    sets: Option<String>,
    #[serde(default)]
    stages: Vec<String>,
    /// Per profile, the alternatives run (all where a profile is not listed).
    #[serde(default)]
    profiles: BTreeMap<String, Vec<serde_yaml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeeds {
    count: usize,
    /// Per-profile counts.
    #[serde(default)]
    profiles: BTreeMap<String, usize>,
    stages: Vec<String>,
}

/// A reading of the paper, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub name: String,
    /// Alternatives in declared order, each with the parameter value it sets (when it sets one).
    pub alternatives: Vec<(String, Option<Value>)>,
    pub default: String,
    /// The evidence for the default.
    pub why: String,
    /// The parameter it sets, and on which (declared) stages.
    pub sets: Option<(String, Vec<String>)>,
    /// Per profile, the alternatives run where not all are (the default among them).
    pub profiles: BTreeMap<String, Vec<String>>,
}

impl Reading {
    /// The alternatives, the default first.
    pub fn ordered(&self) -> Vec<&(String, Option<Value>)> {
        let mut v: Vec<_> = self.alternatives.iter().collect();
        v.sort_by_key(|(name, _)| *name != self.default);
        v
    }

    /// The alternatives run in a profile.
    pub fn run_in(&self, profile: &str) -> Vec<&(String, Option<Value>)> {
        match self.profiles.get(profile) {
            None => self.alternatives.iter().collect(),
            Some(run) => self
                .alternatives
                .iter()
                .filter(|(name, _)| run.contains(name))
                .collect(),
        }
    }

    /// One entry per alternative, the default first: `name=alternative`, or
    /// `name=alternative@param=value` for a reading that sets a stage parameter.
    pub fn encode(&self) -> Vec<Value> {
        self.ordered()
            .into_iter()
            .map(|(alt, value)| {
                Value::Str(match (&self.sets, value) {
                    (Some((param, _)), Some(v)) => format!("{}={alt}@{param}={v}", self.name),
                    _ => format!("{}={alt}", self.name),
                })
            })
            .collect()
    }
}

/// The seeds of a profile and the stages they repeat.
#[derive(Clone, Debug, PartialEq)]
pub struct Seeds {
    pub count: usize,
    pub stages: Vec<String>,
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn well_formed(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// What a reading needs to know of the stages: each declared stage's parameter schema.
pub(super) type StageSpecs<'a> = dyn Fn(&str) -> Option<Vec<ParamSpec>> + 'a;

/// Validates one reading; the error says which field is wrong and what to write instead.
pub(super) fn reading(
    name: &str,
    raw: &RawReading,
    profile_names: &[String],
    specs: &StageSpecs<'_>,
) -> Result<Reading, String> {
    if !well_formed(name) {
        return Err(format!(
            "readings: `{name}` may only use letters, digits, `.`, `_` and `-`"
        ));
    }
    let at = |field: &str, msg: String| format!("readings.{name}.{field}: {msg}");
    let pairs = alternatives(raw, &at)?;
    let names: Vec<&str> = pairs.iter().map(|(a, _)| a.as_str()).collect();
    let default = scalar(&raw.default)
        .ok_or_else(|| at("default", "expected one of the alternatives".into()))?;
    if !names.contains(&default.as_str()) {
        return Err(at(
            "default",
            format!(
                "`{default}` is not one of the alternatives ({})",
                names.join(", ")
            ),
        ));
    }
    if raw.why.trim().is_empty() {
        return Err(at(
            "why",
            "say what evidence decided the default (the paper's own numbers, its other sentences)"
                .into(),
        ));
    }
    let (alternatives, sets) = values(raw, &pairs, specs, &at)?;
    let profiles = profiles(raw, &names, &default, sets.is_some(), profile_names, &at)?;
    Ok(Reading {
        name: name.to_string(),
        alternatives,
        default,
        why: raw.why.trim().to_string(),
        sets,
        profiles,
    })
}

/// Where an error of a reading is: `readings.<name>.<field>: message`.
type At<'a> = dyn Fn(&str, String) -> String + 'a;

/// The alternatives' names (well formed, distinct, at least two), each with its value when
/// given as a map.
fn alternatives(
    raw: &RawReading,
    at: &At,
) -> Result<Vec<(String, Option<serde_yaml::Value>)>, String> {
    let pairs: Vec<(String, Option<serde_yaml::Value>)> = match &raw.alternatives {
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .map(|i| {
                scalar(i)
                    .map(|s| (s, Some(i.clone())))
                    .ok_or_else(|| at("alternatives", format!("expected names, got {i:?}")))
            })
            .collect::<Result<_, _>>()?,
        serde_yaml::Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                scalar(k)
                    .map(|s| (s, Some(v.clone())))
                    .ok_or_else(|| at("alternatives", format!("expected names, got {k:?}")))
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(at(
                "alternatives",
                format!("expected a list of names or a map name -> parameter value, got {other:?}"),
            ));
        }
    };
    if pairs.len() < 2 {
        return Err(at(
            "alternatives",
            "a reading needs at least two alternatives".into(),
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for (alt, _) in &pairs {
        if !well_formed(alt) {
            return Err(at(
                "alternatives",
                format!("`{alt}` may only use letters, digits, `.`, `_` and `-`"),
            ));
        }
        if names.contains(&alt.as_str()) {
            return Err(at("alternatives", format!("`{alt}` is listed twice")));
        }
        names.push(alt);
    }
    Ok(pairs)
}

/// The alternatives with the parameter value each sets on the reading's stages (the same
/// normalised value on every stage), and what it sets; without `sets`, names only.
#[allow(clippy::type_complexity)]
fn values(
    raw: &RawReading,
    pairs: &[(String, Option<serde_yaml::Value>)],
    specs: &StageSpecs<'_>,
    at: &At,
) -> Result<(Vec<(String, Option<Value>)>, Option<(String, Vec<String>)>), String> {
    let mut alternatives = Vec::new();
    let sets = match (&raw.sets, raw.stages.is_empty()) {
        (None, true) => {
            alternatives.extend(pairs.iter().map(|(a, _)| (a.clone(), None)));
            None
        }
        (None, false) => {
            return Err(at(
                "sets",
                "a reading with `stages` names the parameter it `sets` on them".into(),
            ));
        }
        (Some(_), true) => {
            return Err(at(
                "stages",
                "list the stages whose parameter this reading sets".into(),
            ));
        }
        (Some(param), false) => {
            let mut normalised: Option<Vec<Value>> = None;
            for stage in &raw.stages {
                let Some(stage_specs) = specs(stage) else {
                    return Err(at("stages", format!("`{stage}` is not a declared stage")));
                };
                let Some(spec) = stage_specs.iter().find(|p| p.name == *param) else {
                    return Err(at(
                        "sets",
                        format!("stage `{stage}` has no parameter `{param}`"),
                    ));
                };
                let values = pairs
                    .iter()
                    .map(|(alt, v)| {
                        let v = v.as_ref().expect("each alternative has its value");
                        Value::from_yaml(v)
                            .and_then(|v| spec.normalise(&v))
                            .map_err(|e| at("alternatives", format!("`{alt}` for `{stage}`: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                match &normalised {
                    Some(first) if *first != values => {
                        return Err(at(
                            "alternatives",
                            format!("the values mean different things on `{stage}`"),
                        ));
                    }
                    _ => normalised = Some(values),
                }
            }
            let values = normalised.expect("at least one stage");
            alternatives.extend(
                pairs
                    .iter()
                    .zip(values)
                    .map(|((a, _), v)| (a.clone(), Some(v))),
            );
            Some((param.clone(), raw.stages.clone()))
        }
    };
    Ok((alternatives, sets))
}

/// `profiles:`: the alternatives each listed profile runs (the default among them).
fn profiles(
    raw: &RawReading,
    names: &[&str],
    default: &str,
    sets: bool,
    profile_names: &[String],
    at: &At,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut profiles = BTreeMap::new();
    for (profile, run) in &raw.profiles {
        let at = |msg: String| at(&format!("profiles.{profile}"), msg);
        if !profile_names.contains(profile) {
            return Err(at(format!("`{profile}` is not a profile")));
        }
        if !sets {
            return Err(at(
                "only a reading that sets a stage parameter costs runs; this one is checked by the claims under every alternative".into(),
            ));
        }
        let run: Vec<String> = run
            .iter()
            .map(|v| {
                let n = scalar(v).unwrap_or_else(|| format!("{v:?}"));
                if names.contains(&n.as_str()) {
                    Ok(n)
                } else {
                    Err(at(format!(
                        "`{n}` is not one of the alternatives ({})",
                        names.join(", ")
                    )))
                }
            })
            .collect::<Result<_, _>>()?;
        if !run.iter().any(|r| r == default) {
            return Err(at(format!(
                "list the default `{default}` among the alternatives run"
            )));
        }
        profiles.insert(profile.clone(), run);
    }
    Ok(profiles)
}

/// Validates `seeds:` for a profile.
pub(super) fn seeds(
    raw: &RawSeeds,
    profile: &str,
    profiles: &[String],
    specs: &StageSpecs<'_>,
) -> Result<Seeds, String> {
    for p in raw.profiles.keys() {
        if !profiles.contains(p) {
            return Err(format!("seeds.profiles: `{p}` is not a profile"));
        }
    }
    let count = raw.profiles.get(profile).copied().unwrap_or(raw.count);
    if !(1..=1000).contains(&count) {
        return Err(format!(
            "seeds: the count for profile `{profile}` is {count}; give 1 to 1000 seeds"
        ));
    }
    for stage in &raw.stages {
        match specs(stage) {
            None => return Err(format!("seeds.stages: `{stage}` is not a declared stage")),
            Some(s) if !s.iter().any(|p| p.name == SEED_AXIS) => {
                return Err(format!(
                    "seeds.stages: stage `{stage}` has no parameter `{SEED_AXIS}`"
                ));
            }
            _ => {}
        }
    }
    Ok(Seeds {
        count,
        stages: raw.stages.clone(),
    })
}

/// The matrix axes the readings (the alternatives run in `profile`) and the seeds add to a
/// declared stage: parameter -> values.
pub(super) fn axes_of(
    stage: &str,
    readings: &[Reading],
    seeds: Option<&Seeds>,
    profile: &str,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for r in readings {
        if let Some((param, stages)) = &r.sets
            && stages.iter().any(|s| s == stage)
        {
            let values = r
                .run_in(profile)
                .into_iter()
                .filter_map(|(_, v)| v.clone())
                .collect();
            out.push((param.clone(), Value::List(values)));
        }
    }
    if let Some(s) = seeds
        && s.stages.iter().any(|x| x == stage)
    {
        out.push((
            SEED_AXIS.to_string(),
            Value::List((0..s.count as i64).map(Value::Int).collect()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamType;

    fn specs(stage: &str) -> Option<Vec<ParamSpec>> {
        (stage == "train").then(|| {
            vec![
                ParamSpec::new("loss", ParamType::Str, "loss").default("mse"),
                ParamSpec::new("init_gamma", ParamType::Float, "gamma").default(1.0),
                ParamSpec::new("seed", ParamType::Int, "seed").default(0i64),
            ]
        })
    }

    fn profiles() -> Vec<String> {
        vec!["quick".into(), "paper".into()]
    }

    fn raw(text: &str) -> RawReading {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn a_reading_that_sets_a_parameter_encodes_its_values_default_first() {
        let r = reading(
            "init",
            &raw("{default: std, alternatives: {variance: 0.8, std: 1.6}, why: B.1, sets: init_gamma, stages: [train], profiles: {quick: [std]}}"),
            &profiles(),
            &specs,
        )
        .unwrap();
        assert_eq!(
            r.encode(),
            vec![
                Value::Str("init=std@init_gamma=1.6".into()),
                Value::Str("init=variance@init_gamma=0.8".into())
            ]
        );
        let axes = axes_of("train", std::slice::from_ref(&r), None, "paper");
        assert_eq!(
            axes,
            vec![(
                "init_gamma".to_string(),
                Value::List(vec![Value::Float(0.8), Value::Float(1.6)])
            )]
        );
        // The quick profile runs the default only.
        assert_eq!(
            axes_of("train", &[r], None, "quick")[0].1,
            Value::List(vec![Value::Float(1.6)])
        );
    }

    #[test]
    fn claim_level_readings_set_nothing() {
        let r = reading(
            "spike_factor",
            &raw("{default: 10, alternatives: [2, 10], why: footnote 1}"),
            &profiles(),
            &specs,
        )
        .unwrap();
        assert_eq!(r.default, "10");
        assert!(axes_of("train", std::slice::from_ref(&r), None, "quick").is_empty());
        assert_eq!(
            r.encode(),
            vec![
                Value::Str("spike_factor=10".into()),
                Value::Str("spike_factor=2".into())
            ]
        );
    }

    #[test]
    fn bad_readings_say_which_field_and_what_to_do() {
        let cases = [
            (
                "{default: x, alternatives: [a, b], why: w}",
                "readings.r.default: `x` is not one of the alternatives (a, b)",
            ),
            (
                "{default: a, alternatives: [a], why: w}",
                "at least two alternatives",
            ),
            (
                "{default: a, alternatives: [a, a], why: w}",
                "`a` is listed twice",
            ),
            (
                "{default: a, alternatives: [a, b], why: ' '}",
                "readings.r.why: say what evidence",
            ),
            (
                "{default: a, alternatives: [a, b], why: w, stages: [train]}",
                "names the parameter it `sets`",
            ),
            (
                "{default: a, alternatives: [a, b], why: w, sets: lr, stages: [train]}",
                "stage `train` has no parameter `lr`",
            ),
            (
                "{default: a, alternatives: [a, b], why: w, sets: loss, stages: [trian]}",
                "`trian` is not a declared stage",
            ),
            (
                "{default: a, alternatives: {a: 1.0, b: x}, why: w, sets: init_gamma, stages: [train]}",
                "readings.r.alternatives: `b` for `train`",
            ),
            (
                "{default: a, alternatives: [a, b], why: w, sets: loss, stages: [train], profiles: {quik: [a]}}",
                "readings.r.profiles.quik: `quik` is not a profile",
            ),
            (
                "{default: a, alternatives: [a, b], why: w, sets: loss, stages: [train], profiles: {quick: [b]}}",
                "readings.r.profiles.quick: list the default `a`",
            ),
            (
                "{default: a, alternatives: [a, b], why: w, sets: loss, stages: [train], profiles: {quick: [a, c]}}",
                "readings.r.profiles.quick: `c` is not one of the alternatives (a, b)",
            ),
            (
                "{default: a, alternatives: [a, b], why: w, profiles: {quick: [a]}}",
                "readings.r.profiles.quick: only a reading that sets a stage parameter costs runs",
            ),
        ];
        for (text, want) in cases {
            let e = reading("r", &raw(text), &profiles(), &specs).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn seeds_follow_the_profile() {
        let raw: RawSeeds =
            serde_yaml::from_str("{count: 5, profiles: {paper: 10}, stages: [train]}").unwrap();
        let profiles = ["quick".to_string(), "paper".to_string()];
        assert_eq!(seeds(&raw, "quick", &profiles, &specs).unwrap().count, 5);
        let paper = seeds(&raw, "paper", &profiles, &specs).unwrap();
        assert_eq!(paper.count, 10);
        assert_eq!(
            axes_of("train", &[], Some(&paper), "paper")[0].1,
            Value::List((0..10).map(Value::Int).collect())
        );
        let typo: RawSeeds =
            serde_yaml::from_str("{count: 5, profiles: {papr: 10}, stages: [train]}").unwrap();
        assert!(
            seeds(&typo, "quick", &profiles, &specs)
                .unwrap_err()
                .contains("`papr` is not a profile")
        );
        let zero: RawSeeds = serde_yaml::from_str("{count: 0, stages: [train]}").unwrap();
        assert!(seeds(&zero, "quick", &profiles, &specs).is_err());
    }
}
