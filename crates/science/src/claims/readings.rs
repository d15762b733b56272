//! The readings a figure's claims are checked under, as `pipeline.yaml` declares them (received
//! through the figure's `readings` parameter, see `config::Reading::encode`), and the variants
//! (one combination of readings and one seed) a figure is computed for.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use spike_config::{Params, SEED_AXIS, Value, product};

/// One alternative of a reading; `sets` is the (parameter, value) it gives the stages it applies
/// to, for readings that are stage parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Alternative {
    pub name: String,
    pub sets: Option<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub name: String,
    /// The default first.
    pub alternatives: Vec<Alternative>,
}

/// The readings of a figure, in declared order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Readings(pub Vec<Reading>);

impl Readings {
    /// Parses `name=alternative` and `name=alternative@param=value` entries (the default of each
    /// reading first).
    pub fn parse(entries: &[String]) -> Result<Readings> {
        let mut out: Vec<Reading> = Vec::new();
        for e in entries {
            let Some((name, rest)) = e.split_once('=') else {
                bail!("reading `{e}`: expected name=alternative[@param=value]");
            };
            let (alt, sets) = match rest.split_once('@') {
                None => (rest, None),
                Some((alt, set)) => {
                    let Some((p, v)) = set.split_once('=') else {
                        bail!("reading `{e}`: expected @param=value after the alternative");
                    };
                    (alt, Some((p.to_string(), v.to_string())))
                }
            };
            let alternative = Alternative {
                name: alt.to_string(),
                sets,
            };
            match out.iter_mut().find(|r| r.name == name) {
                Some(r) => r.alternatives.push(alternative),
                None => out.push(Reading {
                    name: name.to_string(),
                    alternatives: vec![alternative],
                }),
            }
        }
        Ok(Readings(out))
    }

    /// The variants of a figure whose inputs have these matrix values: every combination of
    /// the readings (a stage-parameter reading only with the alternatives its inputs were run
    /// under, a claim-level one only if the figure `applies` it) and every seed; the default
    /// readings first, seeds in ascending order.
    pub fn variants(&self, matrices: &[&Params], applies: &[&str]) -> Vec<Variant> {
        let mut axes: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.0 {
            let claim_level = r.alternatives.iter().all(|a| a.sets.is_none());
            if claim_level && !applies.contains(&r.name.as_str()) {
                continue;
            }
            let present: Vec<String> = r
                .alternatives
                .iter()
                .filter(|a| match &a.sets {
                    None => true,
                    Some((p, v)) => matrices
                        .iter()
                        .any(|m| m.get(p).is_some_and(|x| x.to_string() == *v)),
                })
                .map(|a| a.name.clone())
                .collect();
            if !present.is_empty() {
                axes.push((r.name.clone(), present));
            }
        }
        let mut seeds: Vec<i64> = matrices
            .iter()
            .filter_map(|m| m.get(SEED_AXIS).and_then(Value::as_f64).map(|s| s as i64))
            .collect();
        seeds.sort_unstable();
        seeds.dedup();
        let seeds: Vec<Option<i64>> = if seeds.is_empty() {
            vec![None]
        } else {
            seeds.into_iter().map(Some).collect()
        };
        product(vec![BTreeMap::new()], &axes)
            .into_iter()
            .flat_map(|reading| {
                seeds.iter().map(move |&seed| Variant {
                    reading: reading.clone(),
                    seed,
                })
            })
            .collect()
    }

    /// The alternatives of stage-parameter readings that the inputs were run under only in
    /// part: (reading, an alternative not run, the alternatives run). Their claims say so
    /// instead of leaving the reading out.
    pub fn not_run(&self, matrices: &[&Params]) -> Vec<(String, String, Vec<String>)> {
        let mut out = Vec::new();
        for r in &self.0 {
            let ran = |a: &Alternative| {
                a.sets.as_ref().is_some_and(|(p, v)| {
                    matrices
                        .iter()
                        .any(|m| m.get(p).is_some_and(|x| x.to_string() == *v))
                })
            };
            let (run, absent): (Vec<&Alternative>, Vec<&Alternative>) =
                r.alternatives.iter().partition(|a| ran(a));
            if run.is_empty() || r.alternatives.iter().all(|a| a.sets.is_none()) {
                continue;
            }
            let run: Vec<String> = run.iter().map(|a| a.name.clone()).collect();
            for a in absent {
                out.push((r.name.clone(), a.name.clone(), run.clone()));
            }
        }
        out
    }

    /// The matrix values that select a variant's inputs: parameter -> value.
    pub fn fixes(&self, v: &Variant) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for r in &self.0 {
            let chosen = v.reading.get(&r.name);
            if let Some(a) = r.alternatives.iter().find(|a| Some(&a.name) == chosen)
                && let Some((p, val)) = &a.sets
            {
                out.insert(p.clone(), val.clone());
            }
        }
        if let Some(s) = v.seed {
            out.insert(SEED_AXIS.to_string(), s.to_string());
        }
        out
    }
}

/// One combination of readings (reading -> alternative) and one seed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Variant {
    pub reading: BTreeMap<String, String>,
    pub seed: Option<i64>,
}

/// Definition 5.1's angle of a neuron's input weight (w, b).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Angle {
    /// As printed: theta = arctan(b / w) in (-pi/2, pi/2].
    ArctanRatio,
    /// "The angle of the vector" (w, b): atan2(b, w) in (-pi, pi], differences wrapped.
    TwoArgument,
}

impl Angle {
    /// The angle reading of a variant (`angle`); as printed where no reading is declared.
    pub fn of(labels: &BTreeMap<String, String>) -> Result<Angle> {
        match labels.get("angle").map(String::as_str) {
            None | Some("arctan_ratio") => Ok(Angle::ArctanRatio),
            Some("two_argument") => Ok(Angle::TwoArgument),
            Some(other) => {
                bail!("reading angle = `{other}`: the alternatives are arctan_ratio, two_argument")
            }
        }
    }
}

/// The spike rule's factor of a variant (`spike_factor`), where one is declared.
pub fn spike_factor(labels: &BTreeMap<String, String>) -> Result<Option<f64>> {
    labels
        .get("spike_factor")
        .map(|f| match f.parse::<f64>() {
            Ok(x) if x > 1.0 && x.is_finite() => Ok(x),
            _ => bail!("reading spike_factor = `{f}`: expected a number above 1"),
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, Value)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn variants_cover_every_reading_run_and_every_seed_default_first() {
        let r = Readings::parse(&[
            "loss=half_mse@loss=half_mse".into(),
            "loss=mse@loss=mse".into(),
            "angle=two_argument".into(),
            "angle=arctan_ratio".into(),
            "init=variance@init_gamma=0.8".into(),
            "init=std@init_gamma=1.6".into(),
        ])
        .unwrap();
        let a = m(&[("loss", Value::Str("mse".into())), ("seed", Value::Int(1))]);
        let b = m(&[
            ("loss", Value::Str("half_mse".into())),
            ("seed", Value::Int(0)),
        ]);
        let c = m(&[("lr", Value::Float(0.05))]);
        let v = r.variants(&[&a, &b, &c], &["angle"]);
        // init is run under no alternative here: it does not vary.
        assert_eq!(v.len(), 2 * 2 * 2);
        // A figure that does not apply the angle has no angle variants.
        assert_eq!(r.variants(&[&a, &b, &c], &[]).len(), 2 * 2);
        assert_eq!(
            v[0],
            Variant {
                reading: [
                    ("angle".to_string(), "two_argument".to_string()),
                    ("loss".to_string(), "half_mse".to_string())
                ]
                .into(),
                seed: Some(0)
            }
        );
        assert_eq!(v[1].seed, Some(1));
        assert_eq!(
            r.fixes(&v[0]),
            [
                ("loss".to_string(), "half_mse".to_string()),
                ("seed".to_string(), "0".to_string())
            ]
            .into()
        );
        // init's alternatives were run under neither: not "not run", not concerned.
        assert!(r.not_run(&[&a, &b, &c]).is_empty());
        // Only half_mse run: mse is listed as not run.
        assert_eq!(
            r.not_run(&[&b]),
            vec![(
                "loss".to_string(),
                "mse".to_string(),
                vec!["half_mse".to_string()]
            )]
        );
        assert!(Readings::parse(&["loss".into()]).is_err());
        assert!(Readings::parse(&["loss=a@b".into()]).is_err());
    }

    #[test]
    fn claim_level_readings_are_read_from_the_labels() {
        let labels: BTreeMap<String, String> = [
            ("angle".to_string(), "two_argument".to_string()),
            ("spike_factor".to_string(), "2".to_string()),
        ]
        .into();
        assert_eq!(Angle::of(&labels).unwrap(), Angle::TwoArgument);
        assert_eq!(spike_factor(&labels).unwrap(), Some(2.0));
        assert_eq!(Angle::of(&BTreeMap::new()).unwrap(), Angle::ArctanRatio);
        assert_eq!(spike_factor(&BTreeMap::new()).unwrap(), None);
        let bad: BTreeMap<String, String> = [("spike_factor".to_string(), "1".to_string())].into();
        assert!(spike_factor(&bad).is_err());
    }
}
