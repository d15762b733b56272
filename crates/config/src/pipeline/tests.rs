use super::*;
use crate::{ParamSpec, ParamType};

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
        e.message.contains("unknown field `parms`") && e.message.contains("did you mean `params`?"),
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

#[test]
fn inputs_that_cost_too_much_are_refused_before_parsing() {
    // 100,000 nested `[` (18 s in the parser before): refused at once, at the 65th.
    let deep = format!("stages: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let started = std::time::Instant::now();
    let e = parse_str(&deep, None).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!((e.line, e.column), (Some(1), Some(8 + 65)), "{e}");
    assert!(e.message.contains("nested more than 64 deep"), "{e}");
    // Brackets inside quotes and comments do not count; 64 levels of flow are fine.
    let quoted = format!(
        "# {}\nstages: []\nx: '{}'\ny: \"{}\\\"\"\n",
        "[".repeat(100),
        "[".repeat(100),
        "{".repeat(100)
    );
    let e = parse_str(&quoted, None).unwrap_err();
    assert!(e.message.contains("unknown field `x`"), "{e}");
    let fine = format!("stages: []\nz: {}{}\n", "[".repeat(64), "]".repeat(64));
    assert!(
        parse_str(&fine, None)
            .unwrap_err()
            .message
            .contains("unknown field `z`")
    );
    // More than 1 MiB: refused before parsing.
    let big = format!("stages: []\n#{}\n", "x".repeat(1 << 20));
    let e = parse_str(&big, None).unwrap_err();
    assert!(e.message.contains("more than a pipeline file may"), "{e}");
}

#[test]
fn long_messages_and_long_lists_of_errors_are_cut_short() {
    let mut e = ConfigError {
        also: vec![],
        file: "p.yaml".into(),
        line: Some(3),
        column: None,
        message: "x".repeat(7_000_000),
    };
    e.also = (0..150)
        .map(|i| ConfigError {
            also: vec![],
            file: "p.yaml".into(),
            line: Some(i),
            column: None,
            message: "bad".into(),
        })
        .collect();
    let shown = e.to_string();
    assert!(shown.len() < 10_000, "{}", shown.len());
    assert!(shown.contains("(6998000 more bytes)"), "{}", &shown[..100]);
    assert!(
        shown.ends_with("... and 50 more errors"),
        "{}",
        &shown[shown.len() - 100..]
    );
}
