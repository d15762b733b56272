//! `spike-pipe diff`: stage key changes with reasons, table differences under tolerances,
//! headline metrics, output formats and exit codes.

use crate::common::*;

const PIPELINE: &str = r#"
stages:
  - name: train.toy
    kind: train_toy
    params: {lr: 5.0e-3, steps: 100}
  - name: figure.fig3_2
    kind: figure_toy
    needs: {train: train.toy}
    params: {grid: 11}
"#;

#[test]
fn identical_runs_are_the_same() {
    let p = Proj::new(PIPELINE);
    p.ok(&["repro"]);
    p.ok(&["repro", "--force"]);
    let out = p.run(&["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("(no stage changed key)") && text.contains("same     fig3_2.parquet"),
        "{text}"
    );
    assert!(text.contains("same within the tolerances"));
    // Two separate checkouts of the same pipeline, compared by directory.
    let q = Proj::new(PIPELINE);
    q.ok(&["repro"]);
    let out = p.run(&[
        "diff",
        p.path().to_str().unwrap(),
        q.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn a_changed_parameter_shows_up_everywhere() {
    let p = Proj::new(PIPELINE);
    p.ok(&["repro"]);
    let first = p.latest()["run_id"].as_str().unwrap().to_string();
    p.write_pipeline(&PIPELINE.replace("lr: 5.0e-3", "lr: 4.9e-3"));
    p.ok(&["repro"]);
    let out = p.run(&["diff"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("changed    train.toy: params changed: lr 0.005 -> 0.0049"),
        "{text}"
    );
    assert!(
        text.contains("changed    figure.fig3_2: input train.toy changed"),
        "{text}"
    );
    assert!(
        text.contains("CHANGED  fig3_2.parquet") && text.contains("max rel"),
        "{text}"
    );
    assert!(text.contains("c/lambda_max final"), "{text}");

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&p.run(&["diff", &first, "latest", "--json"]))).unwrap();
    assert_eq!(json["stages"][0]["stage"], "train.toy");
    assert_eq!(
        json["stages"][0]["reasons"][0],
        "params changed: lr 0.005 -> 0.0049"
    );
    let table = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "fig3_2.parquet")
        .unwrap();
    assert_eq!(table["same"], false);
    let y = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "y")
        .unwrap();
    assert!(y["max_abs"].as_f64().unwrap() > 0.0 && y["within"] == false);
    let md = stdout(&p.run(&["diff", "--md"]));
    assert!(
        md.contains("| figure | metric | A | B | change |")
            && md.contains("| train.toy | changed | params changed: lr 0.005 -> 0.0049 |"),
        "{md}"
    );

    // Loose enough tolerances make the numbers "the same" (the claim verdicts did not change).
    let out = p.run(&["diff", "--rtol", "1e9", "--atol", "1e9"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn bad_run_ids_are_errors() {
    let p = Proj::new(PIPELINE);
    p.ok(&["repro"]);
    let out = p.run(&["diff", "no-such-run", "latest"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no run `no-such-run`"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["diff"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("diff needs two runs"),
        "{}",
        stderr(&out)
    );
}
