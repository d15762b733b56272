//! The claims of a run as text: the one-line summary, and the list (or Markdown table) of every
//! claim under every reading.

use std::fmt::Write as _;

use crate::claims::{ClaimsFile, Verdict, describe_reading};

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
