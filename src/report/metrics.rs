//! The headline metrics of a published figure in two runs, as `spike-pipe diff` and
//! `spike-pipe runs` report them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::analysis::spikes::PAPER_RULE;
use crate::claims::{ClaimsFile, Verdict};
use crate::engine::diff::{Metric, close};
use crate::plot::FigureData;

/// Headline metrics of a published figure file in two runs (for `spike-pipe diff`): the final
/// loss, lambda_max, condensed variance and test loss of each panel, the number of loss spikes
/// (loss > 10x the lowest of the previous 100 points), and each claim's verdict.
pub fn headline(
    name: &str,
    a: Option<&Path>,
    b: Option<&Path>,
    rtol: f64,
    atol: f64,
) -> Result<Vec<Metric>> {
    let mut out = Vec::new();
    // `<id>.parquet` is a figure's table; `<id>.<name>.parquet` one published beside it (the
    // atlas's cells), without headline series.
    if let Some(figure) = name.strip_suffix(".parquet").filter(|f| !f.contains('.')) {
        let series = |p: Option<&Path>| -> Result<BTreeMap<(String, String), Vec<f64>>> {
            let mut m: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
            let Some(p) = p else { return Ok(m) };
            let t = FigureData::read(p)?;
            for i in 0..t.y.len() {
                m.entry((t.panel[i].clone(), t.series[i].clone()))
                    .or_default()
                    .push(t.y[i]);
            }
            Ok(m)
        };
        let (sa, sb) = (series(a)?, series(b)?);
        let keys: BTreeSet<&(String, String)> = sa.keys().chain(sb.keys()).collect();
        for key in keys {
            let (panel, s) = key;
            if !["loss", "lambda_max", "v_cond", "test_loss"].contains(&s.as_str()) {
                continue;
            }
            let (x, y) = (sa.get(key), sb.get(key));
            out.push(number(
                figure,
                format!("{panel}/{s} final"),
                x.and_then(|v| v.last().copied()),
                y.and_then(|v| v.last().copied()),
                rtol,
                atol,
            ));
            if s == "loss" {
                let count = |v: Option<&Vec<f64>>| v.map(|v| PAPER_RULE.detect(v).len() as f64);
                out.push(number(
                    figure,
                    format!("{panel}/loss spikes"),
                    count(x),
                    count(y),
                    rtol,
                    atol,
                ));
            }
        }
    } else if let Some(figure) = name.strip_suffix(".claims.json") {
        let read = |p: Option<&Path>| -> Result<BTreeMap<String, Verdict>> {
            let Some(p) = p else {
                return Ok(BTreeMap::new());
            };
            let f: ClaimsFile = serde_json::from_str(&fs::read_to_string(p)?)
                .with_context(|| format!("parsing {}", p.display()))?;
            Ok(f.claims.into_iter().map(|c| (c.id, c.verdict)).collect())
        };
        let (ca, cb) = (read(a)?, read(b)?);
        for id in ca.keys().chain(cb.keys()).collect::<BTreeSet<_>>() {
            let show = |v: Option<&Verdict>| v.map_or("-".to_string(), Verdict::to_string);
            let (va, vb) = (show(ca.get(id)), show(cb.get(id)));
            out.push(Metric {
                figure: figure.into(),
                metric: format!("claim {id}"),
                a: va.clone(),
                b: vb.clone(),
                change: if va == vb {
                    "same".into()
                } else {
                    format!("{va} -> {vb}")
                },
                differs: va != vb,
                values: (None, None),
            });
        }
    }
    Ok(out)
}

fn number(
    figure: &str,
    metric: String,
    x: Option<f64>,
    y: Option<f64>,
    rtol: f64,
    atol: f64,
) -> Metric {
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.6}"));
    let change = match (x, y) {
        (Some(x), Some(y)) if x != 0.0 => {
            format!("{:+.3e} ({:+.2}%)", y - x, 100.0 * (y - x) / x.abs())
        }
        (Some(x), Some(y)) => format!("{:+.3e}", y - x),
        _ => "-".into(),
    };
    let differs = match (x, y) {
        (Some(x), Some(y)) => !close(x, y, rtol, atol),
        (None, None) => false,
        _ => true,
    };
    Metric {
        figure: figure.into(),
        metric,
        a: fmt(x),
        b: fmt(y),
        change,
        differs,
        values: (x, y),
    }
}
