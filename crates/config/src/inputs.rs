//! The inputs a stage kind takes under `needs:`: each role, how many stages it takes and of which
//! kinds. Declared with the kind, checked when `pipeline.yaml` is loaded, listed by
//! `spike-pipe kinds`.

use std::collections::BTreeMap;

use super::suggest::did_you_mean;

/// How many stages a role takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    One,
    /// None or one.
    Optional,
    /// One or more (a matrix group).
    Many,
}

/// An input of a stage kind.
#[derive(Clone, Copy, Debug)]
pub struct InputSpec {
    /// The role in `needs: {role: stage}`; [`ANY_ROLE`] for a kind that takes inputs under
    /// roles of the user's choosing (as panel names).
    pub role: &'static str,
    /// The kinds the stages may be (empty: any kind).
    pub kinds: &'static [&'static str],
    pub count: Count,
}

pub const ANY_ROLE: &str = "*";

impl InputSpec {
    pub const fn one(role: &'static str, kinds: &'static [&'static str]) -> InputSpec {
        InputSpec {
            role,
            kinds,
            count: Count::One,
        }
    }
    pub const fn optional(role: &'static str, kinds: &'static [&'static str]) -> InputSpec {
        InputSpec {
            role,
            kinds,
            count: Count::Optional,
        }
    }
    pub const fn many(role: &'static str, kinds: &'static [&'static str]) -> InputSpec {
        InputSpec {
            role,
            kinds,
            count: Count::Many,
        }
    }

    fn what(&self) -> String {
        let kinds = if self.kinds.is_empty() {
            "any".to_string()
        } else {
            self.kinds
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        match self.count {
            Count::One => format!("one {kinds} stage"),
            Count::Optional => format!("optionally one {kinds} stage"),
            Count::Many => format!("one or more {kinds} stages"),
        }
    }

    /// One line for `spike-pipe kinds`.
    pub fn listing(&self) -> String {
        if self.role == ANY_ROLE {
            format!("needs (any role names): each {}", self.what())
        } else {
            format!("needs `{}`: {}", self.role, self.what())
        }
    }
}

/// What is wrong with the `needs` of a stage against its kind's inputs (empty: nothing);
/// `kind_of` gives the kind of a stage by name. Too many stages under a one-stage role is left
/// to the stage that reads it: a `-S` sweep of an upstream stage makes several, which is fine
/// for a run that does not reach the stage (`repro <upstream>`).
pub fn check_inputs(
    specs: &[InputSpec],
    needs: &BTreeMap<String, Vec<String>>,
    kind_of: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let any = specs.iter().find(|s| s.role == ANY_ROLE);
    let roles: Vec<&str> = specs
        .iter()
        .map(|s| s.role)
        .filter(|r| *r != ANY_ROLE)
        .collect();
    for (role, stages) in needs {
        let Some(spec) = specs.iter().find(|s| s.role == role).or(any) else {
            errors.push(format!(
                "needs `{role}`, which this kind does not take{}; it takes: {}",
                did_you_mean(role, &roles),
                if roles.is_empty() {
                    "no inputs".to_string()
                } else {
                    roles.join(", ")
                }
            ));
            continue;
        };
        for stage in stages {
            if let Some(kind) = kind_of(stage)
                && !spec.kinds.is_empty()
                && !spec.kinds.contains(&kind.as_str())
            {
                errors.push(format!(
                    "needs `{role}`: `{stage}` is a `{kind}` stage; `{role}` takes {}",
                    spec.what()
                ));
            }
        }
    }
    for spec in specs {
        let given = needs.get(spec.role).map_or(0, Vec::len);
        if spec.role != ANY_ROLE && given == 0 && spec.count != Count::Optional {
            errors.push(format!(
                "needs no `{}`; this kind needs {} under `{}` (write `needs: {{{}: <stage>}}`)",
                spec.role,
                spec.what(),
                spec.role,
                spec.role
            ));
        }
    }
    if any.is_some_and(|_| needs.is_empty()) {
        errors.push("needs no inputs; this kind needs at least one".to_string());
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[InputSpec] = &[
        InputSpec::one("train", &["train"]),
        InputSpec::optional("other", &["train"]),
        InputSpec::many("cond", &["condensation"]),
    ];

    fn needs(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(r, s)| (r.to_string(), s.iter().map(ToString::to_string).collect()))
            .collect()
    }

    fn kind_of(stage: &str) -> Option<String> {
        Some(stage.split('.').next().unwrap().to_string())
    }

    #[test]
    fn accepts_what_is_declared() {
        let ok = needs(&[
            ("train", &["train.a"]),
            ("cond", &["condensation.a", "condensation.b"]),
        ]);
        assert!(check_inputs(SPECS, &ok, &kind_of).is_empty());
    }

    #[test]
    fn refuses_unknown_missing_too_many_and_wrong_kinds() {
        let e = check_inputs(SPECS, &needs(&[("trian", &["train.a"])]), &kind_of);
        assert!(
            e[0].contains("needs `trian`, which this kind does not take (did you mean `train`?)"),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.contains("needs no `train`")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("needs no `cond`")), "{e:?}");
        let e = check_inputs(
            SPECS,
            &needs(&[("train", &["train.a"]), ("cond", &["dataset.x"])]),
            &kind_of,
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e.iter().any(|m| m.contains(
                "`dataset.x` is a `dataset` stage; `cond` takes one or more `condensation` stages"
            )),
            "{e:?}"
        );
    }

    #[test]
    fn any_role_takes_any_name_but_at_least_one() {
        let specs = [InputSpec::one(ANY_ROLE, &["eigen_projection"])];
        assert!(
            check_inputs(&specs, &needs(&[("b", &["eigen_projection.x"])]), &kind_of).is_empty()
        );
        let e = check_inputs(&specs, &needs(&[("b", &["train.x"])]), &kind_of);
        assert!(e[0].contains("`train.x` is a `train` stage"), "{e:?}");
        assert!(check_inputs(&specs, &needs(&[]), &kind_of)[0].contains("at least one"));
    }
}
