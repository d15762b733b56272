//! The paper's pipeline end to end on the `smoke` profile: every figure is published (table,
//! PNG, SVG, claims), the report links them, `verify` reads them, and sweeps are cached per point.

use crate::common::*;
use spike_pipe::table::{col_str, read_parquet};

fn project() -> Proj {
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipeline.yaml")).unwrap();
    Proj::new(&yaml)
}

const FIGURES: &[&str] = &[
    "fig3_1abc",
    "fig3_2",
    "fig3_2a",
    "fig3_3",
    "fig4_1",
    "fig4_2a",
    "fig5_1a",
    "fig5_1b",
    "fig5_2",
    "fig5_3",
    "fig5_4",
    "figA_1",
    "figB_1",
    "figB_2",
    "figB_3",
    "atlas_tanh",
    "atlas_relu",
    "adam_tanh",
];

#[test]
fn every_figure_is_published_with_its_claims() {
    let p = project();
    p.ok(&["--profile", "smoke", "repro", "--keep-going", "-j", "2"]);
    let figures = p.path().join("outputs/figures");
    for id in FIGURES {
        for ext in ["parquet", "png", "svg", "claims.json", "spec.json"] {
            let f = figures.join(format!("{id}.{ext}"));
            assert!(f.is_file(), "missing {}", f.display());
        }
        let png = std::fs::read(figures.join(format!("{id}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 5_000, "{id}.png is suspiciously small");
        let svg = std::fs::read_to_string(figures.join(format!("{id}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("<text"),
            "{id}.svg has no text"
        );
        let table = read_parquet(&figures.join(format!("{id}.parquet"))).unwrap();
        let names: Vec<String> = table
            .get_column_names()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["panel", "series", "x", "y", "z"]);
        let claims: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(figures.join(format!("{id}.claims.json"))).unwrap(),
        )
        .unwrap();
        let list = claims["claims"].as_array().unwrap();
        // A figure draws its default run (seed 0 under the default readings); only when that run
        // had nothing to analyse (every claim's premise failed) may it be empty.
        let nothing_to_draw = !list.is_empty()
            && list.iter().all(|c| {
                c["measured"]
                    .as_str()
                    .unwrap()
                    .contains("premise not met: the run has a spike to analyse")
            });
        if !nothing_to_draw {
            assert!(table.height() > 0, "{id}: an empty figure");
            assert!(!col_str(&table, "panel").unwrap().is_empty());
        }
        assert!(!list.is_empty(), "{id}: no claims");
        for c in list {
            let verdict = c["verdict"].as_str().unwrap();
            assert!(
                ["supported", "not_supported", "not_tested", "not_reproduced"].contains(&verdict)
                    && !c["measured"].as_str().unwrap().is_empty()
                    && !c["criterion"].as_str().unwrap().is_empty()
                    && c["quote"].as_str().unwrap().len() > 20
                    && !c["source"].as_str().unwrap().is_empty(),
                "{id}: {c}"
            );
        }
    }
    let report = std::fs::read_to_string(p.path().join("outputs/report/index.html")).unwrap();
    for id in FIGURES {
        assert!(
            report.contains(&format!("../figures/{id}.png")),
            "the report lacks {id}"
        );
    }
    assert!(report.contains("profile <b>smoke</b>") && report.contains("backend <b>native</b>"));
    // Every link and image of the report resolves (anchors to a figure on the page).
    let dir = p.path().join("outputs/report");
    for attr in ["href=\"", "src=\""] {
        for target in report
            .split(attr)
            .skip(1)
            .map(|s| s.split('"').next().unwrap())
        {
            match target.strip_prefix('#') {
                Some(anchor) => assert!(
                    report.contains(&format!("id=\"{anchor}\"")),
                    "no anchor {target}"
                ),
                None => assert!(dir.join(target).is_file(), "broken link {target}"),
            }
        }
    }
    assert!(
        report.contains("Machine: ") && report.contains("and the run record <a href=\"../runs/"),
        "the report lacks the run's metadata"
    );
    // Each claim shows the paper's sentence and where it stands, next to its criterion.
    assert!(
        report.contains("<blockquote>\u{201c}The red curves, i.e. the λmax value")
            && report.contains("(Sec 3.1, Fig 3.1(a, d, g, h);"),
        "the report lacks the quoted claims"
    );
    let verify = p.ok(&["verify", "--md"]);
    assert!(
        verify.starts_with(
            "| figure | claim | paper | reading | verdict | seeds | measured | margin |"
        ),
        "{verify}"
    );
    assert!(
        verify.contains("| fig3_2 | loss_rises_while_lambda_above_2_over_lr | Sec 3.2;"),
        "{verify}"
    );
    // Fully cached afterwards.
    p.ok(&["--profile", "smoke", "repro"]);
    assert!(p.outcomes().values().all(|o| o == "cached"));
}

/// Under another optimiser, a figure draws that optimiser's edge of stability, named, where it
/// drew 2/lr: heavy ball at beta 0.9 and smoke's lr 0.2 puts it at (2 + 2 beta)/lr = 19.
#[test]
fn a_figure_draws_the_optimizers_own_edge_of_stability() {
    let p = project();
    p.ok(&[
        "--profile",
        "smoke",
        "-S",
        "train.fig3_1.optimizer=heavy_ball",
        "repro",
        "fig3_1abc",
    ]);
    let figures = p.path().join("outputs/figures");
    let table = read_parquet(&figures.join("fig3_1abc.parquet")).unwrap();
    let (series, y) = (
        col_str(&table, "series").unwrap(),
        spike_pipe::table::col_f64(&table, "y").unwrap(),
    );
    let edge: Vec<f64> = (0..y.len())
        .filter(|&i| series[i] == "2/lr")
        .map(|i| y[i])
        .collect();
    assert!(!edge.is_empty());
    assert!(edge.iter().all(|&v| (v - 19.0).abs() < 1e-12), "{edge:?}");
    let spec = std::fs::read_to_string(figures.join("fig3_1abc.spec.json")).unwrap();
    assert!(spec.contains("\"label\": \"(2 + 2 beta)/eta\""), "{spec}");
    assert!(!spec.contains("\"label\": \"2/lr\""));
}

/// Replaces `from` by `to` in the project's pipeline.yaml, reruns `target` in smoke, and
/// returns the stages it computed.
fn edit_and_rerun(p: &Proj, from: &str, to: &str, target: &str) -> Vec<String> {
    let yaml = std::fs::read_to_string(p.path().join("pipeline.yaml")).unwrap();
    let more = yaml.replace(from, to);
    assert_ne!(
        yaml, more,
        "the smoke profile of pipeline.yaml changed; update this test"
    );
    p.write_pipeline(&more);
    p.ok(&["--profile", "smoke", "repro", target]);
    p.outcomes()
        .into_iter()
        .filter(|(_, o)| o == "computed")
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn adding_a_sweep_point_computes_only_that_point() {
    let p = project();
    p.ok(&["--profile", "smoke", "repro", "fig5_2"]);
    let computed = edit_and_rerun(
        &p,
        "train.fig5_2: {params: {loss: half_mse, width: 8, epochs: 60}, matrix: {lr: [0.005, 0.05]}}",
        "train.fig5_2: {params: {loss: half_mse, width: 8, epochs: 60}, matrix: {lr: [0.005, 0.05, 0.02]}}",
        "fig5_2",
    );
    assert_eq!(
        computed,
        [
            "condensation.fig5_2[lr=0.02,seed=0]",
            "condensation.fig5_2[lr=0.02,seed=1]",
            "figure.fig5_2",
            "train.fig5_2[lr=0.02,seed=0]",
            "train.fig5_2[lr=0.02,seed=1]"
        ]
    );
}

/// The atlas: one row per cell, each agreeing with its own training log; its claims under every
/// reading; adding a learning rate computes only the new cells.
#[test]
fn the_atlas_classifies_every_cell_from_its_log_and_grows_by_cells() {
    use spike_pipe::table::{col_f64, col_i64, col_opt_f64};
    let p = project();
    p.ok(&["--profile", "smoke", "repro", "atlas_tanh"]);
    let cells = read_parquet(&p.path().join("outputs/figures/atlas_tanh.cells.parquet")).unwrap();
    let names: Vec<String> = cells
        .get_column_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    for column in [
        "stage",
        "activation",
        "target",
        "loss",
        "width",
        "init_gamma",
        "lr",
        "seed",
        "lambda_0",
        "lr_normalised",
        "class",
        "spikes",
        "spikes_at_edge",
        "largest_factor",
        "first_spike_epoch",
        "edge_ratio_end",
        "v_cond",
        "v_cond_circular",
        "final_loss",
        "diverged_at",
    ] {
        assert!(
            names.contains(&column.to_string()),
            "no column {column}: {names:?}"
        );
    }
    // The smoke grid: 2 rates x 2 widths x 2 seeds under the default loss reading.
    assert_eq!(cells.height(), 8);
    assert!(
        col_str(&cells, "loss")
            .unwrap()
            .iter()
            .all(|l| l == "half_mse")
    );
    let keys = p.keys();
    let stages = col_str(&cells, "stage").unwrap();
    let classes = col_str(&cells, "class").unwrap();
    let (lr, lambda_0, scaled, final_loss) = (
        col_f64(&cells, "lr").unwrap(),
        col_f64(&cells, "lambda_0").unwrap(),
        col_f64(&cells, "lr_normalised").unwrap(),
        col_f64(&cells, "final_loss").unwrap(),
    );
    let spikes = col_i64(&cells, "spikes").unwrap();
    let edge_end = col_f64(&cells, "edge_ratio_end").unwrap();
    for i in 0..cells.height() {
        let log = read_parquet(
            &p.cache()
                .join("entries")
                .join(&keys[&stages[i]])
                .join("log.parquet"),
        )
        .unwrap();
        let loss = col_f64(&log, "loss").unwrap();
        let lambda: Vec<f64> = col_opt_f64(&log, "lambda_max")
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        // lambda_0 is the log's first lambda_max (epoch 0), the last is lambda_max * eta / 2.
        assert_eq!(lambda_0[i], lambda[0], "{}", stages[i]);
        assert!((scaled[i] - lr[i] * lambda[0] / 2.0).abs() < 1e-12 * scaled[i]);
        assert!((edge_end[i] - lambda[lambda.len() - 1] * lr[i] / 2.0).abs() < 1e-12);
        assert_eq!(final_loss[i].to_bits(), loss[loss.len() - 1].to_bits());
        let reached = lambda.iter().any(|&l| l >= 2.0 / lr[i]);
        let class = classes[i].as_str();
        match class {
            "stable_below_edge" => assert!(!reached && spikes[i] == 0),
            "edge_without_spike" => assert!(reached && spikes[i] == 0),
            "spike_at_edge" | "spike_below_edge" => assert!(spikes[i] > 0),
            "catapult" => assert!(lambda[0] >= 2.0 / lr[i]),
            "diverged" => {
                assert!(!loss.iter().all(|l| l.is_finite()) || loss[loss.len() - 1] > loss[0]);
            }
            other => panic!("unknown class {other}"),
        }
    }
    // lr 1.2 against lambda_0 about 4-5: eta lambda_0 / 2 above 2, beyond the catapult.
    assert!(
        (0..cells.height()).any(|i| lr[i] == 1.2 && classes[i] == "diverged"),
        "{classes:?}"
    );
    let claims: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join("outputs/figures/atlas_tanh.claims.json")).unwrap(),
    )
    .unwrap();
    let ids: Vec<&str> = claims["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "atlas_spikes_at_edge_of_stability",
            "atlas_spikes_lead_to_condensation"
        ]
    );
    // Seeds are pooled: each verdict counts the atlas's two seeds.
    for c in claims["claims"].as_array().unwrap() {
        assert_eq!(c["seeds"]["n"], 2, "{c}");
    }
    // A new learning rate: its 2 widths x 2 seeds x 2 losses, their condensation, the figure.
    let computed = edit_and_rerun(
        &p,
        "matrix: {lr: [0.125, 1.2], width: [10, 20]",
        "matrix: {lr: [0.125, 1.2, 0.5], width: [10, 20]",
        "atlas_tanh",
    );
    assert_eq!(computed.len(), 17, "{computed:?}");
    assert!(
        computed
            .iter()
            .all(|n| n == "figure.atlas_tanh" || n.contains("lr=0.5,"))
    );
}

#[test]
fn analysis_artifacts_satisfy_their_invariants() {
    use spike_pipe::table::{col_f64, col_i64};
    let p = project();
    p.ok(&[
        "--profile",
        "smoke",
        "repro",
        "fig4_1",
        "fig3_2a",
        "fig5_1b",
    ]);
    let entry =
        |stage: &str, file: &str| p.cache().join("entries").join(&p.keys()[stage]).join(file);
    const PROJECTION: &str = "projection.fig4_1[loss=half_mse,seed=0]";
    // Removing the difference along every eigendirection lands on theta_test: L(N) = R_test(theta_test).
    let removal = read_parquet(&entry(PROJECTION, "removal.parquet")).unwrap();
    let losses = col_f64(&removal, "test_loss").unwrap();
    let ends: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(entry(PROJECTION, "removal.json")).unwrap())
            .unwrap();
    let (base, other) = (
        ends["test_loss_base"].as_f64().unwrap(),
        ends["test_loss_other"].as_f64().unwrap(),
    );
    assert!((losses[0] - base).abs() <= 1e-12 * base.abs().max(1e-300));
    assert!(
        (losses[losses.len() - 1] - other).abs() <= 1e-9 * other.abs().max(1e-12),
        "{} vs {other}",
        losses[losses.len() - 1]
    );
    // The dense eigenvectors are orthonormal: the squared projections add up to |theta_test - theta_train|^2.
    let proj = read_parquet(&entry(PROJECTION, "projections.parquet")).unwrap();
    let sum: f64 = col_f64(&proj, "projection")
        .unwrap()
        .iter()
        .map(|x| x * x)
        .sum();
    let norm = col_f64(&proj, "diff_norm").unwrap()[0];
    assert!(
        (sum - norm * norm).abs() <= 1e-9 * norm * norm,
        "{sum} vs {}",
        norm * norm
    );
    // PCA coordinates are relative to the window's last checkpoint, which is on the plane.
    let t = read_parquet(&entry(
        "pca.fig3_2a[loss=half_mse,seed=0]",
        "trajectory.parquet",
    ))
    .unwrap();
    let (a, b) = (col_f64(&t, "alpha").unwrap(), col_f64(&t, "beta").unwrap());
    let (loss, plane, off) = (
        col_f64(&t, "loss").unwrap(),
        col_f64(&t, "plane_loss").unwrap(),
        col_f64(&t, "off_plane").unwrap(),
    );
    let last = a.len() - 1;
    assert_eq!((a[last], b[last], off[last]), (0.0, 0.0, 0.0));
    assert_eq!(loss[last], plane[last]);
    // The condensed variance of every checkpoint, one row each, in epoch order.
    let v = read_parquet(&entry(
        "condensation.fig5_1b[loss=half_mse,lr=0.05,seed=0]",
        "variance.parquet",
    ))
    .unwrap();
    let epochs = col_i64(&v, "epoch").unwrap();
    assert!(epochs.windows(2).all(|w| w[0] < w[1]) && epochs[0] == 0);
    assert!(
        col_f64(&v, "v_cond")
            .unwrap()
            .iter()
            .all(|x| x.is_finite() && *x >= 0.0)
    );
}

#[test]
fn claims_are_given_under_every_reading_and_over_seeds() {
    let p = project();
    p.ok(&["--profile", "smoke", "repro", "fig5_1b", "fig3_2"]);
    let claims = |id: &str| -> Vec<serde_json::Value> {
        let text =
            std::fs::read_to_string(p.path().join(format!("outputs/figures/{id}.claims.json")))
                .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["claims"].as_array().unwrap().clone()
    };
    // Fig 5.1(b) in smoke: both loss readings (its runs set no loss), two seeds.
    let fig = claims("fig5_1b");
    assert!(!fig.is_empty());
    for c in &fig {
        assert_eq!(c["seeds"]["n"], 2, "{c}");
        let reading = c["reading"].as_object().unwrap();
        for (name, alternative) in reading {
            let default = match name.as_str() {
                "loss" => "half_mse",
                "angle" => "two_argument",
                "spike_factor" => "10",
                other => panic!("unexpected reading {other}: {c}"),
            };
            assert_eq!(alternative, default, "{c}");
        }
        // One alternative per other combination of the readings it depends on.
        let sizes = reading
            .keys()
            .map(|r| match r.as_str() {
                "spike_factor" => 4,
                _ => 2,
            })
            .product::<usize>();
        let alternatives = c["alternatives"].as_array().unwrap();
        assert_eq!(alternatives.len(), sizes - 1, "{c}");
        for a in alternatives {
            assert_eq!(a["seeds"]["n"], 2, "{a}");
            assert!(!a["measured"].as_str().unwrap().is_empty());
        }
        // A failed premise is never a verdict on the claim.
        if c["measured"].as_str().unwrap().contains("premise not met") {
            assert_eq!(c["verdict"], "not_tested", "{c}");
        }
    }
    // The runs differ between the loss readings, so the caption's spike claim depends on it.
    let spike = fig
        .iter()
        .find(|c| c["id"] == "large_lr_spikes_small_does_not")
        .unwrap();
    assert_eq!(spike["reading"]["loss"], "half_mse", "{spike}");
    // The toy has no seeds and no readings: one verdict, one seed.
    for c in claims("fig3_2") {
        assert_eq!(
            c["seeds"],
            serde_json::json!({"n": 1, "supported": c["seeds"]["supported"]})
        );
        assert!(c["alternatives"].as_array().unwrap().is_empty(), "{c}");
    }
    // verify shows each claim under each reading.
    let verify = p.ok(&["verify"]);
    assert!(verify.contains("under loss = half_mse"), "{verify}");
    assert!(verify.contains("under loss = mse"), "{verify}");
    let md = p.ok(&["verify", "--md"]);
    assert!(
        md.contains("**loss = half_mse") && md.contains("| loss = mse"),
        "{md}"
    );
    // -S pins one reading: its axis is gone and the claims no longer vary it.
    p.ok(&[
        "--profile",
        "smoke",
        "-S",
        "train.fig5_1b.loss=mse",
        "repro",
        "fig5_1b",
    ]);
    for c in claims("fig5_1b") {
        assert!(c["reading"].get("loss").is_none(), "{c}");
    }
}

#[test]
fn the_pixels_reading_runs_through_the_cifar_chain() {
    let p = project();
    p.ok(&["--profile", "smoke", "repro", "fig3_1def"]);
    let claims = |p: &Proj| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(p.path().join("outputs/figures/fig3_1def.claims.json"))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["claims"].as_array().unwrap().clone()
    };
    // smoke runs both alternatives through data, training, spikes, sharpness and PCA; every
    // claim is given under both, or says that the reading changes nothing in it.
    let status = p.ok(&["--profile", "smoke", "status"]);
    for stage in [
        "data.cifar10_1k",
        "train.fig3_1d",
        "spikes.fig3_1d",
        "pca.fig3_1d",
    ] {
        for alt in ["none", "per_channel"] {
            let name = format!("{stage}[standardize={alt}]");
            assert!(status.contains(&name), "{name} missing:\n{status}");
        }
    }
    for c in claims(&p) {
        let by_reading = c["reading"]["pixels"] == "raw"
            && c["alternatives"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["reading"]["pixels"] == "per_channel");
        let unaffected = c["unaffected"]["pixels"] == serde_json::json!(["raw", "per_channel"]);
        assert!(by_reading || unaffected, "{c}");
    }
    // A profile that runs the default only: the claims say the other was not run.
    let yaml = std::fs::read_to_string(p.path().join("pipeline.yaml")).unwrap();
    let limited = yaml.replace(
        "profiles: {quick: [raw]}",
        "profiles: {quick: [raw], smoke: [raw]}",
    );
    assert_ne!(limited, yaml);
    p.write_pipeline(&limited);
    p.ok(&["--profile", "smoke", "repro", "fig3_1def"]);
    assert!(
        !p.ok(&["--profile", "smoke", "status"])
            .contains("per_channel")
    );
    for c in claims(&p) {
        assert_eq!(c["reading"]["pixels"], "raw", "{c}");
        let not_run = c["alternatives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["reading"]["pixels"] == "per_channel")
            .unwrap_or_else(|| panic!("{c}"));
        assert_eq!(not_run["verdict"], "not_tested", "{c}");
        assert!(
            not_run["measured"]
                .as_str()
                .unwrap()
                .starts_with("not run in this profile"),
            "{c}"
        );
    }
}
