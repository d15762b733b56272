//! The claim checks of a run (`spike-pipe verify`) and its HTML report
//! (`outputs/report/index.html`): every figure with its claims and the run's metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::analysis::spikes::PAPER_RULE;
use crate::claims::{ClaimsFile, Verdict, describe_reading};
use crate::engine::cache::write_atomic;
use crate::engine::diff::{Metric, close};
use crate::engine::runs::{RunRecord, published_file};
use crate::plot::FigureData;

/// The claims files a run published, in stage order: each from the run's own cache entry, or
/// for the latest run from `outputs/figures/`.
pub fn claims(
    outputs: &Path,
    cache_root: &Path,
    record: &RunRecord,
    latest: bool,
) -> Result<Vec<ClaimsFile>> {
    let mut out = Vec::new();
    for s in &record.stages {
        for f in s.published.iter().filter(|f| f.ends_with(".claims.json")) {
            let path = published_file(outputs, cache_root, &s.key, f, latest).with_context(|| {
                format!(
                    "{f} of run {} is gone: the cache entry {} of {} was removed (spike-pipe gc) and outputs/ holds a later run's files; rerun that run's settings to get it back",
                    record.run_id, s.key, s.name
                )
            })?;
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

/// `spike-pipe report --run ID`: a past run's published files, copied from its own cache entries
/// into `outputs/runs/<id>/figures/`, with its record and `report/index.html` beside them (the
/// latest outputs are not touched). Returns the report's path and the files no longer cached.
pub fn rebuild(
    outputs: &Path,
    cache_root: &Path,
    record: &RunRecord,
) -> Result<(PathBuf, Vec<String>)> {
    // The id names a directory: a record is a file anyone can edit.
    let id = &record.run_id;
    if id.is_empty()
        || id.starts_with('.')
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        anyhow::bail!("run id `{}` is not a run id", id.escape_debug());
    }
    let dir = crate::engine::runs::runs_dir(outputs).join(id);
    let figures = dir.join("figures");
    fs::create_dir_all(&figures).with_context(|| format!("creating {}", figures.display()))?;
    let mut missing = Vec::new();
    for s in &record.stages {
        for p in &s.published {
            match published_file(outputs, cache_root, &s.key, p, false) {
                Some(src) => {
                    let name = p.trim_start_matches("figures/");
                    fs::copy(&src, figures.join(name))
                        .with_context(|| format!("copying {}", src.display()))?;
                }
                None => missing.push(format!("{p} ({}, entry {})", s.name, s.key)),
            }
        }
    }
    let runs = dir.join("runs");
    fs::create_dir_all(&runs)?;
    write_atomic(
        &runs.join(format!("{}.json", record.run_id)),
        serde_json::to_string_pretty(record)?.as_bytes(),
    )?;
    // Only the stages whose files are all here are reported.
    let mut shown = record.clone();
    shown.stages.retain(|s| {
        s.published
            .iter()
            .all(|p| figures.join(p.trim_start_matches("figures/")).is_file())
    });
    Ok((write_html(&dir, cache_root, &shown)?, missing))
}

/// One row of `spike-pipe runs`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    pub id: String,
    pub name: Option<String>,
    pub started: String,
    pub profile: String,
    pub overrides: Vec<String>,
    pub computed: usize,
    pub cached: usize,
    pub pulled: usize,
    pub failed: usize,
    pub skipped: usize,
    pub wall_s: f64,
    /// `None` when a claims file of the run is gone (its cache entry was collected).
    pub claims_supported: Option<usize>,
    pub claims_total: Option<usize>,
    /// Figure tables still readable.
    pub figures: usize,
    /// Loss spikes (the paper's rule) over every loss curve of those figures.
    pub loss_spikes: usize,
    /// Every headline metric of those figures: (figure, metric, value), as `diff` reports them.
    pub metrics: Vec<(String, String, String)>,
}

/// Every run, newest first.
pub fn run_summaries(outputs: &Path, cache_root: &Path) -> Result<Vec<RunSummary>> {
    let ids = crate::engine::runs::list(outputs)?;
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate().rev() {
        let r = crate::engine::runs::find(outputs, id)?;
        let latest = i + 1 == ids.len();
        let files = claims(outputs, cache_root, &r, latest).ok();
        let mut metrics = Vec::new();
        let mut figures = 0;
        let mut loss_spikes = 0.0;
        for st in &r.stages {
            for p in st.published.iter().filter(|p| p.ends_with(".parquet")) {
                let Some(path) = published_file(outputs, cache_root, &st.key, p, latest) else {
                    continue;
                };
                figures += 1;
                let name = p.trim_start_matches("figures/");
                for m in headline(name, Some(&path), None, 0.0, 0.0)? {
                    if m.metric.ends_with("/loss spikes") {
                        loss_spikes += m.values.0.unwrap_or(0.0);
                    }
                    metrics.push((m.figure, m.metric, m.a));
                }
            }
        }
        let verdicts: Option<Vec<Verdict>> = files.map(|f| {
            f.iter()
                .flat_map(|f| &f.claims)
                .map(|c| c.verdict)
                .collect()
        });
        use crate::engine::runs::Outcome;
        out.push(RunSummary {
            id: r.run_id.clone(),
            name: r.name.clone(),
            started: r.started.clone(),
            profile: r.profile.clone(),
            overrides: r.overrides.clone(),
            computed: r.count(Outcome::Computed),
            cached: r.count(Outcome::Cached),
            pulled: r.count(Outcome::Pulled),
            failed: r.count(Outcome::Failed),
            skipped: r.count(Outcome::Skipped),
            wall_s: r.wall_s,
            claims_supported: verdicts
                .as_ref()
                .map(|v| v.iter().filter(|&&x| x == Verdict::Supported).count()),
            claims_total: verdicts.as_ref().map(Vec::len),
            figures,
            loss_spikes: loss_spikes as usize,
            metrics,
        });
    }
    Ok(out)
}

impl RunSummary {
    pub const CSV_HEADER: &'static str = "id,name,started,profile,overrides,computed,cached,pulled,failed,skipped,wall_s,claims_supported,claims_total,figures,loss_spikes";

    pub fn csv(&self) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let opt = |v: Option<usize>| v.map_or(String::new(), |v| v.to_string());
        format!(
            "{},{},{},{},{},{},{},{},{},{},{:.3},{},{},{},{}",
            quote(&self.id),
            quote(self.name.as_deref().unwrap_or("")),
            quote(&self.started),
            quote(&self.profile),
            quote(&self.overrides.join(" ")),
            self.computed,
            self.cached,
            self.pulled,
            self.failed,
            self.skipped,
            self.wall_s,
            opt(self.claims_supported),
            opt(self.claims_total),
            self.figures,
            self.loss_spikes
        )
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let claims = match (self.claims_supported, self.claims_total) {
            (Some(s), Some(t)) => format!("claims {s}/{t}"),
            _ => "claims gone (gc)".to_string(),
        };
        write!(
            f,
            "{}  {:<12} {}  {:<6} {:>3} computed {:>3} cached {:>2} failed {:>8.1} s  {claims}  {} figures, {} loss spikes",
            self.id,
            self.name.as_deref().unwrap_or("-"),
            self.started.get(..19).unwrap_or(&self.started),
            self.profile,
            self.computed,
            self.cached,
            self.failed,
            self.wall_s,
            self.figures,
            self.loss_spikes
        )?;
        for o in &self.overrides {
            write!(f, "  -S {o}")?;
        }
        Ok(())
    }
}

/// The CSS class of a verdict in the report.
fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Supported => "ok",
        Verdict::NotSupported => "no",
        Verdict::NotTested => "nt",
        Verdict::NotReproduced => "nr",
    }
}

/// "n of N claims supported, m not supported, r not reproduced in this profile, k not tested".
pub fn claims_summary(files: &[ClaimsFile]) -> String {
    let all: Vec<Verdict> = files
        .iter()
        .flat_map(|f| &f.claims)
        .map(|c| c.verdict)
        .collect();
    let count = |v: Verdict| all.iter().filter(|&&x| x == v).count();
    format!(
        "{} of {} claims supported, {} not supported, {} not reproduced in this profile, {} not tested",
        count(Verdict::Supported),
        all.len(),
        count(Verdict::NotSupported),
        count(Verdict::NotReproduced),
        count(Verdict::NotTested)
    )
}

/// A plain-text list (or a Markdown table) of the claims: for each claim, its verdict under the
/// default readings, then under every other reading it depends on, each with its seed count,
/// measured numbers and margin (Markdown: one row per claim and reading).
pub fn claims_table(files: &[ClaimsFile], markdown: bool) -> String {
    let mut s = String::new();
    let cell = |t: &str| t.replace('|', "/").replace('\n', " ");
    if markdown {
        s.push_str(
            "| figure | claim | paper | reading | verdict | seeds | measured | margin |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for f in files {
            for c in &f.claims {
                let rows =
                    std::iter::once((&c.reading, c.verdict, c.seeds, &c.measured, &c.margin, true))
                        .chain(c.alternatives.iter().map(|a| {
                            (
                                &a.reading,
                                a.verdict,
                                a.seeds,
                                &a.measured,
                                &a.margin,
                                false,
                            )
                        }));
                let same: Vec<String> = c
                    .unaffected
                    .iter()
                    .map(|(r, alts)| format!("{r} = {}", alts.join(" or ")))
                    .collect();
                let same = if same.is_empty() {
                    String::new()
                } else {
                    format!("; the same under {}", same.join(", "))
                };
                for (reading, verdict, seeds, measured, margin, default) in rows {
                    let reading = match (reading.is_empty(), default) {
                        (true, true) => format!("-{same}"),
                        (true, false) => "-".to_string(),
                        (false, true) => {
                            format!("**{}** (default{same})", describe_reading(reading))
                        }
                        (false, false) => describe_reading(reading),
                    };
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {}/{} | {} | {} |",
                        f.figure,
                        c.id,
                        cell(&c.source),
                        reading,
                        verdict,
                        seeds.supported,
                        seeds.n,
                        cell(measured),
                        cell(margin.as_deref().unwrap_or("-"))
                    );
                }
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
                if let Some(m) = &c.margin {
                    let _ = writeln!(s, "{:>24} margin: {m}", "");
                }
                if !c.reading.is_empty() || c.seeds.n > 1 {
                    let _ = writeln!(s, "{:>24} {}", "", c.robustness());
                }
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
pub fn write_html(outputs: &Path, cache_root: &Path, record: &RunRecord) -> Result<PathBuf> {
    let files = claims(outputs, cache_root, record, true)?;
    let dir = outputs.join("report");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut h = String::new();
    let summary = claims_summary(&files);
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
        summary = esc(&summary),
        wall = record.wall_s,
        ver = esc(&record.tool_version),
        pipeline = esc(&record.pipeline),
    );
    h.push_str("<h2>Claims</h2><table><tr><th>figure</th><th>claim</th><th>paper</th><th>verdict</th><th>under each reading, over seeds</th></tr>");
    for f in &files {
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
        let _ = write!(
            h,
            "and the run record <a href=\"../runs/{run}.json\">runs/{run}.json</a>",
            run = esc(&record.run_id)
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

/// `spike-pipe diff A B --html DIR`: a page where every figure that differs is drawn with both
/// runs overlaid (`DIR/<id>.png` and `.svg`, for papers and slides), the stage and parameter
/// changes above, the numeric comparison below, and the unchanged figures collapsed.
pub fn diff_html(
    d: &crate::engine::diff::Diff,
    a: &crate::engine::diff::Side,
    b: &crate::engine::diff::Side,
    dir: &Path,
) -> Result<PathBuf> {
    use crate::plot::{FigureData, overlay, render::render, spec::FigureSpec};
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
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
    h.push_str("</ul><h2>Figures that differ</h2>");
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
