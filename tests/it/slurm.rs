//! The Slurm executor against a real one-node Slurm cluster on 127.0.0.1 (scripts/slurm-local.sh,
//! started by scripts/test.sh): same results as a local run, failures with exit codes and
//! cancelled dependents, nothing resubmitted, Ctrl-C and a dead driver.

use std::time::{Duration, Instant};

use crate::common::*;

fn require_slurm() {
    let ok = std::process::Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false);
    assert!(
        ok,
        "no Slurm cluster answers: run ./scripts/test.sh, which starts one with scripts/slurm-local.sh (as root)"
    );
}

const CHAIN_AND_SWEEP: &str = r#"
executor: {poll_seconds: 0.5, defaults: {cpus: 1}, stages: {train.sweep: {time: "00:10:00"}}}
stages:
  - name: train.toy
    kind: train_toy
    params: {steps: 80}
  - name: figure.fig3_2
    kind: figure_toy
    needs: {train: train.toy}
    params: {grid: 11}
  - name: data.sweep
    kind: dataset_1d
    params: {target: relu_pair, n_train: 8, train_range: [-1, 1]}
  - name: train.sweep
    kind: train
    needs: {data: data.sweep}
    matrix: {lr: [0.01, 0.02, 0.03]}
    params: {model: fnn, width: 6, activation: relu, epochs: 50, checkpoint_every: 10, sharpness_every: 10}
  - name: condensation.sweep
    kind: condensation
    foreach: train.sweep
    needs: {train: train.sweep}
  - name: figure.sweep
    kind: figure_sweep
    needs: {runs: train.sweep, cond: condensation.sweep}
    params: {id: sweep, x: lr}
"#;

#[test]
fn a_chain_and_a_sweep_run_through_slurm_like_locally() {
    require_slurm();
    let p = Proj::new(CHAIN_AND_SWEEP);
    let out = p.run(&["repro", "--executor", "slurm"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("submitted 10 Slurm jobs"), "{err}");
    assert!(
        err.contains("as Slurm job") && err.contains("(after "),
        "{err}"
    );
    assert!(
        p.outcomes().values().all(|o| o == "computed"),
        "{:?}",
        p.outcomes()
    );
    let local = Proj::new(CHAIN_AND_SWEEP);
    local.ok(&["repro"]);
    for f in ["fig3_2.parquet", "sweep.parquet", "sweep.claims.json"] {
        let a = std::fs::read(p.path().join("outputs/figures").join(f)).unwrap();
        let b = std::fs::read(local.path().join("outputs/figures").join(f)).unwrap();
        assert!(
            a == b,
            "{f} differs between the Slurm run and the local run"
        );
    }
    // A local repro afterwards computes nothing; a Slurm rerun submits nothing.
    p.ok(&["repro"]);
    assert!(p.outcomes().values().all(|o| o == "cached"));
    let out = p.run(&["repro", "--executor", "slurm"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("submitted 0 Slurm jobs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failing_job_reports_its_exit_code_and_its_dependents_do_not_run() {
    require_slurm();
    let pipeline = format!("executor: {{kind: slurm, poll_seconds: 0.5}}\n{FAILING}");
    let p = Proj::new(&pipeline);
    let out = p.run(&["repro", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let o = p.outcomes();
    assert_eq!(
        (o["train.bad"].as_str(), o["figure.bad"].as_str()),
        ("failed", "skipped")
    );
    assert_eq!(
        (o["train.good"].as_str(), o["figure.good"].as_str()),
        ("computed", "computed")
    );
    let rec = p.latest();
    let stage = |n: &str| {
        rec["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()
            .clone()
    };
    let err = stage("train.bad")["error"].as_str().unwrap().to_string();
    assert!(
        err.contains("FAILED with exit code 1:0")
            && err.contains(".err")
            && err.contains("diverged at step"),
        "{err}"
    );
    assert!(
        stage("figure.bad")["error"]
            .as_str()
            .unwrap()
            .contains("a stage it needs failed")
    );
    assert!(p.path().join("outputs/figures/good.parquet").is_file());
    // Only the failed branch is submitted again.
    let out = p.run(&["repro", "--keep-going"]);
    assert!(
        stderr(&out).contains("submitted 2 Slurm jobs"),
        "{}",
        stderr(&out)
    );
}

const SLOW: &str = r#"
executor: {kind: slurm, poll_seconds: 0.5}
stages:
  - name: train.slow
    kind: train_toy
    params: {lr: 1.0e-3, steps: 40000}
  - name: figure.slow
    kind: figure_toy
    needs: {train: train.slow}
    params: {grid: 5, id: slow}
"#;

fn wait_for_text(child: &mut std::process::Child, what: &str) -> String {
    use std::io::Read;
    let mut err = child.stderr.take().unwrap();
    let mut seen = String::new();
    let start = Instant::now();
    let mut buf = [0u8; 256];
    while !seen.contains(what) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "`{what}` never appeared: {seen}"
        );
        let n = err.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    child.stderr = Some(err);
    seen
}

fn job_ids(text: &str) -> Vec<String> {
    text.split("as Slurm job ")
        .skip(1)
        .map(|s| s.split_whitespace().next().unwrap().to_string())
        .collect()
}

fn job_state(id: &str) -> String {
    let out = std::process::Command::new("scontrol")
        .args(["show", "job", id])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("JobState="))
        .unwrap_or("")
        .to_string()
}

#[test]
fn ctrl_c_cancels_the_submitted_jobs() {
    require_slurm();
    let p = Proj::new(SLOW);
    // burn's autodiff: slow enough on the toy for the jobs to be running when cancelled
    let mut child = p.spawn(&["--backend", "flex", "repro"]);
    let text = wait_for_text(&mut child, "submitted 2 Slurm jobs");
    let ids = job_ids(&text);
    assert_eq!(ids.len(), 2, "{text}");
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("interrupted: cancelled the Slurm jobs"),
        "{}",
        stderr(&out)
    );
    for id in &ids {
        let start = Instant::now();
        while job_state(id) != "CANCELLED" {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "job {id} is {}",
                job_state(id)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn jobs_of_a_dead_driver_still_complete_into_the_cache() {
    require_slurm();
    let p = Proj::new(&SLOW.replace("40000", "8000"));
    let mut child = p.spawn(&["repro"]);
    wait_for_text(&mut child, "submitted 2 Slurm jobs");
    child.kill().unwrap(); // SIGKILL: no chance to cancel anything
    child.wait().unwrap();
    let start = Instant::now();
    while std::fs::read_dir(p.cache().join("entries"))
        .map(Iterator::count)
        .unwrap_or(0)
        < 2
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the jobs did not finish"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = p.run(&["repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("submitted 0 Slurm jobs"),
        "{}",
        stderr(&out)
    );
    assert!(p.outcomes().values().all(|o| o == "cached"));
}

#[test]
fn a_remote_url_with_credentials_stays_off_the_job_command_line() {
    // A stand-in sbatch records its arguments and the environment the job would get.
    let spy = tempfile::tempdir().unwrap();
    let bin = spy.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(
        &sbatch,
        "#!/bin/sh\necho \"$@\" >> \"$SPY/args\"\necho \"$SPIKE_REMOTE\" >> \"$SPY/env\"\necho refused >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p =
        Proj::new("stages:\n  - name: train.toy\n    kind: train_toy\n    params: {steps: 10}\n");
    let url = "http://alice:hunter2-secret@127.0.0.1:9/cache";
    let out = p
        .command(&["--remote", url, "repro", "--executor", "slurm"])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("SPY", spy.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("sbatch refused"), "{}", stderr(&out));
    let args = std::fs::read_to_string(spy.path().join("args")).unwrap();
    assert!(
        args.contains("run-job") && !args.contains("hunter2"),
        "{args}"
    );
    // The job's description: the stage, its key and the project, and no credentials.
    let spec = args
        .split_whitespace()
        .find(|a| a.ends_with(".job.json"))
        .unwrap_or_else(|| panic!("no job description in {args}"));
    let text = std::fs::read_to_string(spec.trim_matches('\'')).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    let job: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(job["stages"][0]["stage"], "train.toy");
    assert_eq!(
        job["stages"][0]["key"].as_str().map(str::len),
        Some(32),
        "{text}"
    );
    assert_eq!(job["project"]["profile"], "default");
    let pipeline = std::fs::canonicalize(p.path().join("pipeline.yaml")).unwrap();
    let written = std::fs::canonicalize(job["project"]["pipeline"].as_str().unwrap()).unwrap();
    assert_eq!(written, pipeline);
    let env = std::fs::read_to_string(spy.path().join("env")).unwrap();
    assert_eq!(env.trim(), url);
}

#[test]
fn a_sweep_of_201_cells_runs_25_to_a_job_and_a_failed_cell_fails_only_itself() {
    require_slurm();
    // 200 cells that train and one (lr 1.0) that diverges, in the same matrix group; a figure
    // downstream of a good cell and one downstream of the whole group.
    let lrs: Vec<String> = (0..200)
        .map(|i| format!("{:.5}", 0.001 + 1e-5 * f64::from(i)))
        .chain(["1.0".to_string()])
        .collect();
    let pipeline = format!(
        r#"
executor: {{kind: slurm, poll_seconds: 0.5, batch: 25}}
stages:
  - name: train.cells
    kind: train_toy
    matrix: {{lr: [{}]}}
    params: {{steps: 400}}
  - name: train.after
    kind: train_toy
    params: {{steps: 30}}
  - name: figure.after
    kind: figure_toy
    needs: {{train: train.after}}
    params: {{grid: 5, id: after}}
"#,
        lrs.join(", ")
    );
    let p = Proj::new(&pipeline);
    let out = p.run(&["repro", "--keep-going"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // 201 cells in 9 jobs of at most 25, one job for train.after and one for its figure; the
    // 203 submissions are not listed one by one.
    assert!(
        err.contains("submitted 11 Slurm jobs for 203 stages"),
        "{err}"
    );
    assert!(!err.contains("as Slurm job"), "{err}");
    let o = p.outcomes();
    let count = |what: &str| o.values().filter(|v| *v == what).count();
    assert_eq!((count("computed"), count("failed")), (202, 1), "{o:?}");
    assert_eq!(o["train.cells[lr=1.0]"], "failed");
    let rec = p.latest();
    let bad = rec["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "train.cells[lr=1.0]")
        .unwrap();
    let why = bad["error"].as_str().unwrap();
    assert!(
        why.contains("FAILED with exit code 1:0") && why.contains("diverged at step"),
        "{why}"
    );
    // Every cell has its entry; the next run submits only the failed cell.
    let out = p.run(&["repro", "--keep-going"]);
    assert!(
        stderr(&out).contains("submitted 1 Slurm jobs for 1 stages"),
        "{}",
        stderr(&out)
    );
}
