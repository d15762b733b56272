//! Every validation error of pipeline.yaml: exit code 2, a message that names the place and the
//! fix, and nothing run or written.

use crate::common::*;

fn rejected(pipeline: &str, expect: &[&str]) {
    let p = Proj::new(pipeline);
    let out = p.run(&["repro"]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit 2 for:\n{pipeline}\nstderr: {err}"
    );
    for e in expect {
        assert!(err.contains(e), "expected `{e}` in the error:\n{err}");
    }
    assert!(!p.path().join(".spike").exists(), "a cache was created");
    assert!(!p.path().join("outputs").exists(), "outputs were written");
}

#[test]
fn malformed_yaml_names_line_and_column() {
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n    params: {lr: 0.1\n",
        &["pipeline.yaml:5:1:"],
    );
    rejected(
        "stages:\n  - name: a\n   kind: train_toy\n",
        &["pipeline.yaml:2:5:", "missing field `kind`"],
    );
}

#[test]
fn unknown_keys_are_rejected_with_the_closest_valid_key() {
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n    nedds: []\n",
        &[
            "pipeline.yaml:4:5:",
            "unknown field `nedds`",
            "did you mean `needs`?",
        ],
    );
    rejected(
        "default_profil: quick\nstages: []\n",
        &[
            "pipeline.yaml:1:1:",
            "unknown field `default_profil`",
            "did you mean `default_profile`?",
        ],
    );
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n    params: {lr: 0.1, stepz: 3}\n",
        &[
            "pipeline.yaml:4:",
            "params.stepz",
            "unknown parameter `stepz`",
            "did you mean `steps`?",
        ],
    );
    rejected(
        "profiles:\n  quick:\n    train.toy: {parms: {lr: 1}}\nstages:\n  - name: train.toy\n    kind: train_toy\n",
        &["unknown field `parms`", "did you mean `params`?"],
    );
}

#[test]
fn unknown_stage_kinds_are_rejected() {
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_tyo\n",
        &[
            "pipeline.yaml:3:",
            "unknown kind `train_tyo`",
            "did you mean `train_toy`?",
            "known kinds:",
        ],
    );
}

#[test]
fn unknown_and_duplicate_needs_are_rejected() {
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n  - name: figure.a\n    kind: figure_toy\n    needs: {train: train.tyo}\n",
        &[
            "pipeline.yaml:6:",
            "needs `train.tyo`, which is not a stage",
            "did you mean `train.toy`?",
        ],
    );
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n  - name: figure.a\n    kind: figure_toy\n    needs: [train.toy, train.toy]\n",
        &["lists `train.toy` twice in needs"],
    );
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n  - name: train.toy\n    kind: train_toy\n",
        &["stage `train.toy` is declared twice"],
    );
}

#[test]
fn cycles_are_rejected_and_printed() {
    rejected(
        "stages:\n  - name: a\n    kind: figure_toy\n    needs: {train: b}\n  - name: b\n    kind: figure_toy\n    needs: {train: c}\n  - name: c\n    kind: figure_toy\n    needs: {train: a}\n",
        &["cycle in needs: a -> b -> c -> a"],
    );
}

#[test]
fn wrong_parameter_types_are_rejected() {
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n    params:\n      steps: 100\n      lr: fast\n",
        &[
            "pipeline.yaml:6:",
            "stage `train.toy` (kind `train_toy`), params.lr: expected a number, got a string `fast`",
        ],
    );
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n    params: {steps: 1.5}\n",
        &["params.steps: expected an integer"],
    );
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n    matrix: {lr: 0.1}\n",
        &["matrix.lr: expected a list of values to sweep over"],
    );
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n    matrix: {learning_rate: [0.1]}\n",
        &["`learning_rate` is not a parameter of kind `train_toy`"],
    );
}

#[test]
fn unknown_profiles_are_rejected() {
    let p = Proj::new("default_profile: quick\nprofiles: {quick: {}, smoke: {}}\nstages: []\n");
    let out = p.run(&["--profile", "smok", "repro"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown profile `smok` (did you mean `smoke`?)"),
        "{}",
        stderr(&out)
    );
    rejected(
        "profiles:\n  quick:\n    train.tyo: {params: {lr: 1}}\nstages:\n  - name: train.toy\n    kind: train_toy\n",
        &[
            "profile `quick` overrides `train.tyo`, which is not a stage",
            "did you mean `train.toy`?",
        ],
    );
}

#[test]
fn a_missing_pipeline_file_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .arg("repro")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the pipeline file")
            && stderr(&out).contains("--pipeline")
    );
}

#[test]
fn values_out_of_range_are_all_reported_at_load_with_their_lines() {
    // Each of these once ran (and some were cached) or panicked inside the stage; now every one
    // is refused before anything runs, all in one message, each with its line.
    let p = r#"
profiles:
  quick: {}
  paper:
    train.net: {params: {epochs: 1.0e18}}
stages:
  - name: data.d
    kind: dataset_1d
    params: {target: tanh_pair, n_train: 5, train_range: [-1, 1]}
  - name: train.net
    kind: train
    needs: {data: data.d}
    params:
      model: fnn
      width: 1000000000000
      lr: 0
      epochs: 0
      lanczos_max_iter: 0
  - name: train.toy
    kind: train_toy
    params: {steps: 10}
  - name: figure.toy
    kind: figure_toy
    needs: {train: train.toy}
    params:
      grid: 0
      x_range: [1.0]
"#;
    rejected(
        p,
        &[
            "pipeline.yaml:15:",
            "params.width: must be >= 1 and <= 100000, got `1000000000000`",
            "pipeline.yaml:16:",
            "params.lr: must be > 0 and <= 1000000, got `0",
            "pipeline.yaml:17:",
            "params.epochs: must be >= 1 and <= 100000000, got `0`",
            "params.lanczos_max_iter: must be >= 1",
            "params.grid: must be >= 2 and <= 2000, got `0`",
            "params.x_range: must have 2 elements, got 1",
            "(with profile `paper`)",
        ],
    );
    // Not a number at all.
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n    params: {lr: .nan}\n",
        &["pipeline.yaml:4:", "params.lr: .nan is not a finite number"],
    );
    rejected(
        "stages:\n  - name: train.toy\n    kind: train_toy\n    params: {lr: .inf}\n",
        &["params.lr: .inf is not a finite number"],
    );
}

#[test]
fn slurm_settings_are_checked_at_load() {
    for bad in [".inf", "0", "1.0e9"] {
        rejected(
            &format!(
                "executor: {{kind: slurm, poll_seconds: {bad}}}\nstages:\n  - name: train.toy\n    kind: train_toy\n"
            ),
            &["executor.poll_seconds must be between 0.1 and 3600 seconds"],
        );
    }
    for bad in ["0", "10001"] {
        rejected(
            &format!(
                "executor: {{kind: slurm, batch: {bad}}}\nstages:\n  - name: train.toy\n    kind: train_toy\n"
            ),
            &["executor.batch (stages per job) must be between 1 and 10000"],
        );
    }
    rejected(
        "executor: {kind: slurm, batch: -1}\nstages:\n  - name: train.toy\n    kind: train_toy\n",
        &["executor:"],
    );
}

#[test]
fn needs_are_checked_against_the_inputs_each_kind_declares() {
    // A misspelt role, a missing one and an input of the wrong kind: all reported at load, with
    // the stage's line.
    rejected(
        r#"
stages:
  - name: train.toy
    kind: train_toy
  - name: fig
    kind: figure_toy
    needs: {trian: train.toy}
  - name: spikes.toy
    kind: spikes
    needs: {train: train.toy}
"#,
        &[
            "pipeline.yaml:5: stage `fig` (kind `figure_toy`): needs `trian`, which this kind does not take (did you mean `train`?); it takes: train",
            "stage `fig` (kind `figure_toy`): needs no `train`; this kind needs one `train_toy` stage under `train`",
            "pipeline.yaml:8: stage `spikes.toy` (kind `spikes`): needs `train`: `train.toy` is a `train_toy` stage; `train` takes one `train` stage",
        ],
    );
}

#[test]
fn bad_readings_and_seeds_name_their_line_and_field() {
    let base = "stages:\n  - name: train.toy\n    kind: train_toy\n    params: {lr: 0.1}\n";
    // The default must be one of the alternatives.
    rejected(
        &format!(
            "readings:\n  scale:\n    default: c\n    alternatives: {{a: 0.1, b: 0.2}}\n    why: w\n    sets: lr\n    stages: [train.toy]\n{base}"
        ),
        &[
            "pipeline.yaml:2:",
            "readings.scale.default: `c` is not one of the alternatives (a, b)",
        ],
    );
    // A value the parameter does not accept, named with its stage.
    rejected(
        &format!(
            "readings:\n  scale:\n    default: a\n    alternatives: {{a: 0.1, b: -1.0}}\n    why: w\n    sets: lr\n    stages: [train.toy]\n{base}"
        ),
        &[
            "pipeline.yaml:2:",
            "readings.scale.alternatives: `b` for `train.toy`",
        ],
    );
    // A reading without its evidence.
    rejected(
        &format!(
            "readings:\n  angle:\n    default: a\n    alternatives: [a, b]\n    why: ''\n{base}"
        ),
        &["pipeline.yaml:2:", "readings.angle.why: say what evidence"],
    );
    // Seeds of a stage without a seed, and a profile that does not exist.
    rejected(
        &format!("seeds: {{count: 2, stages: [train.toy]}}\n{base}"),
        &[
            "pipeline.yaml:1:",
            "seeds.stages: stage `train.toy` has no parameter `seed`",
        ],
    );
    // A figure's `readings` come from the section, not from its params.
    rejected(
        &format!(
            "{base}  - name: figure.toy\n    kind: figure_toy\n    needs: {{train: train.toy}}\n    params: {{readings: [a=b]}}\n"
        ),
        &["`readings` is set from the pipeline's `readings:` section"],
    );
}
