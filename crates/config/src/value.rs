//! Parameter values: what `pipeline.yaml` parameters normalise to, and their canonical encoding.

use std::collections::BTreeMap;
use std::fmt;

/// A parameter value after validation against its stage kind's schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
}

/// Every combination of one value per axis, each added to every map of `start` (in order: the
/// first axis varies slowest): the expansion of a matrix, and of a figure's reading variants.
pub fn product<V: Clone>(
    start: Vec<BTreeMap<String, V>>,
    axes: &[(String, Vec<V>)],
) -> Vec<BTreeMap<String, V>> {
    let mut combos = start;
    for (axis, values) in axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(axis.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    combos
}

/// Parameters of one stage, sorted by name.
pub type Params = BTreeMap<String, Value>;

impl Value {
    /// Converts a YAML value; maps are not parameter values (the error says why).
    pub(crate) fn from_yaml(v: &serde_yaml::Value) -> Result<Value, String> {
        Ok(match v {
            serde_yaml::Value::Null => Value::Null,
            serde_yaml::Value::Bool(b) => Value::Bool(*b),
            serde_yaml::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else {
                    let f = n
                        .as_f64()
                        .ok_or_else(|| format!("number {n} is out of range"))?;
                    if !f.is_finite() {
                        return Err(format!("{n} is not a finite number"));
                    }
                    Value::Float(f)
                }
            }
            serde_yaml::Value::String(s) => Value::Str(s.clone()),
            serde_yaml::Value::Sequence(items) => Value::List(
                items
                    .iter()
                    .map(Value::from_yaml)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            serde_yaml::Value::Mapping(_) => {
                return Err("a mapping is not a parameter value (use a scalar or a list)".into());
            }
            serde_yaml::Value::Tagged(t) => return Value::from_yaml(&t.value),
        })
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Canonical bytes: a type tag, then the payload; floats by their exact bits, so
    /// `5e-3` and `0.005` encode the same and `0.1 + 0.2` does not equal `0.3`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(0),
            Value::Bool(b) => out.extend([1, *b as u8]),
            Value::Int(i) => {
                out.push(2);
                out.extend(i.to_le_bytes());
            }
            Value::Float(f) => {
                out.push(3);
                // -0.0 and 0.0 are the same parameter.
                let f = if *f == 0.0 { 0.0 } else { *f };
                out.extend(f.to_bits().to_le_bytes());
            }
            Value::Str(s) => {
                out.push(4);
                encode_bytes(s.as_bytes(), out);
            }
            Value::List(items) => {
                out.push(5);
                out.extend((items.len() as u64).to_le_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => (*f).into(),
            Value::Str(s) => s.clone().into(),
            Value::List(items) => items.iter().map(Value::to_json).collect(),
        }
    }

    /// Inverse of [`Value::to_json`] (integers stay integers, other numbers are floats).
    pub(crate) fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) if !n.is_f64() => Value::Int(i),
                _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(_) => Value::Str(v.to_string()),
        }
    }
}

pub fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend((bytes.len() as u64).to_le_bytes());
    out.extend(bytes);
}

/// Canonical encoding of a parameter map (sorted by name).
pub fn encode_params(params: &Params, out: &mut Vec<u8>) {
    out.extend((params.len() as u64).to_le_bytes());
    for (name, value) in params {
        encode_bytes(name.as_bytes(), out);
        value.encode(out);
    }
}

pub fn params_to_json(params: &Params) -> serde_json::Value {
    serde_json::Value::Object(
        params
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect(),
    )
}

pub fn params_from_json(v: &serde_json::Value) -> Params {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect()
        })
        .unwrap_or_default()
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s}"),
            Value::List(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        v.encode(&mut out);
        out
    }

    #[test]
    fn float_spellings_encode_identically() {
        let a: serde_yaml::Value = serde_yaml::from_str("5e-3").unwrap();
        let b: serde_yaml::Value = serde_yaml::from_str("0.005").unwrap();
        assert_eq!(
            enc(&Value::from_yaml(&a).unwrap()),
            enc(&Value::from_yaml(&b).unwrap())
        );
        assert_ne!(enc(&Value::Float(0.1 + 0.2)), enc(&Value::Float(0.3)));
    }

    #[test]
    fn types_are_distinguished() {
        assert_ne!(enc(&Value::Int(1)), enc(&Value::Float(1.0)));
        assert_ne!(enc(&Value::Str("1".into())), enc(&Value::Int(1)));
        assert_eq!(
            enc(&Value::List(vec![Value::Int(1), Value::Int(2)])),
            enc(&Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
    }

    #[test]
    fn json_round_trip_keeps_types() {
        let mut p = Params::new();
        p.insert("lr".into(), Value::Float(0.005));
        p.insert("epochs".into(), Value::Int(10));
        p.insert("xs".into(), Value::List(vec![Value::Float(1.0)]));
        assert_eq!(params_from_json(&params_to_json(&p)), p);
    }
}
