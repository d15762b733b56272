//! One verdict per claim from the claims of every variant of a figure (each combination of the
//! paper's readings, each seed), with its alternatives and seed counts.
//!
//! The rules, fixed before any run was looked at:
//! - A claim *depends on* a reading when two variants that differ only in that reading (same
//!   seed, same other readings) give it a different verdict, measured numbers or margin.
//!   Its verdict is reported under every combination of the readings it depends on; readings
//!   that change nothing are left out of its `reading`.
//! - Over S seeds, a verdict is `supported` when the claim is supported in more than half of
//!   them (k > S/2); `not reproduced` when more than half did not reproduce the phenomenon;
//!   `not tested` when more than half could not test it (a failed premise counts here);
//!   otherwise `not supported`.
//! - The numbers shown are those of the lowest seed with that verdict, named; every seed's
//!   margin is listed.

use std::collections::BTreeMap;

use super::readings::Variant;
use super::{Alternative, Claim, Seeds, Verdict};

/// The verdict over seeds, by the rule above.
pub fn over_seeds(verdicts: &[Verdict]) -> Verdict {
    let n = verdicts.len();
    let count = |v: Verdict| verdicts.iter().filter(|&&x| x == v).count();
    let majority = |k: usize| 2 * k > n;
    if majority(count(Verdict::Supported)) {
        Verdict::Supported
    } else if majority(count(Verdict::NotReproduced)) {
        Verdict::NotReproduced
    } else if majority(count(Verdict::NotTested) + count(Verdict::NotReproduced)) {
        Verdict::NotTested
    } else {
        Verdict::NotSupported
    }
}

/// The claims of one figure, computed under each variant, merged into one claim per id.
pub fn merge(outcomes: &[(Variant, Vec<Claim>)]) -> Vec<Claim> {
    let Some((first, _)) = outcomes.first() else {
        return vec![];
    };
    let default = &first.reading;
    let mut ids: Vec<&str> = Vec::new();
    for (_, claims) in outcomes {
        for c in claims {
            if !ids.contains(&c.id.as_str()) {
                ids.push(&c.id);
            }
        }
    }
    ids.into_iter()
        .map(|id| {
            let runs: Vec<(&Variant, &Claim)> = outcomes
                .iter()
                .filter_map(|(v, cs)| cs.iter().find(|c| c.id == id).map(|c| (v, c)))
                .collect();
            merge_one(default, &runs)
        })
        .collect()
}

/// For each alternative of a reading whose stages were not run under it in this profile
/// (`Readings::not_run`: reading, alternative, the alternatives run), names the reading the
/// verdict is under and adds that alternative as not tested, saying why.
pub fn add_not_run(claim: &mut Claim, not_run: &[(String, String, Vec<String>)]) {
    for (reading, alternative, run) in not_run {
        if let [only] = run.as_slice() {
            claim
                .reading
                .entry(reading.clone())
                .or_insert_with(|| only.clone());
        }
        let mut under = claim.reading.clone();
        under.insert(reading.clone(), alternative.clone());
        claim.alternatives.push(Alternative {
            reading: under,
            verdict: Verdict::NotTested,
            measured: format!(
                "not run in this profile (readings.{reading}.profiles in pipeline.yaml lists the alternatives each profile runs)"
            ),
            margin: None,
            seeds: Seeds::default(),
        });
    }
}

/// Whether changing `reading` alone changes the claim in some pair of variants.
fn depends_on(runs: &[(&Variant, &Claim)], reading: &str) -> bool {
    let rest = |v: &Variant| {
        let mut r = v.reading.clone();
        r.remove(reading);
        (r, v.seed)
    };
    runs.iter().any(|(va, ca)| {
        runs.iter().any(|(vb, cb)| {
            va.reading.get(reading) != vb.reading.get(reading)
                && rest(va) == rest(vb)
                && (ca.verdict != cb.verdict
                    || ca.measured != cb.measured
                    || ca.margin != cb.margin)
        })
    })
}

/// A verdict over the seeds of one reading: (verdict, seeds, measured, margin).
fn combine(runs: &[(&Variant, &Claim)]) -> (Verdict, Seeds, String, Option<String>) {
    let verdicts: Vec<Verdict> = runs.iter().map(|(_, c)| c.verdict).collect();
    let verdict = over_seeds(&verdicts);
    // One run: the claim's own count (a kind that pools its seeds counts them itself).
    let seeds = match runs {
        [(_, only)] => only.seeds,
        _ => Seeds {
            n: runs.len(),
            supported: verdicts
                .iter()
                .filter(|&&v| v == Verdict::Supported)
                .count(),
        },
    };
    let seed_name = |v: &Variant| v.seed.map_or(String::new(), |s| format!("seed {s}: "));
    let shown = runs
        .iter()
        .find(|(_, c)| c.verdict == verdict)
        .unwrap_or(&runs[0]);
    let measured = if runs.len() == 1 {
        shown.1.measured.clone()
    } else {
        let untested = verdicts
            .iter()
            .filter(|&&v| v == Verdict::NotTested)
            .count();
        let untested = if untested > 0 {
            format!(", {untested} not tested")
        } else {
            String::new()
        };
        format!(
            "{} of {} seeds supported{untested}; {}{}",
            seeds.supported,
            seeds.n,
            seed_name(shown.0),
            shown.1.measured
        )
    };
    let margins: Vec<String> = runs
        .iter()
        .filter_map(|(v, c)| c.margin.as_ref().map(|m| format!("{}{m}", seed_name(v))))
        .collect();
    let margin = (!margins.is_empty()).then(|| margins.join("; "));
    (verdict, seeds, measured, margin)
}

/// The runs of a claim under one combination of the readings it depends on, one per seed.
type Group<'a> = (BTreeMap<String, String>, Vec<(&'a Variant, &'a Claim)>);

fn merge_one(default: &BTreeMap<String, String>, runs: &[(&Variant, &Claim)]) -> Claim {
    let names: Vec<&String> = default.keys().collect();
    let dependent: Vec<&String> = names.into_iter().filter(|r| depends_on(runs, r)).collect();
    let project = |v: &Variant| -> BTreeMap<String, String> {
        dependent
            .iter()
            .filter_map(|r| v.reading.get(*r).map(|a| ((*r).clone(), a.clone())))
            .collect()
    };
    // Groups in the order of first appearance (the default first); within a group one run per
    // seed, under the default of the readings the claim does not depend on.
    let mut groups: Vec<Group> = Vec::new();
    for &(v, c) in runs {
        let key = project(v);
        let others_default = v
            .reading
            .iter()
            .all(|(r, a)| dependent.contains(&r) || default.get(r) == Some(a));
        if !others_default {
            continue;
        }
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push((v, c)),
            None => groups.push((key, vec![(v, c)])),
        }
    }
    let headline = project(&Variant {
        reading: default.clone(),
        seed: None,
    });
    let template = runs[0].1;
    let mut claim = template.clone();
    claim.alternatives = Vec::new();
    claim.unaffected = default
        .keys()
        .filter(|r| !dependent.contains(r))
        .filter_map(|r| {
            let mut alts: Vec<String> = Vec::new();
            for (v, _) in runs {
                if let Some(a) = v.reading.get(r)
                    && !alts.contains(a)
                {
                    alts.push(a.clone());
                }
            }
            (alts.len() > 1).then(|| (r.clone(), alts))
        })
        .collect();
    for (reading, group) in &groups {
        let (verdict, seeds, measured, margin) = combine(group);
        if *reading == headline {
            claim.reading = reading.clone();
            claim.verdict = verdict;
            claim.seeds = seeds;
            claim.measured = measured;
            claim.margin = margin;
        } else {
            claim.alternatives.push(Alternative {
                reading: reading.clone(),
                verdict,
                measured,
                margin,
                seeds,
            });
        }
    }
    claim
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Quote;

    const Q: Quote<'static> = Quote {
        text: "a sentence",
        source: "Sec 0",
    };

    fn variant(loss: &str, angle: &str, seed: i64) -> Variant {
        Variant {
            reading: [
                ("angle".to_string(), angle.to_string()),
                ("loss".to_string(), loss.to_string()),
            ]
            .into(),
            seed: Some(seed),
        }
    }

    fn claim(supported: bool, measured: &str) -> Claim {
        Claim::new("c", Q, "criterion", supported, measured.into()).margin(measured.into())
    }

    #[test]
    fn the_majority_of_seeds_decides() {
        use Verdict::*;
        assert_eq!(over_seeds(&[Supported, Supported, NotSupported]), Supported);
        assert_eq!(over_seeds(&[Supported, NotSupported]), NotSupported);
        assert_eq!(over_seeds(&[Supported, NotTested, NotTested]), NotTested);
        // A tie is no majority: two supported and two untested of four is not supported.
        assert_eq!(
            over_seeds(&[Supported, Supported, NotTested, NotTested]),
            NotSupported
        );
        assert_eq!(
            over_seeds(&[NotReproduced, NotReproduced, Supported]),
            NotReproduced
        );
        assert_eq!(
            over_seeds(&[NotSupported, NotTested, Supported]),
            NotSupported
        );
        assert_eq!(over_seeds(&[Supported]), Supported);
    }

    #[test]
    fn a_claim_is_reported_under_the_readings_it_depends_on_only() {
        // Supported under half_mse in both seeds, not under mse; the angle changes nothing.
        let mut outcomes = Vec::new();
        for loss in ["half_mse", "mse"] {
            for angle in ["two_argument", "arctan_ratio"] {
                for seed in [0, 1] {
                    let ok = loss == "half_mse";
                    let m = format!("{loss} {seed}");
                    outcomes.push((variant(loss, angle, seed), vec![claim(ok, &m)]));
                }
            }
        }
        let merged = merge(&outcomes);
        assert_eq!(merged.len(), 1);
        let c = &merged[0];
        assert_eq!(c.verdict, Verdict::Supported);
        assert_eq!(
            c.reading,
            [("loss".to_string(), "half_mse".to_string())].into()
        );
        assert_eq!(c.seeds, Seeds { n: 2, supported: 2 });
        assert_eq!(c.measured, "2 of 2 seeds supported; seed 0: half_mse 0");
        assert_eq!(
            c.margin.as_deref(),
            Some("seed 0: half_mse 0; seed 1: half_mse 1")
        );
        assert_eq!(c.alternatives.len(), 1);
        let alt = &c.alternatives[0];
        assert_eq!(
            alt.reading,
            [("loss".to_string(), "mse".to_string())].into()
        );
        assert_eq!(alt.verdict, Verdict::NotSupported);
        assert_eq!(alt.seeds, Seeds { n: 2, supported: 0 });
        assert_eq!(
            c.unaffected,
            [(
                "angle".to_string(),
                vec!["two_argument".to_string(), "arctan_ratio".to_string()]
            )]
            .into()
        );
        assert_eq!(
            c.robustness(),
            "supported under loss = half_mse (2/2 seeds); NOT supported under loss = mse (0/2 seeds); the same under angle = two_argument or arctan_ratio"
        );
    }

    #[test]
    fn two_readings_that_matter_give_every_combination() {
        let mut outcomes = Vec::new();
        for loss in ["half_mse", "mse"] {
            for angle in ["two_argument", "arctan_ratio"] {
                let ok = loss == "half_mse" && angle == "two_argument";
                outcomes.push((
                    variant(loss, angle, 0),
                    vec![claim(ok, &format!("{loss} {angle}"))],
                ));
            }
        }
        let c = &merge(&outcomes)[0];
        assert_eq!(c.reading.len(), 2);
        assert_eq!(c.verdict, Verdict::Supported);
        assert_eq!(c.alternatives.len(), 3);
        assert!(
            c.alternatives
                .iter()
                .all(|a| a.verdict == Verdict::NotSupported)
        );
    }

    #[test]
    fn an_alternative_not_run_is_listed_as_not_tested() {
        let mut c = Claim::new(
            "c",
            Quote {
                text: "t",
                source: "s",
            },
            "k",
            true,
            "m".into(),
        );
        add_not_run(
            &mut c,
            &[("pixels".into(), "per_channel".into(), vec!["raw".into()])],
        );
        assert_eq!(c.reading["pixels"], "raw");
        assert_eq!(c.verdict, Verdict::Supported);
        assert_eq!(c.alternatives.len(), 1);
        assert_eq!(c.alternatives[0].reading["pixels"], "per_channel");
        assert_eq!(c.alternatives[0].verdict, Verdict::NotTested);
        assert_eq!(c.alternatives[0].seeds.n, 0);
        assert!(
            c.robustness()
                .contains("not tested under pixels = per_channel (0/0 seeds)")
        );
    }
}
