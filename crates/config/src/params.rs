//! Parameter schemas: each stage kind declares its parameters, their types and defaults, and
//! `pipeline.yaml` values are checked and normalised against them.

use super::value::{Params, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum ParamType {
    Float,
    Int,
    Bool,
    Str,
    /// One of a closed set of strings.
    Choice(&'static [&'static str]),
    FloatList,
    IntList,
    StrList,
}

impl ParamType {
    pub(crate) fn describe(&self) -> String {
        match self {
            ParamType::Float => "a number".into(),
            ParamType::Int => "an integer".into(),
            ParamType::Bool => "a boolean".into(),
            ParamType::Str => "a string".into(),
            ParamType::Choice(c) => format!("one of {}", c.join(", ")),
            ParamType::FloatList => "a list of numbers".into(),
            ParamType::IntList => "a list of integers".into(),
            ParamType::StrList => "a list of strings".into(),
        }
    }
}

/// The values a number (or each number of a list) may take; numbers are always finite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
    /// `min` itself is excluded.
    pub min_open: bool,
    /// `max` itself is excluded.
    pub max_open: bool,
}

impl Range {
    fn contains(&self, v: f64) -> bool {
        (if self.min_open {
            v > self.min
        } else {
            v >= self.min
        }) && (if self.max_open {
            v < self.max
        } else {
            v <= self.max
        })
    }

    pub(crate) fn describe(&self) -> String {
        let lo = if self.min_open { ">" } else { ">=" };
        let hi = if self.max_open { "<" } else { "<=" };
        match (self.min.is_finite(), self.max.is_finite()) {
            (true, true) => format!("{lo} {} and {hi} {}", self.min, self.max),
            (true, false) => format!("{lo} {}", self.min),
            (false, true) => format!("{hi} {}", self.max),
            (false, false) => "finite".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: ParamType,
    /// `None`: required. `Some(Value::Null)`: optional, absent by default.
    pub default: Option<Value>,
    pub doc: &'static str,
    /// Allowed numbers (each element of a list).
    pub range: Option<Range>,
    /// Allowed list lengths (inclusive).
    pub len: Option<(usize, usize)>,
}

impl ParamSpec {
    pub fn new(name: &'static str, ty: ParamType, doc: &'static str) -> Self {
        ParamSpec {
            name,
            ty,
            default: None,
            doc,
            range: None,
            len: None,
        }
    }
    pub fn default(mut self, v: impl Into<Value>) -> Self {
        self.default = Some(v.into());
        self
    }
    /// Optional parameter that is absent (null) unless given.
    pub fn optional(mut self) -> Self {
        self.default = Some(Value::Null);
        self
    }
    /// min <= value <= max.
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.range = Some(Range {
            min,
            max,
            min_open: false,
            max_open: false,
        });
        self
    }
    /// min < value < max.
    pub fn open_range(mut self, min: f64, max: f64) -> Self {
        self.range = Some(Range {
            min,
            max,
            min_open: true,
            max_open: true,
        });
        self
    }
    /// 0 < value <= max.
    pub fn positive(mut self, max: f64) -> Self {
        self.range = Some(Range {
            min: 0.0,
            max,
            min_open: true,
            max_open: false,
        });
        self
    }
    /// Lists of min..=max elements.
    pub fn len(mut self, min: usize, max: usize) -> Self {
        self.len = Some((min, max));
        self
    }

    /// One line for `spike-pipe kinds`: name, type, default, allowed values, doc.
    pub fn listing(&self) -> String {
        let default = match &self.default {
            None => "required".to_string(),
            Some(Value::Null) => "optional".to_string(),
            Some(v) => format!("default {v}"),
        };
        let constraint = self.constraint();
        format!(
            "{} ({}; {default}{}): {}",
            self.name,
            self.ty.describe(),
            if constraint.is_empty() {
                String::new()
            } else {
                format!("; {constraint}")
            },
            self.doc
        )
    }

    /// The allowed values in words, for errors and docs ("" when anything of the type goes).
    pub fn constraint(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.range {
            parts.push(r.describe());
        }
        match self.len {
            Some((a, b)) if a == b => parts.push(format!("{a} elements")),
            Some((a, b)) => parts.push(format!("{a} to {b} elements")),
            None => {}
        }
        parts.join(", ")
    }

    /// Checks a normalised value against `range` and `len`; numbers must be finite.
    fn check_bounds(&self, v: &Value) -> Result<(), String> {
        let number = |x: &Value| -> Result<(), String> {
            let f = match x {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                _ => return Ok(()),
            };
            if !f.is_finite() {
                return Err(format!("must be a finite number, got `{x}`"));
            }
            match self.range {
                Some(r) if !r.contains(f) => Err(format!("must be {}, got `{x}`", r.describe())),
                _ => Ok(()),
            }
        };
        match v {
            Value::List(items) => {
                if let Some((a, b)) = self.len
                    && !(a..=b).contains(&items.len())
                {
                    return Err(format!(
                        "must have {}, got {} (`{v}`)",
                        if a == b {
                            format!("{a} elements")
                        } else {
                            format!("{a} to {b} elements")
                        },
                        items.len()
                    ));
                }
                items.iter().try_for_each(number)
            }
            other => number(other),
        }
    }

    /// Checks one value and normalises it (integers given for numbers become numbers, integral
    /// numbers given for integers become integers), so that equal meanings hash equally.
    pub(crate) fn normalise(&self, v: &Value) -> Result<Value, String> {
        let wrong = || {
            format!(
                "expected {}, got {} `{v}`",
                self.ty.describe(),
                v.type_name()
            )
        };
        if *v == Value::Null {
            return match self.default {
                Some(Value::Null) => Ok(Value::Null),
                _ => Err(wrong()),
            };
        }
        let scalar = |ty: &ParamType, v: &Value| -> Option<Value> {
            match (ty, v) {
                (ParamType::Float, Value::Float(_)) => Some(v.clone()),
                (ParamType::Float, Value::Int(i)) => Some(Value::Float(*i as f64)),
                (ParamType::Int, Value::Int(_)) => Some(v.clone()),
                (ParamType::Int, Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Some(Value::Int(*f as i64))
                }
                (ParamType::Bool, Value::Bool(_)) => Some(v.clone()),
                (ParamType::Str, Value::Str(_)) => Some(v.clone()),
                (ParamType::Choice(c), Value::Str(s)) if c.contains(&s.as_str()) => Some(v.clone()),
                _ => None,
            }
        };
        let element = match self.ty {
            ParamType::FloatList => Some(ParamType::Float),
            ParamType::IntList => Some(ParamType::Int),
            ParamType::StrList => Some(ParamType::Str),
            _ => None,
        };
        let value = match (element, v) {
            (Some(ety), Value::List(items)) => items
                .iter()
                .map(|item| scalar(&ety, item).ok_or_else(wrong))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List),
            (Some(_), _) => Err(wrong()),
            (None, _) => scalar(&self.ty, v).ok_or_else(wrong),
        }?;
        self.check_bounds(&value)?;
        Ok(value)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<Vec<f64>> for Value {
    fn from(v: Vec<f64>) -> Self {
        Value::List(v.into_iter().map(Value::Float).collect())
    }
}
impl From<Vec<&str>> for Value {
    fn from(v: Vec<&str>) -> Self {
        Value::List(v.into_iter().map(Value::from).collect())
    }
}
impl From<Vec<i64>> for Value {
    fn from(v: Vec<i64>) -> Self {
        Value::List(v.into_iter().map(Value::Int).collect())
    }
}

/// Error of one parameter, before the caller adds where it was found.
#[derive(Debug)]
pub struct ParamError {
    pub param: String,
    pub message: String,
}

/// Validates `given` against `specs`: rejects unknown names (suggesting the closest), wrong
/// types, values out of range and missing required parameters; fills in defaults. The first
/// error, if any.
pub fn check_params(specs: &[ParamSpec], given: &Params) -> Result<Params, ParamError> {
    check_all(specs, given).map_err(|mut errors| errors.remove(0))
}

/// As [`check_params`], with every error.
pub(crate) fn check_all(specs: &[ParamSpec], given: &Params) -> Result<Params, Vec<ParamError>> {
    let mut out = Params::new();
    let mut errors = Vec::new();
    for (name, value) in given {
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
            errors.push(ParamError {
                param: name.clone(),
                message: format!(
                    "unknown parameter `{name}`{}; valid parameters: {}",
                    super::suggest::did_you_mean(name, &names),
                    names.join(", ")
                ),
            });
            continue;
        };
        match spec.normalise(value) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(message) => errors.push(ParamError {
                param: name.clone(),
                message,
            }),
        }
    }
    for spec in specs {
        if !out.contains_key(spec.name) && !given.contains_key(spec.name) {
            match &spec.default {
                Some(d) => {
                    out.insert(spec.name.to_string(), d.clone());
                }
                None => errors.push(ParamError {
                    param: spec.name.to_string(),
                    message: format!(
                        "missing required parameter `{}` ({}: {})",
                        spec.name,
                        spec.ty.describe(),
                        spec.doc
                    ),
                }),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("lr", ParamType::Float, "learning rate"),
            ParamSpec::new("epochs", ParamType::Int, "epochs").default(10i64),
            ParamSpec::new("act", ParamType::Choice(&["tanh", "relu"]), "activation")
                .default("tanh"),
            ParamSpec::new("xs", ParamType::FloatList, "points").optional(),
        ]
    }

    fn p(pairs: &[(&str, Value)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn normalises_and_fills_defaults() {
        let out = check_params(
            &specs(),
            &p(&[("lr", Value::Int(1)), ("epochs", Value::Float(1e3))]),
        )
        .unwrap();
        assert_eq!(out["lr"], Value::Float(1.0));
        assert_eq!(out["epochs"], Value::Int(1000));
        assert_eq!(out["act"], Value::Str("tanh".into()));
        assert_eq!(out["xs"], Value::Null);
    }

    #[test]
    fn rejects_bad_values_with_reasons() {
        let e = check_params(&specs(), &p(&[("lr", Value::Str("fast".into()))])).unwrap_err();
        assert_eq!(e.param, "lr");
        assert!(
            e.message.contains("expected a number, got a string `fast`"),
            "{}",
            e.message
        );
        let e = check_params(
            &specs(),
            &p(&[("lr", Value::Float(0.1)), ("epochz", Value::Int(1))]),
        )
        .unwrap_err();
        assert!(
            e.message.contains("did you mean `epochs`?"),
            "{}",
            e.message
        );
        let e = check_params(&specs(), &p(&[])).unwrap_err();
        assert!(
            e.message.contains("missing required parameter `lr`"),
            "{}",
            e.message
        );
        let e = check_params(
            &specs(),
            &p(&[
                ("lr", Value::Float(0.1)),
                ("act", Value::Str("gelu".into())),
            ]),
        )
        .unwrap_err();
        assert!(e.message.contains("one of tanh, relu"), "{}", e.message);
        let e = check_params(
            &specs(),
            &p(&[("lr", Value::Float(0.1)), ("epochs", Value::Float(1.5))]),
        )
        .unwrap_err();
        assert!(e.message.contains("expected an integer"), "{}", e.message);
    }

    #[test]
    fn ranges_lengths_and_finiteness() {
        let specs = vec![
            ParamSpec::new("lr", ParamType::Float, "lr").positive(10.0),
            ParamSpec::new("epochs", ParamType::Int, "epochs")
                .range(1.0, 1e8)
                .default(10i64),
            ParamSpec::new("x_range", ParamType::FloatList, "x")
                .len(2, 2)
                .default(vec![0.0, 1.0]),
            ParamSpec::new("frac", ParamType::Float, "f")
                .open_range(0.0, 1.0)
                .optional(),
        ];
        let bad = |given: &[(&str, Value)]| {
            let mut all = vec![("lr", Value::Float(0.1))];
            all.extend(given.iter().cloned());
            check_params(&specs, &p(&all)).unwrap_err().message
        };
        assert!(bad(&[("lr", Value::Float(0.0))]).contains("must be > 0 and <= 10, got `0"));
        assert!(bad(&[("lr", Value::Float(f64::INFINITY))]).contains("finite"));
        assert!(bad(&[("lr", Value::Float(f64::NAN))]).contains("finite"));
        assert!(bad(&[("epochs", Value::Int(0))]).contains("must be >= 1 and <= 100000000"));
        assert!(bad(&[("epochs", Value::Float(1e18))]).contains("expected an integer"));
        assert!(bad(&[("epochs", Value::Int(1_000_000_000_000))]).contains("<= 100000000"));
        let e = bad(&[("x_range", Value::List(vec![Value::Float(1.0)]))]);
        assert!(e.contains("must have 2 elements, got 1"), "{e}");
        assert!(bad(&[("frac", Value::Float(1.0))]).contains("> 0 and < 1"));
        // In range: accepted; optional null: accepted.
        let ok = check_params(
            &specs,
            &p(&[("lr", Value::Float(10.0)), ("frac", Value::Float(0.5))]),
        )
        .unwrap();
        assert_eq!(ok["epochs"], Value::Int(10));
        assert_eq!(specs[0].constraint(), "> 0 and <= 10");
        assert_eq!(specs[2].constraint(), "2 elements");
    }
}
