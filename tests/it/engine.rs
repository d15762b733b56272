//! The engine end to end through the binary: caching, invalidation, canonical keys, corruption,
//! crashes, concurrency, targets and failures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::*;

const TOY: &str = r#"
default_profile: quick
profiles:
  quick: {}
stages:
  - name: train.toy
    kind: train_toy
    params: {lr: 5.0e-3, x0: 0.5, y0: 1.0e-5, steps: 80}
  - name: train.other
    kind: train_toy
    params: {lr: 4.0e-3, steps: 70}
  - name: figure.fig3_2
    kind: figure_toy
    needs: {train: train.toy}
    params: {grid: 11}
  - name: figure.other
    kind: figure_toy
    needs: {train: train.other}
    params: {id: other, grid: 11}
"#;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn cached_rerun_runs_zero_stages() {
    let p = Proj::new(TOY);
    p.ok(&["repro"]);
    assert!(
        p.outcomes().values().all(|o| o == "computed"),
        "{:?}",
        p.outcomes()
    );
    let compute_times = |p: &Proj| -> Vec<f64> {
        let run = p.latest();
        let stages = run["stages"].as_array().unwrap();
        stages
            .iter()
            .map(|s| s["compute_s"].as_f64().unwrap())
            .collect()
    };
    let first = compute_times(&p);
    let out = p.ok(&["repro"]);
    assert!(
        p.outcomes().values().all(|o| o == "cached"),
        "{:?}",
        p.outcomes()
    );
    // A cached stage's record still says how long computing it took, from its manifest.
    assert_eq!(compute_times(&p), first);
    assert!(first.iter().all(|&c| c > 0.0), "{first:?}");
    assert!(out.contains("0 computed"), "{out}");
    assert!(p.path().join("outputs/figures/fig3_2.parquet").is_file());
    assert!(p.path().join("outputs/figures/other.parquet").is_file());
}

#[test]
fn editing_a_parameter_reruns_exactly_its_dependents() {
    let p = Proj::new(TOY);
    p.ok(&["repro"]);
    p.write_pipeline(&TOY.replace("lr: 5.0e-3, x0", "lr: 4.5e-3, x0"));
    let status = p.ok(&["status"]);
    assert!(
        status.contains("train.toy: params changed: lr 0.005 -> 0.0045"),
        "{status}"
    );
    assert!(
        status.contains("figure.fig3_2: input train.toy changed"),
        "{status}"
    );
    assert!(status.contains("ok     train.other"), "{status}");
    let dry = p.ok(&["repro", "--dry"]);
    assert!(
        dry.contains("run    train.toy: params changed") && !dry.contains("train.other"),
        "{dry}"
    );
    p.ok(&["repro"]);
    assert_eq!(
        p.outcomes(),
        map(&[
            ("train.toy", "computed"),
            ("train.other", "cached"),
            ("figure.fig3_2", "computed"),
            ("figure.other", "cached"),
        ])
    );
    // Reverting finds the old entries again.
    p.write_pipeline(TOY);
    p.ok(&["repro"]);
    assert!(
        p.outcomes().values().all(|o| o == "cached"),
        "{:?}",
        p.outcomes()
    );
}

#[test]
fn reformatting_the_pipeline_changes_no_key() {
    let p = Proj::new(TOY);
    p.ok(&["repro"]);
    let keys = p.keys();
    let reformatted = r#"
# the same pipeline, written differently
stages:
  - kind: train_toy          # key order swapped
    name: train.toy
    params:
      steps: 80
      y0: 0.00001
      x0: 5e-1
      lr: 0.005
  - {name: train.other, kind: train_toy, params: {steps: 70.0, lr: 4e-3}}
  - name: figure.fig3_2
    params: {grid: 11}
    needs:
      train: train.toy
    kind: figure_toy
  - name: figure.other
    kind: figure_toy
    needs: {train: [train.other]}
    params: {grid: 11, id: "other"}
profiles: {quick: {}}
default_profile: quick
"#;
    p.write_pipeline(reformatted);
    p.ok(&["repro"]);
    assert!(
        p.outcomes().values().all(|o| o == "cached"),
        "{:?}",
        p.outcomes()
    );
    assert_eq!(p.keys(), keys);
}

#[test]
fn a_corrupted_cached_table_is_detected_and_recomputed() {
    let p = Proj::new(TOY);
    p.ok(&["repro"]);
    let key = p.keys()["train.toy"].clone();
    let file = p.cache().join("entries").join(&key).join("log.parquet");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::thread::sleep(Duration::from_millis(10));
    std::fs::write(&file, &bytes).unwrap();
    let out = p.run(&["repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&key) && err.contains("corrupt") && err.contains("log.parquet"),
        "{err}"
    );
    let o = p.outcomes();
    assert_eq!(o["train.toy"], "computed");
    assert_eq!(o["figure.fig3_2"], "cached");
    let rec = p.latest();
    let reasons = rec["stages"][0]["reasons"].to_string();
    assert!(reasons.contains("cached entry corrupt"), "{reasons}");
    // The recomputed entry is valid again.
    p.ok(&["repro"]);
    assert!(p.outcomes().values().all(|o| o == "cached"));
}

const SLOW: &str = r#"
stages:
  - name: train.slow
    kind: train_toy
    params: {lr: 1.0e-3, steps: 15000}
  - name: figure.slow
    kind: figure_toy
    needs: {train: train.slow}
    params: {grid: 5, id: slow}
"#;

fn wait_for_tmp_entry(p: &Proj, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::fs::read_dir(p.cache().join("tmp"))
            .map(|r| r.count() > 0)
            .unwrap_or(false)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn sigkill_in_the_middle_of_a_stage_leaves_a_usable_cache() {
    let p = Proj::new(SLOW);
    // burn's autodiff, slow enough on the toy to be killed in the middle
    let mut child = p.spawn(&["--backend", "flex", "repro"]);
    assert!(
        wait_for_tmp_entry(&p, Duration::from_secs(60)),
        "the stage never started"
    );
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let entries: Vec<_> = std::fs::read_dir(p.cache().join("entries"))
        .unwrap()
        .collect();
    assert!(entries.is_empty(), "a killed stage left an entry");
    p.ok(&["--backend", "flex", "repro"]);
    assert_eq!(
        p.outcomes(),
        map(&[("train.slow", "computed"), ("figure.slow", "computed")])
    );
    let left: Vec<_> = std::fs::read_dir(p.cache().join("tmp")).unwrap().collect();
    assert!(
        left.is_empty(),
        "temporary directories left behind: {left:?}"
    );
    // Same result as an uninterrupted run elsewhere.
    let q = Proj::new(SLOW);
    q.ok(&["--backend", "flex", "repro"]);
    let a =
        spike_pipe::table::read_parquet(&p.path().join("outputs/figures/slow.parquet")).unwrap();
    let b =
        spike_pipe::table::read_parquet(&q.path().join("outputs/figures/slow.parquet")).unwrap();
    assert!(a.equals_missing(&b));
}

#[test]
fn two_concurrent_runs_both_succeed_and_compute_each_stage_once() {
    let p = Proj::new(&SLOW.replace("15000", "6000"));
    // burn's autodiff: slow enough on the toy for the two runs to meet
    let a = p.spawn(&["--backend", "flex", "repro"]);
    let b = p.spawn(&["--backend", "flex", "repro"]);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let runs: Vec<serde_json::Value> = std::fs::read_dir(p.path().join("outputs/runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| record(&e.path()))
        .collect();
    assert_eq!(runs.len(), 2);
    // The run that found the other's lock said that it was waiting.
    assert!(
        stderr(&a).contains("waiting for") || stderr(&b).contains("waiting for"),
        "no message while waiting for the lock:\n{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    for stage in ["train.slow", "figure.slow"] {
        let computed = runs
            .iter()
            .filter(|r| outcomes(r)[stage] == "computed")
            .count();
        let cached = runs
            .iter()
            .filter(|r| outcomes(r)[stage] == "cached")
            .count();
        assert_eq!((computed, cached), (1, 1), "{stage}");
    }
}

#[test]
fn a_failure_stops_the_run_only_with_fail_fast() {
    let p = Proj::new(FAILING);
    let out = p.run(&["repro", "-j", "1", "--fail-fast"]);
    assert_eq!(out.status.code(), Some(1));
    let o = p.outcomes();
    assert_eq!(o["train.bad"], "failed");
    assert_eq!(o["figure.bad"], "skipped");
    assert_eq!(o["figure.good"], "skipped");
    let rec = p.latest();
    let err = rec["stages"][0]["error"].as_str().unwrap();
    assert!(err.contains("diverged at step"), "{err}");

    // By default the branches that do not need the failed stage finish, and the summary says
    // what was not run and why.
    let out = p.run(&["repro", "-j", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("skipped   figure.bad: a stage it needs failed"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        p.outcomes(),
        map(&[
            ("train.bad", "failed"),
            ("figure.bad", "skipped"),
            ("train.good", "computed"),
            ("figure.good", "computed"),
        ])
    );
    assert!(p.path().join("outputs/figures/good.parquet").is_file());
    assert!(!p.path().join("outputs/figures/bad.parquet").exists());
    let status = p.ok(&["status"]);
    assert!(
        status.contains("train.bad: not in cache (last attempt failed"),
        "{status}"
    );
}

#[test]
fn targets_force_downstream_and_parallel_jobs() {
    let p = Proj::new(TOY);
    // A figure id as target runs it and what it needs, nothing else.
    p.ok(&["repro", "fig3_2"]);
    assert_eq!(
        p.outcomes(),
        map(&[("train.toy", "computed"), ("figure.fig3_2", "computed")])
    );
    // --force reruns the target only.
    p.ok(&["repro", "train.toy", "--force"]);
    assert_eq!(p.outcomes(), map(&[("train.toy", "computed")]));
    // --downstream adds what depends on it.
    p.ok(&["repro", "train.toy", "--force", "--downstream"]);
    assert_eq!(
        p.outcomes(),
        map(&[("train.toy", "computed"), ("figure.fig3_2", "computed")])
    );
    // The rest in parallel.
    p.ok(&["repro", "-j", "4"]);
    let o = p.outcomes();
    assert_eq!(
        (o["train.other"].as_str(), o["figure.other"].as_str()),
        ("computed", "computed")
    );
    let out = p.run(&["repro", "fig3_3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`fig3_3` is not a stage or figure")
            && stderr(&out).contains("did you mean `fig3_2`?")
    );
}

#[test]
fn non_tty_progress_prints_plain_lines() {
    let p = Proj::new(SLOW.replace("15000", "3000").as_str());
    let out = p.run(&["repro"]);
    let err = stderr(&out);
    assert!(err.contains("train.slow: 100%"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "escape codes in non-TTY output: {err}"
    );
}

#[test]
fn dag_prints_text_and_dot() {
    let p = Proj::new(TOY);
    let text = p.ok(&["dag"]);
    assert!(
        text.contains("figure.fig3_2") && text.contains("<- train: train.toy"),
        "{text}"
    );
    let dot = p.ok(&["dag", "--dot"]);
    assert!(
        dot.starts_with("digraph") && dot.contains("\"train.toy\" -> \"figure.fig3_2\""),
        "{dot}"
    );
}

#[test]
fn latest_falls_back_when_it_cannot_be_a_link() {
    let p = Proj::new(TOY);
    // A directory of the user's where `latest` goes: kept, the run still finishes and reports.
    std::fs::create_dir_all(p.path().join("outputs/runs/latest/mine")).unwrap();
    let out = p.run(&["repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not update"),
        "{}",
        stderr(&out)
    );
    assert!(p.path().join("outputs/runs/latest/mine").is_dir());
    assert!(p.path().join("outputs/report/index.html").is_file());
    let v = p.ok(&["verify"]);
    assert!(v.contains("claims supported"), "{v}");
    // A plain file naming the record (where links cannot be made) works as the link did.
    std::fs::remove_dir_all(p.path().join("outputs/runs/latest")).unwrap();
    p.ok(&["repro"]);
    let ids: Vec<String> = std::fs::read_dir(p.path().join("outputs/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let oldest = ids.iter().min().unwrap().clone();
    let link = p.path().join("outputs/runs/latest");
    std::fs::remove_file(&link).unwrap();
    std::fs::write(&link, &oldest).unwrap();
    let v = p.ok(&["verify"]);
    assert!(v.contains(oldest.trim_end_matches(".json")), "{v}");
}

#[test]
fn publishing_keeps_files_it_did_not_write() {
    let p = Proj::new(TOY);
    let figures = p.path().join("outputs/figures");
    std::fs::create_dir_all(&figures).unwrap();
    std::fs::write(figures.join("fig3_2.png"), b"my own figure").unwrap();
    let out = p.run(&["repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("was not published by spike-pipe"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(figures.join("fig3_2.png.bak")).unwrap(),
        b"my own figure"
    );
    assert_eq!(
        &std::fs::read(figures.join("fig3_2.png")).unwrap()[..4],
        b"\x89PNG"
    );
    // A new version of a figure it published replaces it without a copy.
    p.write_pipeline(&TOY.replace("params: {grid: 11}", "params: {grid: 9}"));
    let out = p.run(&["repro"]);
    assert!(
        !stderr(&out).contains("was not published"),
        "{}",
        stderr(&out)
    );
    assert!(!figures.join("fig3_2.png.bak.1").exists());
    // Edited since it was published: kept too, beside the first copy.
    std::fs::write(figures.join("fig3_2.svg"), b"<svg>edited</svg>").unwrap();
    p.ok(&["repro"]);
    assert_eq!(
        std::fs::read(figures.join("fig3_2.svg.bak")).unwrap(),
        b"<svg>edited</svg>"
    );
}

#[test]
fn a_publishing_error_is_recorded_and_the_run_still_reports() {
    let p = Proj::new(TOY);
    std::fs::create_dir_all(p.path().join("outputs/figures/other.png/taken")).unwrap();
    let out = p.run(&["repro"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let record = p.latest();
    let other = record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "figure.other")
        .unwrap();
    assert!(
        other["error"]
            .as_str()
            .unwrap()
            .contains("publishing its files"),
        "{other}"
    );
    assert!(p.path().join("outputs/figures/fig3_2.png").is_file());
    assert!(p.path().join("outputs/report/index.html").is_file());
}

#[test]
fn gc_removes_what_nothing_needs_and_never_what_another_process_holds() {
    let p = Proj::new(TOY);
    p.ok(&["repro"]);
    let first = p.keys();
    p.write_pipeline(&TOY.replace("steps: 70", "steps: 60"));
    p.ok(&["repro"]);
    let (old_train, old_fig) = (&first["train.other"], &first["figure.other"]);
    let stale = "0123456789abcdef0123456789abcdef";
    std::fs::create_dir_all(p.cache().join("tmp").join(format!("{stale}.99999.0"))).unwrap();
    std::fs::create_dir_all(p.cache().join("scratch").join(stale)).unwrap();
    std::fs::write(p.cache().join("scratch").join(stale).join("state"), b"x").unwrap();
    // Every run is kept by default: only the stale directories go.
    let out = p.ok(&["gc", "--dry"]);
    assert!(
        out.contains("would remove 0 entries, 1 temporary and 1 scratch directories"),
        "{out}"
    );
    // Keeping the newest run only: the old `other` stages go; --dry removes nothing.
    let out = p.ok(&["gc", "--dry", "--keep-runs", "1"]);
    assert!(
        out.contains("would remove 2 entries") && out.contains(old_train.as_str()),
        "{out}"
    );
    assert!(p.cache().join("entries").join(old_train).exists());
    let out = p.ok(&["gc", "--keep-runs", "1", "--older-than", "1d", "--dry"]);
    assert!(out.contains("would remove 0 entries"), "{out}");
    // Another process holds one entry's lock: that entry stays.
    let lock = p.cache().join("locks").join(format!("{old_train}.lock"));
    // --no-fork: killing it then releases the lock (a forked `sleep` would keep holding it).
    let mut holder = std::process::Command::new("flock")
        .arg("--no-fork")
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let held = Instant::now();
    while std::process::Command::new("flock")
        .args(["-n"])
        .arg(&lock)
        .arg("true")
        .status()
        .unwrap()
        .success()
    {
        assert!(
            held.elapsed() < Duration::from_secs(10),
            "flock did not take the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = p.ok(&["gc", "--keep-runs", "1"]);
    holder.kill().ok();
    holder.wait().ok();
    assert!(
        out.contains(&format!(
            "kept entry {old_train}: another process holds its lock"
        )) && out.contains("removed 1 entries, 1 temporary and 1 scratch directories"),
        "{out}"
    );
    assert!(p.cache().join("entries").join(old_train).exists());
    assert!(!p.cache().join("entries").join(old_fig).exists());
    let out = p.ok(&["gc", "--keep-runs", "1"]);
    assert!(out.contains("removed 1 entries"), "{out}");
    assert!(!p.cache().join("entries").join(old_train).exists());
    // What the pipeline plans is never removed.
    p.ok(&["repro"]);
    assert!(p.outcomes().values().all(|o| o == "cached"));
}

#[test]
fn status_json_quiet_and_the_listings() {
    let p = Proj::new(TOY);
    // The plan and the graph as JSON, parsed back.
    let plan: Vec<serde_json::Value> =
        serde_json::from_str(&p.ok(&["repro", "--dry", "--json"])).unwrap();
    assert_eq!(plan.len(), 4);
    assert!(
        plan.iter()
            .all(|s| s["reasons"][0] == "not in cache" && s["key"].as_str().unwrap().len() == 32)
    );
    let dag: Vec<serde_json::Value> = serde_json::from_str(&p.ok(&["dag", "--json"])).unwrap();
    let fig = dag.iter().find(|s| s["stage"] == "figure.fig3_2").unwrap();
    assert_eq!(fig["needs"]["train"][0], "train.toy");
    assert!(p.ok(&["completions", "bash"]).contains("_spike__pipe()"));
    // Stale before the first run: -q prints nothing and exits 1.
    let out = p.run(&["status", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&p.ok(&["status", "--json"])).unwrap();
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .all(|r| r["stale"] == true && r["reason"] == "not in cache")
    );
    p.ok(&["repro"]);
    assert_eq!(p.run(&["status", "-q"]).status.code(), Some(0));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&p.ok(&["status", "--json"])).unwrap();
    assert!(rows.iter().all(|r| r["stale"] == false), "{rows:?}");
    // verify --json parses back into the claims files, with their quotes.
    let claims: Vec<serde_json::Value> =
        serde_json::from_str(&p.ok(&["verify", "--json"])).unwrap();
    let fig = claims.iter().find(|c| c["figure"] == "fig3_2").unwrap();
    assert_eq!(fig["claims"][0]["verdict"], "supported");
    assert!(
        fig["claims"][0]["quote"]
            .as_str()
            .unwrap()
            .starts_with("When the maximum eigenvalue")
    );
    // The kinds and their parameters come from the declarations that validate the YAML.
    let kinds = p.ok(&["kinds"]);
    assert!(
        kinds.contains("train_toy (v1):") && kinds.contains("figure_sweep (v3):"),
        "{kinds}"
    );
    let toy = p.ok(&["kinds", "train_toy"]);
    assert!(
        toy.contains("steps (an integer; default 150; >= 1 and <= 100000000): number of gradient-descent steps"),
        "{toy}"
    );
    let out = p.run(&["kinds", "trian_toy"]);
    assert!(!out.status.success() && stderr(&out).contains("did you mean `train_toy`?"));
    let figures = p.ok(&["figures"]);
    assert!(
        figures.contains("fig3_2")
            && figures.contains("other")
            && figures.contains("(figure.other, kind figure_toy)")
            && !figures.contains("kind train_toy"),
        "{figures}"
    );
}

#[test]
fn overrides_from_the_command_line() {
    let p = Proj::new(TOY);
    p.ok(&["repro"]);
    let keys = p.keys();
    // One changed parameter computes only that stage and what needs it.
    p.ok(&["-S", "train.toy.steps=90", "repro", "--name", "ninety"]);
    let o = p.outcomes();
    assert_eq!(
        (o["train.toy"].as_str(), o["figure.fig3_2"].as_str()),
        ("computed", "computed")
    );
    assert_eq!(
        (o["train.other"].as_str(), o["figure.other"].as_str()),
        ("cached", "cached")
    );
    let record = p.latest();
    assert_eq!(record["overrides"][0], "train.toy.steps=90");
    assert_eq!(record["name"], "ninety");
    // status with another value says why, next to the override.
    let st = p.ok(&["-S", "train.toy.steps=100", "status"]);
    assert!(
        st.contains("with   -S train.toy.steps=100")
            && st.contains("stale  train.toy: params changed: steps 90 -> 100"),
        "{st}"
    );
    // Without -S the pipeline's own values are back, all cached.
    p.ok(&["repro"]);
    assert!(p.outcomes().values().all(|v| v == "cached"));
    assert_eq!(p.keys(), keys);
    // A list makes a sweep of a parameter.
    let plan: Vec<serde_json::Value> = serde_json::from_str(&p.ok(&[
        "-S",
        "train.other.lr=[0.004, 0.003]",
        "repro",
        "train.other",
        "--dry",
        "--json",
    ]))
    .unwrap();
    let names: Vec<&str> = plan.iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["train.other[lr=0.003]"],
        "lr 0.004 is cached already"
    );
    // Checked as the YAML is, before anything runs.
    for (set, expect) in [
        (
            "train.toy.stepz=3",
            "-S train.toy.stepz=3: unknown parameter `stepz` of kind `train_toy` (did you mean `steps`?)",
        ),
        (
            "trian.toy.steps=3",
            "no stage `trian.toy` (did you mean `train.toy`?)",
        ),
        (
            "train.toy.lr=0",
            "params.lr: must be > 0 and <= 1000000, got `0",
        ),
        ("train.toy.lr", "expected STAGE.PARAM=VALUE"),
    ] {
        let out = p.run(&["-S", set, "repro"]);
        assert_eq!(out.status.code(), Some(2), "{set}");
        assert!(stderr(&out).contains(expect), "{set}: {}", stderr(&out));
    }
}

#[test]
fn runs_are_listed_newest_first_with_their_own_claims() {
    let p = Proj::new(TOY);
    p.ok(&["repro", "--name", "first"]);
    // A smaller y0: the spike comes later, so fig3_2's claim measures other steps.
    p.ok(&["-S", "train.toy.y0=2.0e-6", "repro", "--name", "second"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&p.ok(&["runs", "--json"])).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["name"].as_str(), rows[1]["name"].as_str()),
        (Some("second"), Some("first"))
    );
    assert_eq!(rows[0]["overrides"][0], "train.toy.y0=2.0e-6");
    assert_eq!(
        (rows[0]["computed"].as_u64(), rows[0]["cached"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        (
            rows[1]["computed"].as_u64(),
            rows[1]["claims_total"].as_u64()
        ),
        // Two toy figures of two claims each.
        (Some(4), Some(4))
    );
    // Headline metrics: both toy figures, one loss spike (fig3_2's; `other` at lr 4e-3 has none).
    assert_eq!(
        (rows[0]["figures"].as_u64(), rows[0]["loss_spikes"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(
        rows[0]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m[0] == "fig3_2" && m[1] == "c/loss final")
    );
    let csv = p.ok(&["runs", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("id,name,started") && lines.len() == 3,
        "{csv}"
    );
    assert!(lines[1].contains(",second,"), "{csv}");
    // The older run's claims come from its own cache entries, not from outputs/ (now the newer
    // run's figures): after the newer run changed fig3_2's input, they still differ.
    let first = rows[1]["id"].as_str().unwrap();
    let old = p.ok(&["runs", "show", first]);
    let new = p.ok(&["runs", "show", rows[0]["id"].as_str().unwrap()]);
    assert!(
        old.contains("name     first") && old.contains("spike from step"),
        "{old}"
    );
    assert_ne!(
        old.lines()
            .filter(|l| l.contains("spike from step"))
            .collect::<Vec<_>>(),
        new.lines()
            .filter(|l| l.contains("spike from step"))
            .collect::<Vec<_>>()
    );
    // Its figures and report are rebuilt from its own entries, beside the latest outputs.
    let out = p.ok(&["report", "--run", first]);
    let dir = p.path().join("outputs/runs").join(first);
    assert!(
        out.contains("report:") && dir.join("report/index.html").is_file(),
        "{out}"
    );
    let rebuilt = std::fs::read(dir.join("figures/fig3_2.claims.json")).unwrap();
    let latest = std::fs::read(p.path().join("outputs/figures/fig3_2.claims.json")).unwrap();
    assert_ne!(rebuilt, latest, "the rebuilt claims are the latest run's");
    let html = std::fs::read_to_string(dir.join("report/index.html")).unwrap();
    for target in html
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
    {
        if !target.starts_with('#') {
            assert!(
                dir.join("report").join(target).is_file(),
                "broken link {target}"
            );
        }
    }
    assert_eq!(
        p.ok(&["runs", "--json"]).matches("\"id\"").count(),
        2,
        "a rebuild is no run"
    );
    // The two runs compared on a page: the changed figure overlaid, the other collapsed.
    let second = rows[0]["id"].as_str().unwrap();
    let page = p.path().join("cmp");
    let out = p.run(&["diff", first, second, "--html", "cmp"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let html = std::fs::read_to_string(page.join("index.html")).unwrap();
    assert!(
        html.contains("<b>train.toy</b> (changed): params changed: y0")
            && html.contains("<h3 id=\"fig3_2\">")
            && html.contains("1 unchanged figures</summary><p>other</p>"),
        "{html}"
    );
    assert_eq!(
        &std::fs::read(page.join("fig3_2.png")).unwrap()[..4],
        b"\x89PNG"
    );
    assert!(
        std::fs::read_to_string(page.join("fig3_2.svg"))
            .unwrap()
            .contains("B: loss")
    );
    assert!(!page.join("other.png").exists());
    // When an old run's entries are collected, its claims say so instead of showing another run's.
    p.ok(&["-S", "train.toy.y0=2.0e-6", "gc", "--keep-runs", "1"]);
    let old = p.ok(&["runs", "show", first]);
    assert!(
        old.contains("is gone") && old.contains("spike-pipe gc"),
        "{old}"
    );
    assert!(p.ok(&["runs"]).contains("claims gone (gc)"));
    let out = p.ok(&["report", "--run", first]);
    assert!(
        out.contains("not rebuilt: figures/fig3_2.png (figure.fig3_2, entry")
            && out.contains("removed (spike-pipe gc)"),
        "{out}"
    );
}

/// Headless Chromium (Debian's, installed by scripts/test.sh) on a local page.
fn chromium(profile: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium not found: run ./scripts/test.sh, which installs Debian's chromium")
}

/// Images on `page` after it loaded in Chromium: (all, not loaded). A copy of the page carries a
/// script that counts them once the load event fired.
fn images_in_browser(page: &std::path::Path, extra: &str, profile: &std::path::Path) -> (u64, u64) {
    let html = std::fs::read_to_string(page).unwrap();
    let probe = page.with_file_name("probe.html");
    let script = "<script>window.addEventListener('load',()=>{document.body.setAttribute('data-images',document.images.length);document.body.setAttribute('data-broken',[...document.images].filter(i=>!i.complete||i.naturalWidth===0).length)});</script>";
    std::fs::write(
        &probe,
        html.replace("</body>", &format!("{extra}{script}</body>")),
    )
    .unwrap();
    let out = chromium(
        profile,
        &[
            "--virtual-time-budget=10000",
            "--dump-dom",
            &format!("file://{}", probe.display()),
        ],
    );
    std::fs::remove_file(&probe).unwrap();
    let dom = stdout(&out);
    let attr = |name: &str| -> u64 {
        dom.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in the page Chromium loaded"))
    };
    (attr("data-images"), attr("data-broken"))
}

#[test]
fn the_report_and_the_diff_page_work_in_a_browser() {
    let p = Proj::new(TOY);
    p.ok(&["repro"]);
    p.ok(&["-S", "train.toy.y0=2.0e-6", "repro"]);
    assert_eq!(p.run(&["diff", "--html", "cmp"]).status.code(), Some(1));
    let profile = tempfile::tempdir().unwrap();
    let report = p.path().join("outputs/report/index.html");
    let pages = [(report.clone(), 2), (p.path().join("cmp/index.html"), 1)];
    for (page, figures) in &pages {
        // Every image loads; the probe sees a missing one when there is one.
        assert_eq!(
            images_in_browser(page, "", profile.path()),
            (*figures, 0),
            "{}",
            page.display()
        );
        let (_, broken) = images_in_browser(page, "<img src=\"missing.png\">", profile.path());
        assert_eq!(broken, 1);
        // A screenshot at a laptop's size.
        let shot = p.path().join("shot.png");
        chromium(
            profile.path(),
            &[
                "--window-size=1366,768",
                &format!("--screenshot={}", shot.display()),
                &format!("file://{}", page.display()),
            ],
        );
        let png = std::fs::read(&shot).unwrap();
        assert!(
            &png[..4] == b"\x89PNG" && png.len() > 20_000,
            "{} bytes",
            png.len()
        );
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1366);
    }
    // The claims stand next to their figure: the figure's image, then its quoted sentence.
    let dom = stdout(&chromium(
        profile.path(),
        &["--dump-dom", &format!("file://{}", report.display())],
    ));
    let section = dom.split("id=\"fig3_2\"").nth(1).unwrap();
    let (img, quote) = (
        section.find("src=\"../figures/fig3_2.png\"").unwrap(),
        section.find("<blockquote>").unwrap(),
    );
    assert!(img < quote && !section[..quote].contains("class=\"fig\""));
}

#[test]
fn an_edited_run_record_cannot_make_report_or_diff_write_elsewhere() {
    let p = Proj::new(TOY);
    p.ok(&["repro"]);
    p.ok(&["-S", "train.toy.y0=2.0e-6", "repro"]);
    let latest = p.latest();
    let outside = p.path().parent().unwrap();
    let escape = format!("spike-escape-{}", std::process::id());
    // A run id that climbs out of outputs/runs/.
    let mut r = latest.clone();
    r["run_id"] = serde_json::json!(format!("../../../{escape}"));
    std::fs::write(p.path().join("evil.json"), r.to_string()).unwrap();
    let out = p.run(&["report", "--run", "evil.json"]);
    assert!(
        !out.status.success() && stderr(&out).contains("is not a run id"),
        "{}",
        stderr(&out)
    );
    assert!(!outside.join(&escape).exists());
    // Published names that climb out of the diff page's directory.
    let mut r = latest.clone();
    for st in r["stages"].as_array_mut().unwrap() {
        for f in st["published"].as_array_mut().unwrap() {
            let name = f
                .as_str()
                .unwrap()
                .replace("figures/fig3_2", &format!("figures/../../{escape}"));
            *f = serde_json::json!(name);
        }
    }
    std::fs::write(p.path().join("evil2.json"), r.to_string()).unwrap();
    let first = std::fs::read_dir(p.path().join("outputs/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json"))
        .min()
        .unwrap();
    let first = first.trim_end_matches(".json");
    p.run(&["diff", first, "evil2.json", "--html", "cmp"]);
    assert!(!outside.join(format!("{escape}.png")).exists());
    assert!(!p.path().join(format!("{escape}.png")).exists());
}

#[test]
fn an_edited_run_record_cannot_make_verify_read_outside_outputs() {
    let p = Proj::new(TOY);
    let out = p.run(&["repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = p.path().join("outputs/runs");
    let file = match std::fs::read_link(runs.join("latest")) {
        Ok(target) => runs.join(target),
        Err(_) => runs.join(std::fs::read_to_string(runs.join("latest")).unwrap().trim()),
    };
    // A forged claim outside outputs/, named in the record by a path that leaves figures/.
    let real =
        std::fs::read_to_string(p.path().join("outputs/figures/fig3_2.claims.json")).unwrap();
    let forged = p.path().join("forged.claims.json");
    std::fs::write(&forged, real.replace("fig3_2", "fig9_9")).unwrap();
    let mut r = record(&file);
    for s in r["stages"].as_array_mut().unwrap() {
        if s["name"] == "figure.fig3_2" {
            let published = s["published"].as_array_mut().unwrap();
            published.push(serde_json::json!("figures/../../forged.claims.json"));
            published.push(serde_json::json!(format!("figures/{}", forged.display())));
            published.push(serde_json::json!("../forged.claims.json"));
        }
    }
    std::fs::write(&file, serde_json::to_string(&r).unwrap()).unwrap();
    let out = p.run(&["verify"]);
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(shown.contains("fig3_2"), "{shown}");
    assert!(!shown.contains("fig9_9"), "{shown}");
}

/// Flips one byte of `path` in place and restores its modification time: bit rot, as far as
/// the size and the mtime tell.
fn rot(path: &std::path::Path) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(path, &bytes).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(mtime).unwrap();
}

/// A Parquet table of an entry.
fn a_table(entry: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(entry)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap()
}

#[test]
fn rot_that_keeps_size_and_mtime_is_found() {
    let p = Proj::new(TOY);
    assert!(p.run(&["repro"]).status.success());
    let keys = p.keys();
    let entry = |stage: &str| p.cache().join("entries").join(&keys[stage]);
    // A published file: the next plain repro hashes what it publishes and refuses it.
    rot(&entry("figure.fig3_2").join("publish/fig3_2.claims.json"));
    let out = p.run(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = p.run(&["repro"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("fig3_2.claims.json") && err.contains("no longer matches"),
        "{err}"
    );
    let out = p.run(&["repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(p.outcomes()["figure.fig3_2"], "computed");
    // Any file: verify --cache hashes everything, names the stage and the file, exits 1, and
    // the next repro recomputes the entry.
    let table = a_table(&entry("train.other"));
    rot(&table);
    let out = p.run(&["verify", "--cache"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = stdout(&out);
    let name = table.file_name().unwrap().to_str().unwrap();
    assert!(
        report.contains("CORRUPT train.other") && report.contains(name),
        "{report}"
    );
    let out = p.run(&["repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(p.outcomes()["train.other"], "computed");
    let out = p.run(&["verify", "--cache"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("every file matches"),
        "{}",
        stdout(&out)
    );
    // An input read by a stage is hashed before it is read.
    let table = a_table(&entry("train.toy"));
    rot(&table);
    let out = p.run(&["repro", "figure.fig3_2", "--force"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("input train.toy") && stderr(&out).contains("is corrupt"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Rewrites an entry's table with one value changed, and its manifest to match: what a
/// dishonest writer with access to the cache can do (hash checks cannot see it).
fn forge(p: &Proj, key: &str, change: f64) {
    let dir = p.cache().join("entries").join(key);
    let table = dir.join("log.parquet");
    let (bytes, hash) =
        crate::remote::forged_table(&std::fs::read(&table).unwrap(), "loss", 40, change);
    std::fs::write(&table, &bytes).unwrap();
    let path = dir.join("manifest.json");
    let mut m = record(&path);
    for f in m["files"].as_array_mut().unwrap() {
        if f["path"] == "log.parquet" {
            f["blake3"] = serde_json::json!(hash);
            f["bytes"] = serde_json::json!(bytes.len());
        }
    }
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
}

#[test]
fn audit_recomputes_entries_and_finds_the_forged_one() {
    let p = Proj::new(TOY);
    assert!(p.run(&["repro"]).status.success());
    let keys = p.keys();
    let out = p.ok(&["audit", "--sample", "1", "--seed", "5"]);
    assert!(
        out.contains("audited 4 of 4 cached entries (seed 5, files compared by blake3): 4 reproduced, 0 within tolerance, 0 differ, 0 not audited"),
        "{out}"
    );
    // A forged loss, its hashes updated: verify --cache sees nothing, the audit finds it.
    forge(&p, &keys["train.other"], 0.5);
    assert!(p.run(&["verify", "--cache"]).status.success());
    let out = p.run(&["audit", "train.other", "--sample", "1", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["candidates"], 1);
    let entry = &report["entries"][0];
    assert_eq!(
        (entry["stage"].as_str(), entry["verdict"].as_str()),
        (Some("train.other"), Some("differs"))
    );
    let note = entry["files"][0].as_str().unwrap();
    assert!(
        note.starts_with("log.parquet: blake3 differs; first difference: row 40, column `loss`: "),
        "{note}"
    );
    // Replaced by the recomputation: the next audit reproduces it.
    let out = p.ok(&["audit", "train.other", "--sample", "1"]);
    assert!(out.contains("1 reproduced"), "{out}");
    // A change far below a tolerance: within it under --rtol, a difference by hash without.
    forge(&p, &keys["train.toy"], 1.0 + 1e-13);
    let out = p.ok(&["audit", "train.toy", "--sample", "1", "--rtol", "1e-9"]);
    assert!(
        out.contains("log.parquet: not bit-identical, every number within the tolerance")
            && out.contains("0 reproduced, 1 within tolerance, 0 differ"),
        "{out}"
    );
    let out = p.run(&["audit", "train.toy", "--sample", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // An entry whose input is not in the cache cannot be recomputed here, and says so.
    std::fs::remove_dir_all(p.cache().join("entries").join(&keys["train.toy"])).unwrap();
    let out = p.ok(&["audit", "fig3_2", "--sample", "1"]);
    assert!(
        out.contains("not audited: input train.toy") && out.contains("is not in the cache"),
        "{out}"
    );
    // Bad shares are refused before anything runs.
    for bad in ["0", "1.5", "-0.1", "x"] {
        let out = p.run(&["audit", &format!("--sample={bad}")]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("is not a share in (0, 1]"),
            "{}",
            stderr(&out)
        );
    }
}

/// A small tmpfs (needs root, as the Slurm tests do), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &std::path::Path) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a 1 MiB tmpfs as a full disk and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(at.to_path_buf())
    }

    /// Fills the disk, then frees `free` bytes.
    fn fill(&self, free: u64) {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![1u8; 4096];
        while f.write_all(&block).is_ok() {}
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(free)).unwrap();
    }

    fn empty(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }

    fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![self.0.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else if name.starts_with(".tmp") {
                    found.push(e.path().display().to_string());
                }
            }
        }
        found
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_publishes_nothing_partly_exits_3_and_loses_nothing() {
    let p = Proj::new(TOY);
    let disk = SmallDisk::mount(&p.path().join("outputs"));
    let figures = p.path().join("outputs/figures");
    let published = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&figures)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.starts_with("fig3_2."))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    // Full: the stages compute into the cache (another disk); nothing is published, no record
    // can be written, and the error says so and what to do.
    disk.fill(0);
    let out = p.run(&["repro"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("No space left on device")
            && err.contains("outputs/figures/fig3_2.")
            && err.contains("the run record could not be written under ./outputs; what this run computed (4 stages) stays in the cache"),
        "{err}"
    );
    assert!(published().is_empty(), "{:?}", published());
    assert!(disk.leftovers().is_empty(), "{:?}", disk.leftovers());
    assert!(p.run(&["verify", "--cache"]).status.success());
    // Room for some files of a figure but not all: none of them is published.
    disk.empty();
    disk.fill(12 * 1024);
    let out = p.run(&["repro"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the same run may succeed once that is fixed"),
        "{}",
        stderr(&out)
    );
    let partial = published();
    assert!(
        partial.is_empty() || partial.len() == 5,
        "a figure was published in part: {partial:?}"
    );
    assert!(disk.leftovers().is_empty(), "{:?}", disk.leftovers());
    // With room again, the next run computes nothing and publishes everything.
    disk.empty();
    p.ok(&["repro"]);
    assert!(
        p.outcomes().values().all(|o| o == "cached"),
        "{:?}",
        p.outcomes()
    );
    assert_eq!(
        published(),
        [
            "fig3_2.claims.json",
            "fig3_2.parquet",
            "fig3_2.png",
            "fig3_2.spec.json",
            "fig3_2.svg"
        ]
    );
}

#[test]
fn a_full_disk_under_the_cache_fails_the_stage_with_3_and_leaves_no_temporary_entry() {
    let p = Proj::new(TOY);
    let cache = p.path().join("cache");
    let disk = SmallDisk::mount(&cache);
    let out = p.run(&["--cache-dir", "cache", "repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
    p.run(&["--cache-dir", "cache", "gc"]);
    std::fs::remove_dir_all(cache.join("entries")).unwrap();
    std::fs::create_dir(cache.join("entries")).unwrap();
    disk.fill(0);
    let out = p.run(&["--cache-dir", "cache", "repro"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("FAILED") && err.contains("No space left on device"),
        "{err}"
    );
    let tmp: Vec<_> = std::fs::read_dir(cache.join("tmp"))
        .unwrap()
        .flatten()
        .collect();
    assert!(tmp.is_empty(), "temporary entries left: {tmp:?}");
    disk.empty();
    p.ok(&["--cache-dir", "cache", "repro"]);
    assert!(p.outcomes().values().all(|o| o == "computed"));
}

#[test]
fn a_sweep_shows_one_bar_for_all_its_stages() {
    let sweep = |n: usize| {
        let steps: Vec<String> = (1..=n).map(|s| s.to_string()).collect();
        format!(
            "stages:\n  - name: train.sweep\n    kind: train_toy\n    matrix: {{steps: [{}]}}\n",
            steps.join(", ")
        )
    };
    // 60 stages: the bar for all of them reaches 100%, and no stage prints its own lines.
    let p = Proj::new(&sweep(60));
    let err = stderr(&p.run(&["repro"]));
    assert!(err.contains("all stages: 100% (60/60 stages)"), "{err}");
    assert!(
        !err.contains("computing train.sweep") && !err.contains("train.sweep[steps=7]: 100%"),
        "{err}"
    );
    // 3 stages: each says what it computes, and the bar for all counts them.
    let p = Proj::new(&sweep(3));
    let err = stderr(&p.run(&["repro"]));
    assert!(
        err.contains("computing train.sweep[steps=2]")
            && err.contains("all stages: 100% (3/3 stages)"),
        "{err}"
    );
}
