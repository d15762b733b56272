//! The HTML pages: a run's report and the page of `spike-pipe diff --html`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{claims, claims_summary};
use crate::claims::{ClaimsFile, Verdict};
use crate::engine::cache::write_atomic;
use crate::engine::diff::{Diff, Side};
use crate::engine::runs::RunRecord;
use crate::plot::render::render;
use crate::plot::spec::FigureSpec;
use crate::plot::{FigureData, overlay};

/// The CSS class of a verdict in the report.
fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Supported => "ok",
        Verdict::NotSupported => "no",
        Verdict::NotTested => "nt",
        Verdict::NotReproduced => "nr",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes `outputs/report/index.html` for a run.
pub fn write_html(outputs: &Path, cache_root: &Path, record: &RunRecord) -> Result<PathBuf> {
    let files = claims(outputs, cache_root, record, true)?;
    let dir = outputs.join("report");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut h = report_head(record, &claims_summary(&files));
    claims_rows(&mut h, &files);
    for f in &files {
        figure_section(&mut h, f, &record.run_id);
    }
    stages_rows(&mut h, record);
    h.push_str("</table></body></html>\n");
    let path = dir.join("index.html");
    write_atomic(&path, h.as_bytes())?;
    Ok(path)
}

/// The page's head and the run's metadata.
fn report_head(record: &RunRecord, summary: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>spike-pipe report {run}</title><style>\
         body{{font-family:sans-serif;max-width:1600px;margin:auto;padding:1em}}img{{max-width:100%;border:1px solid #ccc}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}}\
         .ok{{color:#17702a;font-weight:bold}}.no{{color:#b3261e;font-weight:bold}}.nt{{color:#8a6d00;font-weight:bold}}.nr{{color:#5b3a9e;font-weight:bold}}blockquote{{margin:0;font-style:italic}}.fig{{margin:2em 0}}code{{font-size:90%}}</style></head><body>\
         <h1>Loss Spike in Training Neural Networks: reproduction report</h1>\
         <p>Run <code>{run}</code>, profile <b>{profile}</b>, backend <b>{backend}</b>, started {started}, {wall:.1} s, spike-pipe {ver}, pipeline <code>{pipeline}</code>. \
         {summary} by this run.</p>\
         <p>Record <a href=\"../runs/{run}.json\">runs/{run}.json</a>{name}. Git commit <code>{git}</code>. Machine: {machine}.{overrides}</p>",
        run = esc(&record.run_id),
        name = record
            .name
            .as_deref()
            .map(|n| format!(", named <b>{}</b>", esc(n)))
            .unwrap_or_default(),
        git = esc(record
            .git
            .as_deref()
            .unwrap_or("unknown (not a git checkout)")),
        machine = esc(record.machine.as_deref().unwrap_or("unknown")),
        overrides = if record.overrides.is_empty() {
            String::new()
        } else {
            format!(
                " Overrides: {}.",
                record
                    .overrides
                    .iter()
                    .map(|o| format!("<code>-S {}</code>", esc(o)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        profile = esc(&record.profile),
        backend = esc(&record.env.get("backend").cloned().unwrap_or_default()),
        started = esc(&record.started),
        summary = esc(summary),
        wall = record.wall_s,
        ver = esc(&record.tool_version),
        pipeline = esc(&record.pipeline),
    );
    h
}

/// Every claim of the run, one row each.
fn claims_rows(h: &mut String, files: &[ClaimsFile]) {
    h.push_str("<h2>Claims</h2><table><tr><th>figure</th><th>claim</th><th>paper</th><th>verdict</th><th>under each reading, over seeds</th></tr>");
    for f in files {
        for c in &f.claims {
            let _ = write!(
                h,
                "<tr><td><a href=\"#{id}\">{id}</a></td><td>{claim}</td><td>{source}</td><td class=\"{cls}\">{v}</td><td>{robust}</td></tr>",
                id = esc(&f.figure),
                claim = esc(&c.id),
                source = esc(&c.source),
                cls = class(c.verdict),
                v = c.verdict,
                robust = esc(&c.robustness())
            );
        }
    }
    h.push_str("</table>");
}

/// A figure, its files, its claims with the sentences they test, and its notes.
fn figure_section(h: &mut String, f: &ClaimsFile, run: &str) {
    let id = esc(&f.figure);
    let _ = write!(
        h,
        "<div class=\"fig\" id=\"{id}\"><h2>{}</h2><img src=\"../figures/{id}.png\" alt=\"{id}\"><p>Files: ",
        esc(&f.title)
    );
    for ext in ["parquet", "svg", "png", "claims.json"] {
        let _ = write!(h, "<a href=\"../figures/{id}.{ext}\">{id}.{ext}</a> ");
    }
    let _ = write!(
        h,
        "and the run record <a href=\"../runs/{run}.json\">runs/{run}.json</a>",
        run = esc(run)
    );
    h.push_str("</p><table><tr><th>the paper says</th><th>criterion (this run)</th><th>verdict</th><th>measured</th></tr>");
    for c in &f.claims {
        let _ = write!(
            h,
            "<tr><td><blockquote>\u{201c}{}\u{201d}</blockquote>({}; check <code>{}</code>)</td><td>{}</td><td class=\"{}\">{}</td><td>{}{}<br><small>{}</small></td></tr>",
            esc(&c.quote),
            esc(&c.source),
            esc(&c.id),
            esc(&c.criterion),
            class(c.verdict),
            c.verdict,
            esc(&c.measured),
            c.margin
                .as_ref()
                .map(|m| format!("<br>margin: {}", esc(m)))
                .unwrap_or_default(),
            esc(&c.robustness())
        );
    }
    h.push_str("</table>");
    for n in &f.notes {
        let _ = write!(h, "<p><i>{}</i></p>", esc(n));
    }
    h.push_str("</div>");
}

/// Every stage of the run (the table is closed by the caller).
fn stages_rows(h: &mut String, record: &RunRecord) {
    h.push_str("<h2>Stages</h2><table><tr><th>stage</th><th>kind</th><th>key</th><th>outcome</th><th>this run (s)</th><th>computed in (s)</th><th>params</th></tr>");
    for s in &record.stages {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{:?}</td><td>{:.2}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&s.name),
            esc(&s.kind),
            esc(s.key.get(..12).unwrap_or(&s.key)),
            s.outcome,
            s.wall_s,
            s.compute_s.map(|c| format!("{c:.2}")).unwrap_or_default(),
            esc(&s.params.to_string())
        );
    }
}

/// `spike-pipe diff A B --html DIR`: a page where every figure that differs is drawn with both
/// runs overlaid (`DIR/<id>.png` and `.svg`, for papers and slides), the stage and parameter
/// changes above, the numeric comparison below, and the unchanged figures collapsed.
pub fn diff_html(d: &Diff, a: &Side, b: &Side, dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut h = diff_head(d);
    h.push_str("</ul><h2>Figures that differ</h2>");
    let unchanged = differing_figures(&mut h, d, a, b, dir)?;
    let _ = write!(
        h,
        "<details><summary>{} unchanged figures</summary><p>{}</p></details><h2>Numbers</h2><table><tr><th>figure</th><th>metric</th><th>A</th><th>B</th><th>change</th></tr>",
        unchanged.len(),
        esc(&unchanged.join(", "))
    );
    for m in &d.metrics {
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if m.differs { " class=\"d\"" } else { "" },
            esc(&m.figure),
            esc(&m.metric),
            esc(&m.a),
            esc(&m.b),
            esc(&m.change)
        );
    }
    h.push_str("</table><h2>Tables</h2><table><tr><th>table</th><th>same</th><th>largest differences</th></tr>");
    for t in &d.tables {
        let cols = t
            .columns
            .iter()
            .filter(|c| !c.within)
            .map(|c| format!("{}: abs {:.3e}, rel {:.3e}", c.column, c.max_abs, c.max_rel))
            .chain(t.notes.iter().cloned())
            .collect::<Vec<_>>()
            .join("; ");
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>",
            if t.same { "" } else { " class=\"d\"" },
            esc(&t.table),
            if t.same { "yes" } else { "no" },
            esc(&cols)
        );
    }
    h.push_str("</table></body></html>\n");
    let path = dir.join("index.html");
    write_atomic(&path, h.as_bytes())?;
    Ok(path)
}

/// The page's head and the stages that changed.
fn diff_head(d: &Diff) -> String {
    let mut h = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>spike-pipe diff</title><style>\
         body{{font-family:sans-serif;max-width:1600px;margin:auto;padding:1em}}img{{max-width:100%;border:1px solid #ccc}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}}.d{{color:#b3261e}}</style></head><body>\
         <h1>Run A <code>{}</code> against run B <code>{}</code></h1><p>In the figures, run B is drawn darker, its lines dashed.</p><h2>Stages and parameters that changed</h2><ul>",
        esc(&d.a),
        esc(&d.b)
    );
    if d.stages.is_empty() {
        h.push_str("<li>no stage changed its key</li>");
    }
    for s in &d.stages {
        let _ = write!(
            h,
            "<li><b>{}</b> ({}): {}</li>",
            esc(&s.stage),
            s.status,
            esc(&s.reasons.join("; "))
        );
    }
    h
}

/// Draws each figure that differs with both runs overlaid; returns the ids of the others.
fn differing_figures<'s>(
    h: &mut String,
    d: &Diff,
    a: &'s Side,
    b: &'s Side,
    dir: &Path,
) -> Result<Vec<&'s str>> {
    // Figure ids name files in DIR: ids from a run record that are not plain names are skipped.
    let ids: BTreeSet<&str> = a
        .figures()
        .chain(b.figures())
        .filter(|id| !id.is_empty() && !id.starts_with('.') && !id.contains(['/', '\\']))
        .collect();
    let mut unchanged = Vec::new();
    for id in ids {
        let table = format!("{id}.parquet");
        let differs = d.tables.iter().any(|t| t.table == table && !t.same)
            || d.metrics.iter().any(|m| m.figure == id && m.differs);
        if !differs {
            unchanged.push(id);
            continue;
        }
        let spec_file = format!("{id}.spec.json");
        let (Some(spec), Some(ta), Some(tb)) = (a.file(&spec_file), a.file(&table), b.file(&table))
        else {
            let _ = write!(h, "<h3>{}</h3><p>published by one run only</p>", esc(id));
            continue;
        };
        let spec: FigureSpec = serde_json::from_str(&fs::read_to_string(spec)?)
            .with_context(|| format!("parsing {spec_file}"))?;
        let (spec, data) = overlay(&spec, &FigureData::read(ta)?, &FigureData::read(tb)?);
        render(
            &data,
            &spec,
            &dir.join(format!("{id}.png")),
            &dir.join(format!("{id}.svg")),
        )?;
        let _ = write!(
            h,
            "<h3 id=\"{id}\">{id}</h3><img src=\"{id}.png\" alt=\"{id}, runs A and B\"><p><a href=\"{id}.png\">{id}.png</a> <a href=\"{id}.svg\">{id}.svg</a></p>",
            id = esc(id)
        );
    }
    Ok(unchanged)
}
