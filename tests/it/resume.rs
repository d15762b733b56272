//! A training stage killed mid-run resumes from its last snapshot and ends exactly where an
//! uninterrupted run ends.

use std::time::{Duration, Instant};

use crate::common::*;
use spike_pipe::table::read_parquet;

const PIPELINE: &str = r#"
stages:
  - name: data
    kind: dataset_1d
    params: {target: sin_sin4, n_train: 32, train_range: [-3.14159, 3.14159]}
  - name: train
    kind: train
    needs: {data: data}
    params: {model: fnn, width: 20, lr: 0.05, epochs: 60000, snapshot_every: 2000,
             sharpness_every: 5000, spike_factor: 1.5, checkpoint_every: 10000}
"#;

#[test]
fn an_interrupted_training_resumes_from_its_snapshot() {
    let p = Proj::new(PIPELINE);
    let mut child = p.spawn(&["repro"]);
    let scratch = p.cache().join("scratch");
    let start = Instant::now();
    let snapshot = loop {
        let found = std::fs::read_dir(&scratch)
            .ok()
            .and_then(|mut r| r.next())
            .and_then(Result::ok)
            .map(|e| e.path().join("state.postcard"))
            .filter(|s| s.is_file());
        if let Some(s) = found {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no snapshot appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let it get a few snapshots further, then kill it.
    let first = std::fs::metadata(&snapshot).unwrap().modified().unwrap();
    while std::fs::metadata(&snapshot).unwrap().modified().unwrap() == first {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the run finished before it was killed"
    );

    let out = p.run(&["repro"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("resuming from the snapshot at epoch"), "{err}");
    assert!(
        !snapshot.exists(),
        "the snapshot is removed once the stage is committed"
    );

    let q = Proj::new(PIPELINE);
    q.ok(&["repro"]);
    let key = p.keys()["train"].clone();
    assert_eq!(key, q.keys()["train"]);
    for table in ["log.parquet", "checkpoints.parquet"] {
        let a = read_parquet(&p.cache().join("entries").join(&key).join(table)).unwrap();
        let b = read_parquet(&q.cache().join("entries").join(&key).join(table)).unwrap();
        assert!(
            a.equals_missing(&b),
            "{table} differs between the resumed and the uninterrupted run"
        );
    }
}
