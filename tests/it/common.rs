//! Helpers for tests that drive the `spike-pipe` binary in a temporary project.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_spike-pipe");

/// A pipeline whose `train.bad` diverges (lr 1.0 on the toy model); `train.good` and the
/// figures beside it are independent of it.
pub const FAILING: &str = r#"
stages:
  - name: train.bad
    kind: train_toy
    params: {lr: 1.0, steps: 400}
  - name: figure.bad
    kind: figure_toy
    needs: {train: train.bad}
    params: {grid: 5, id: bad}
  - name: train.good
    kind: train_toy
    params: {steps: 30}
  - name: figure.good
    kind: figure_toy
    needs: {train: train.good}
    params: {grid: 5, id: good}
"#;

pub struct Proj {
    pub dir: tempfile::TempDir,
}

impl Proj {
    pub fn new(pipeline: &str) -> Proj {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pipeline.yaml"), pipeline).expect("write pipeline");
        Proj { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_pipeline(&self, pipeline: &str) {
        std::fs::write(self.path().join("pipeline.yaml"), pipeline).expect("write pipeline");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.path())
            .env_remove("SPIKE_CACHE")
            .env("SPIKE_PLAIN", "1")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run spike-pipe")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "spike-pipe {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    }

    pub fn cache(&self) -> PathBuf {
        self.path().join(".spike").join("cache")
    }

    pub fn latest(&self) -> serde_json::Value {
        record(&self.path().join("outputs/runs/latest"))
    }

    /// Stage name -> outcome of the latest run.
    pub fn outcomes(&self) -> BTreeMap<String, String> {
        outcomes(&self.latest())
    }

    /// Stage name -> key in the latest run.
    pub fn keys(&self) -> BTreeMap<String, String> {
        let r = self.latest();
        r["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["key"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

pub fn record(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("run record json")
}

pub fn outcomes(record: &serde_json::Value) -> BTreeMap<String, String> {
    record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}
