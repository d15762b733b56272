//! The claim checks of a run (`spike-pipe verify`) and its HTML report
//! (`outputs/report/index.html`): every figure with its claims and the run's metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::analysis::spikes::PAPER_RULE;
use crate::engine::cache::write_atomic;
use crate::engine::diff::{Metric, close};
use crate::engine::runs::RunRecord;
use crate::stages::figure::{ClaimsFile, Verdict};
use crate::table::{col_f64, col_str, read_parquet};

/// The claims files a run published, in stage order.
pub fn claims(outputs: &Path, record: &RunRecord) -> Result<Vec<ClaimsFile>> {
    let mut out = Vec::new();
    for s in &record.stages {
        for f in s.published.iter().filter(|f| f.ends_with(".claims.json")) {
            let path = outputs.join(f);
            let text =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            out.push(
                serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?,
            );
        }
    }
    Ok(out)
}

/// The CSS class of a verdict in the report.
fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Supported => "ok",
        Verdict::NotSupported => "no",
        Verdict::NotTested => "nt",
    }
}

/// "n supported, m not supported, k not tested of N".
pub fn claims_summary(files: &[ClaimsFile]) -> String {
    let all: Vec<Verdict> = files
        .iter()
        .flat_map(|f| &f.claims)
        .map(|c| c.verdict)
        .collect();
    let count = |v: Verdict| all.iter().filter(|&&x| x == v).count();
    format!(
        "{} of {} claims supported, {} not supported, {} not tested",
        count(Verdict::Supported),
        all.len(),
        count(Verdict::NotSupported),
        count(Verdict::NotTested)
    )
}

/// A plain-text (or Markdown) table of the claims.
pub fn claims_table(files: &[ClaimsFile], markdown: bool) -> String {
    let mut s = String::new();
    if markdown {
        s.push_str(
            "| figure | claim | paper | verdict | measured |\n| --- | --- | --- | --- | --- |\n",
        );
        for f in files {
            for c in &f.claims {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    f.figure,
                    c.id,
                    c.source.replace('|', "/"),
                    c.verdict,
                    c.measured.replace('|', "/")
                );
            }
        }
    } else {
        for f in files {
            for c in &f.claims {
                let _ = writeln!(
                    s,
                    "{:<10} {:<13} {} ({})\n{:>24} {}",
                    f.figure,
                    c.verdict.to_string(),
                    c.id,
                    c.source,
                    "",
                    c.measured
                );
            }
        }
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes `outputs/report/index.html` for a run.
pub fn write_html(outputs: &Path, record: &RunRecord) -> Result<PathBuf> {
    let files = claims(outputs, record)?;
    let dir = outputs.join("report");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut h = String::new();
    let summary = claims_summary(&files);
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>spike-pipe report {run}</title><style>\
         body{{font-family:sans-serif;max-width:1600px;margin:auto;padding:1em}}img{{max-width:100%;border:1px solid #ccc}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}}\
         .ok{{color:#17702a;font-weight:bold}}.no{{color:#b3261e;font-weight:bold}}.nt{{color:#8a6d00;font-weight:bold}}blockquote{{margin:0;font-style:italic}}.fig{{margin:2em 0}}code{{font-size:90%}}</style></head><body>\
         <h1>Loss Spike in Training Neural Networks: reproduction report</h1>\
         <p>Run <code>{run}</code>, profile <b>{profile}</b>, backend <b>{backend}</b>, started {started}, {wall:.1} s, spike-pipe {ver}, pipeline <code>{pipeline}</code>. \
         {summary} by this run.</p>",
        run = esc(&record.run_id),
        profile = esc(&record.profile),
        backend = esc(&record.env.get("backend").cloned().unwrap_or_default()),
        started = esc(&record.started),
        summary = esc(&summary),
        wall = record.wall_s,
        ver = esc(&record.tool_version),
        pipeline = esc(&record.pipeline),
    );
    h.push_str("<h2>Claims</h2><table><tr><th>figure</th><th>claim</th><th>paper</th><th>verdict</th></tr>");
    for f in &files {
        for c in &f.claims {
            let _ = write!(
                h,
                "<tr><td><a href=\"#{id}\">{id}</a></td><td>{claim}</td><td>{source}</td><td class=\"{cls}\">{v}</td></tr>",
                id = esc(&f.figure),
                claim = esc(&c.id),
                source = esc(&c.source),
                cls = class(c.verdict),
                v = c.verdict
            );
        }
    }
    h.push_str("</table>");
    for f in &files {
        let id = esc(&f.figure);
        let _ = write!(
            h,
            "<div class=\"fig\" id=\"{id}\"><h2>{}</h2><img src=\"../figures/{id}.png\" alt=\"{id}\"><p>Files: ",
            esc(&f.title)
        );
        for ext in ["parquet", "svg", "png", "claims.json"] {
            let _ = write!(h, "<a href=\"../figures/{id}.{ext}\">{id}.{ext}</a> ");
        }
        h.push_str("</p><table><tr><th>the paper says</th><th>criterion (this run)</th><th>verdict</th><th>measured</th></tr>");
        for c in &f.claims {
            let _ = write!(
                h,
                "<tr><td><blockquote>\u{201c}{}\u{201d}</blockquote>({}; check <code>{}</code>)</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                esc(&c.quote),
                esc(&c.source),
                esc(&c.id),
                esc(&c.criterion),
                class(c.verdict),
                c.verdict,
                esc(&c.measured)
            );
        }
        h.push_str("</table>");
        for n in &f.notes {
            let _ = write!(h, "<p><i>{}</i></p>", esc(n));
        }
        h.push_str("</div>");
    }
    h.push_str("<h2>Stages</h2><table><tr><th>stage</th><th>kind</th><th>key</th><th>outcome</th><th>this run (s)</th><th>computed in (s)</th><th>params</th></tr>");
    for s in &record.stages {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{:?}</td><td>{:.2}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&s.name),
            esc(&s.kind),
            esc(&s.key[..12.min(s.key.len())]),
            s.outcome,
            s.wall_s,
            s.compute_s.map(|c| format!("{c:.2}")).unwrap_or_default(),
            esc(&s.params.to_string())
        );
    }
    h.push_str("</table></body></html>\n");
    let path = dir.join("index.html");
    write_atomic(&path, h.as_bytes())?;
    Ok(path)
}

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
    if let Some(figure) = name.strip_suffix(".parquet") {
        let series = |p: Option<&Path>| -> Result<BTreeMap<(String, String), Vec<f64>>> {
            let mut m: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
            let Some(p) = p else { return Ok(m) };
            let t = read_parquet(p)?;
            let (panel, series, y) = (
                col_str(&t, "panel")?,
                col_str(&t, "series")?,
                col_f64(&t, "y")?,
            );
            for i in 0..y.len() {
                m.entry((panel[i].clone(), series[i].clone()))
                    .or_default()
                    .push(y[i]);
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
            let show = |v: Option<&Verdict>| match v {
                Some(Verdict::Supported) => "pass",
                Some(Verdict::NotSupported) => "fail",
                Some(Verdict::NotTested) => "not tested",
                None => "-",
            };
            let (va, vb) = (show(ca.get(id)), show(cb.get(id)));
            out.push(Metric {
                figure: figure.into(),
                metric: format!("claim {id}"),
                a: va.into(),
                b: vb.into(),
                change: if va == vb {
                    "same".into()
                } else {
                    format!("{va} -> {vb}")
                },
                differs: va != vb,
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
    }
}
