//! Typed parameters: a stage kind declares one struct with [`stage_params!`]; the same
//! declaration gives the schema that validates `pipeline.yaml` (types, defaults, ranges, docs,
//! `spike-pipe kinds`) and the serde-deserialised struct the kind (and any kind downstream of
//! it) reads. Closed string sets are enums declared with [`choice_enum!`].

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

use super::params::{ParamSpec, ParamType};
use super::value::{Params, Value, params_to_json};

/// A Rust type a parameter may have, and how it maps onto the schema.
pub trait ParamValue {
    const TYPE: ParamType;
    /// `Option<T>`: absent (null) unless given.
    const OPTIONAL: bool = false;
    fn to_value(&self) -> Value;
}

macro_rules! param_value {
    ($($t:ty => $ty:ident, |$v:ident| $conv:expr;)*) => {$(
        impl ParamValue for $t {
            const TYPE: ParamType = ParamType::$ty;
            fn to_value(&self) -> Value {
                let $v = self;
                $conv
            }
        }
    )*};
}

param_value! {
    f64 => Float, |v| Value::Float(*v);
    i64 => Int, |v| Value::Int(*v);
    u64 => Int, |v| Value::Int(*v as i64);
    usize => Int, |v| Value::Int(*v as i64);
    bool => Bool, |v| Value::Bool(*v);
    String => Str, |v| Value::Str(v.clone());
    Vec<f64> => FloatList, |v| Value::List(v.iter().map(|x| Value::Float(*x)).collect());
    Vec<usize> => IntList, |v| Value::List(v.iter().map(|x| Value::Int(*x as i64)).collect());
    Vec<String> => StrList, |v| Value::List(v.iter().map(|x| Value::Str(x.clone())).collect());
}

impl<T: ParamValue> ParamValue for Option<T> {
    const TYPE: ParamType = T::TYPE;
    const OPTIONAL: bool = true;
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
}

/// The schema entry of a field of type `T`, before its default and range are applied.
pub fn spec_of<T: ParamValue>(name: &'static str, doc: &'static str) -> ParamSpec {
    let spec = ParamSpec::new(name, T::TYPE, doc.trim());
    if T::OPTIONAL { spec.optional() } else { spec }
}

/// The parameters of a stage kind: their schema, and the struct read from validated params.
pub trait StageParams: DeserializeOwned + Sized {
    fn specs() -> Vec<ParamSpec>;

    /// Reads parameters already validated and normalised against [`StageParams::specs`] (a
    /// stage's own, or an upstream stage's).
    fn from_params(params: &Params) -> Result<Self> {
        serde_json::from_value(params_to_json(params)).with_context(|| {
            format!(
                "reading parameters as {} (stage kind schema bug)",
                std::any::type_name::<Self>()
            )
        })
    }
}

/// Kinds without parameters.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct NoParams {}

impl StageParams for NoParams {
    fn specs() -> Vec<ParamSpec> {
        Vec::new()
    }
}

/// Declares a stage kind's parameter struct. Each field: its doc comment (the parameter's doc),
/// name and type, then optionally `= default` and `; check(args) ...` with the [`ParamSpec`]
/// builders (`range`, `open_range`, `positive`, `len`). A field with neither a default nor an
/// `Option` type is required. Groups of parameters several kinds share (a struct declared the
/// same way) are listed in brackets after the name and flattened into the kind's parameters.
///
/// ```
/// use spike_config::{Params, StageParams, Value, check_params, stage_params};
///
/// stage_params! {
///     pub struct SpikesParams {
///         /// epochs before the onset included in the analysis window
///         pub before: usize = 50; range(0.0, 1e9),
///     }
/// }
///
/// let specs = SpikesParams::specs();
/// assert_eq!((specs[0].name, specs[0].doc), ("before", "epochs before the onset included in the analysis window"));
/// // Validation fills in the default; the struct reads the validated parameters.
/// let p = SpikesParams::from_params(&check_params(&specs, &Params::new()).unwrap()).unwrap();
/// assert_eq!(p.before, 50);
/// let negative = Params::from([("before".to_string(), Value::Int(-1))]);
/// assert!(check_params(&specs, &negative).is_err());
/// ```
#[macro_export]
macro_rules! stage_params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $([ $($group:ident : $gty:ty),+ ])? {
            $(
                $(#[doc = $doc:literal])*
                $fvis:vis $field:ident : $ty:ty $(= $default:expr)? $(; $($check:ident ( $($arg:expr),* ))+ )? ,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, serde::Deserialize)]
        $vis struct $name {
            $($( #[serde(flatten)] pub $group: $gty, )+)?
            $( $(#[doc = $doc])* $fvis $field: $ty, )*
        }

        impl $crate::StageParams for $name {
            fn specs() -> Vec<$crate::ParamSpec> {
                #[allow(unused_mut)]
                let mut specs = Vec::new();
                $($( specs.extend(<$gty as $crate::StageParams>::specs()); )+)?
                specs.extend([$({
                    let spec = $crate::spec_of::<$ty>(
                        stringify!($field),
                        concat!($($doc),*),
                    );
                    $(let spec = spec.default(
                        <$ty as $crate::ParamValue>::to_value(&$default),
                    );)?
                    $($(let spec = spec.$check($($arg),*);)+)?
                    spec
                }),*]);
                specs
            }
        }
    };
}

/// Declares an enum for a closed set of strings: its names, `parse`, `as_str`, `Display`,
/// serde and its [`ParamValue`] (a `ParamType::Choice`), all from one list.
#[macro_export]
macro_rules! choice_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $doc:literal])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[doc = $doc])* $variant, )+
        }

        impl $name {
            pub(crate) const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            pub fn parse(s: &str) -> anyhow::Result<Self> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    other => Err(anyhow::anyhow!(
                        "unknown {} `{other}`{}; expected one of {}",
                        stringify!($name),
                        $crate::did_you_mean(other, Self::NAMES),
                        Self::NAMES.join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl $crate::ParamValue for $name {
            const TYPE: $crate::ParamType = $crate::ParamType::Choice(Self::NAMES);
            fn to_value(&self) -> $crate::Value {
                $crate::Value::Str(self.as_str().to_string())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_params;

    crate::choice_enum! {
        enum Colour {
            Red = "red",
            DarkBlue = "dark_blue",
        }
    }

    crate::stage_params! {
        struct Demo {
            /// the learning
            /// rate
            lr: f64; positive(10.0),
            /// epochs
            epochs: usize = 100; range(1.0, 1e6),
            colour: Colour = Colour::DarkBlue,
            /// optional cap
            cap: Option<f64>,
            xs: Vec<f64> = vec![0.0, 1.0]; len(2, 2),
        }
    }

    crate::stage_params! {
        struct Shared {
            /// shared seed
            seed: u64 = 7,
        }
    }

    crate::stage_params! {
        struct WithGroup [shared: Shared] {
            lr: f64,
        }
    }

    #[test]
    fn groups_are_flattened() {
        let specs = WithGroup::specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        assert_eq!(names, ["seed", "lr"]);
        let p = check_params(&specs, &given(&[("lr", Value::Float(0.5))])).unwrap();
        let w = WithGroup::from_params(&p).unwrap();
        assert_eq!((w.shared.seed, w.lr), (7, 0.5));
        assert_eq!(Shared::from_params(&p).unwrap().seed, 7);
    }

    fn given(pairs: &[(&str, Value)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn one_declaration_gives_schema_and_struct() {
        let specs = Demo::specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        assert_eq!(names, ["lr", "epochs", "colour", "cap", "xs"]);
        assert_eq!(specs[0].doc, "the learning rate");
        assert_eq!(specs[0].default, None);
        assert_eq!(specs[0].constraint(), "> 0 and <= 10");
        assert_eq!(specs[1].default, Some(Value::Int(100)));
        assert_eq!(specs[2].ty, ParamType::Choice(&["red", "dark_blue"]));
        assert_eq!(specs[2].default, Some(Value::Str("dark_blue".into())));
        assert_eq!(specs[3].default, Some(Value::Null));
        let p = check_params(&specs, &given(&[("lr", Value::Int(2))])).unwrap();
        let d = Demo::from_params(&p).unwrap();
        assert_eq!(d.lr, 2.0);
        assert_eq!(d.epochs, 100);
        assert_eq!(d.colour, Colour::DarkBlue);
        assert_eq!(d.cap, None);
        assert_eq!(d.xs, [0.0, 1.0]);
        let p = check_params(
            &specs,
            &given(&[
                ("lr", Value::Float(0.5)),
                ("colour", Value::Str("red".into())),
                ("cap", Value::Float(3.0)),
            ]),
        )
        .unwrap();
        let d = Demo::from_params(&p).unwrap();
        assert_eq!((d.colour, d.cap), (Colour::Red, Some(3.0)));
        let e = check_params(&specs, &given(&[("lr", Value::Float(11.0))])).unwrap_err();
        assert!(e.message.contains("<= 10"), "{}", e.message);
        let e = check_params(
            &specs,
            &given(&[
                ("lr", Value::Float(1.0)),
                ("colour", Value::Str("blue".into())),
            ]),
        )
        .unwrap_err();
        assert!(e.message.contains("one of red, dark_blue"), "{}", e.message);
    }

    #[test]
    fn choice_parse_suggests() {
        assert_eq!(Colour::parse("red").unwrap(), Colour::Red);
        let e = Colour::parse("dark_bleu").unwrap_err().to_string();
        assert!(e.contains("did you mean `dark_blue`?"), "{e}");
        assert_eq!(Colour::DarkBlue.to_string(), "dark_blue");
    }
}
