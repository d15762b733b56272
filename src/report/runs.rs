//! `spike-pipe runs`: one summary per recorded run.

use std::path::Path;

use anyhow::Result;

use super::{claims, headline};
use crate::claims::Verdict;
use crate::engine::runs::{Outcome, published_file};

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
