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
    fn describe(&self) -> String {
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

#[derive(Clone, Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: ParamType,
    /// `None`: required. `Some(Value::Null)`: optional, absent by default.
    pub default: Option<Value>,
    pub doc: &'static str,
}

impl ParamSpec {
    pub fn new(name: &'static str, ty: ParamType, doc: &'static str) -> Self {
        ParamSpec {
            name,
            ty,
            default: None,
            doc,
        }
    }
    pub fn float(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, ParamType::Float, doc)
    }
    pub fn int(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, ParamType::Int, doc)
    }
    pub fn bool(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, ParamType::Bool, doc)
    }
    pub fn str(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, ParamType::Str, doc)
    }
    pub fn choice(name: &'static str, choices: &'static [&'static str], doc: &'static str) -> Self {
        Self::new(name, ParamType::Choice(choices), doc)
    }
    pub fn floats(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, ParamType::FloatList, doc)
    }
    pub fn ints(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, ParamType::IntList, doc)
    }
    pub fn strs(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, ParamType::StrList, doc)
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

    /// Checks one value and normalises it (integers given for numbers become numbers, integral
    /// numbers given for integers become integers), so that equal meanings hash equally.
    pub fn normalise(&self, v: &Value) -> Result<Value, String> {
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
        match (element, v) {
            (Some(ety), Value::List(items)) => items
                .iter()
                .map(|item| scalar(&ety, item).ok_or_else(wrong))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List),
            (Some(_), _) => Err(wrong()),
            (None, _) => scalar(&self.ty, v).ok_or_else(wrong),
        }
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
/// types and missing required parameters; fills in defaults.
pub fn check_params(specs: &[ParamSpec], given: &Params) -> Result<Params, ParamError> {
    let mut out = Params::new();
    for (name, value) in given {
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
            return Err(ParamError {
                param: name.clone(),
                message: format!(
                    "unknown parameter `{name}`{}; valid parameters: {}",
                    super::suggest::did_you_mean(name, &names),
                    names.join(", ")
                ),
            });
        };
        let v = spec.normalise(value).map_err(|message| ParamError {
            param: name.clone(),
            message,
        })?;
        out.insert(name.clone(), v);
    }
    for spec in specs {
        if !out.contains_key(spec.name) {
            match &spec.default {
                Some(d) => {
                    out.insert(spec.name.to_string(), d.clone());
                }
                None => {
                    return Err(ParamError {
                        param: spec.name.to_string(),
                        message: format!(
                            "missing required parameter `{}` ({}: {})",
                            spec.name,
                            spec.ty.describe(),
                            spec.doc
                        ),
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::float("lr", "learning rate"),
            ParamSpec::int("epochs", "epochs").default(10i64),
            ParamSpec::choice("act", &["tanh", "relu"], "activation").default("tanh"),
            ParamSpec::floats("xs", "points").optional(),
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
}
