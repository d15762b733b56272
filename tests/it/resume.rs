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
    same_training(&p, &q, &key, "the resumed and the uninterrupted run");
}

/// The training log and checkpoints of entry `key` are the same in both projects' caches.
fn same_training(p: &Proj, q: &Proj, key: &str, runs: &str) {
    for table in ["log.parquet", "checkpoints.parquet"] {
        let a = read_parquet(&p.cache().join("entries").join(key).join(table)).unwrap();
        let b = read_parquet(&q.cache().join("entries").join(key).join(table)).unwrap();
        assert_eq!(a.height(), b.height(), "{table}: rows of {runs}");
        assert!(a.equals_missing(&b), "{table} differs between {runs}");
    }
}

const SHORT: &str = r#"
stages:
  - name: data
    kind: dataset_1d
    params: {target: sin_sin4, n_train: 20, train_range: [-3.14159, 3.14159]}
  - name: train
    kind: train
    needs: {data: data}
    params: {model: fnn, width: 20, lr: 0.05, epochs: 3000, sharpness_every: 500,
             checkpoint_every: 1000, spike_factor: 1.01, spike_lookback: 1, spike_window: 3,
             test_every: 0}
"#;

/// Raising `epochs` continues the cached shorter run from its last epoch and ends exactly where
/// a run from scratch ends; changing another parameter does not.
#[test]
fn raising_epochs_extends_the_cached_run() {
    let p = Proj::new(SHORT);
    p.ok(&["repro"]);
    let out = p.run(&["repro", "-S", "train.epochs=7000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("of 3000 epochs from epoch 3000"),
        "not extended: {err}"
    );
    let longer = p.keys()["train"].clone();

    let q = Proj::new(SHORT);
    let out = q.run(&["repro", "-S", "train.epochs=7000"]);
    assert!(!stderr(&out).contains("extending"), "{}", stderr(&out));
    assert_eq!(q.keys()["train"], longer);
    same_training(&p, &q, &longer, "the extended run and the run from scratch");
    // Another learning rate is another run: computed from epoch 0.
    let out = p.run(&["repro", "-S", "train.epochs=8000", "-S", "train.lr=0.04"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("extending"), "{}", stderr(&out));
}
