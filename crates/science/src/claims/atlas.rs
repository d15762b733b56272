//! The paper's two general sentences about loss spikes, tested over a whole atlas of runs (every
//! cell and seed) instead of its hand-picked examples. Both are shares with a 95% Wilson
//! interval; the criteria were fixed before any atlas was run:
//! - a sentence stated without qualification describes the typical case, so it is *supported*
//!   when the interval lies above 1/2 (the share is above one half beyond sampling noise); the
//!   share and its interval are reported whatever the verdict, so a reader can apply a stricter
//!   bar;
//! - per seed, the seed supports the sentence when its own share is above 1/2 (`seeds`).

use std::collections::BTreeSet;

use super::sec3::EOS_QUOTE;
use super::{Claim, Quote, Seeds};
use crate::analysis::atlas::{Cell, Class, nearest_without_spike};
use crate::analysis::stats::wilson;

/// One classified cell of the atlas with what the claims compare.
pub(crate) struct Scored<'a> {
    pub cell: &'a Cell,
    pub lr: f64,
    pub seed: u64,
    /// The cells a spiking cell is compared with share this: activation, target, init gamma,
    /// width and seed.
    pub group: String,
    /// The final condensed variance under the variant's angle reading.
    pub v: f64,
}

pub(crate) const EDGE_ID: &str = "atlas_spikes_at_edge_of_stability";
const EDGE_CRITERION: &str = "over every loss spike detected (this reading's spike rule) in the cells that did not diverge, with lambda_max measured up to its onset: the share at the edge of stability by the classification of Fig 3.1(d-i) (after a measurement below 2/eta, the last lambda_max up to the onset at least 0.95 x 2/eta) or from a sharp start (every measurement up to the onset at or above 2/eta; lambda_max >= 2/eta either way); supported when the 95% Wilson interval of the share lies above 1/2";

pub(crate) const CONDENSE_ID: &str = "atlas_spikes_lead_to_condensation";
const CONDENSE_QUOTE: Quote<'static> = Quote {
    text: "We show that the loss spike can facilitate the condensation phenomenon for the noise-free full-batch gradient descent algorithm.",
    source: "Sec 5.1 (the abstract: \"we experimentally observe that loss spikes can facilitate condensation\")",
};
const CONDENSE_CRITERION: &str = "each cell with a loss spike (this reading's rule; not diverged) against the cell without a spike and not diverged of the same activation, target, init gamma, width and seed whose learning rate is nearest on a log scale: the share of pairs in which the spiking cell ends with the lower condensed variance (this reading's angle); supported when the 95% Wilson interval of the share lies above 1/2";

/// "k of n (share, 95% CI [lo, hi])".
fn share(k: usize, n: usize) -> String {
    match wilson(k, n) {
        Some((lo, hi)) => format!(
            "{k} of {n} ({:.3}, 95% CI [{lo:.3}, {hi:.3}])",
            k as f64 / n as f64
        ),
        None => format!("{k} of {n}"),
    }
}

/// The verdict of a share by the module's rule, and its margin.
fn decide(k: usize, n: usize) -> (bool, String) {
    let (lo, hi) = wilson(k, n).unwrap_or((0.0, 1.0));
    let where_half = if lo > 0.5 {
        "1/2 below it"
    } else if hi < 0.5 {
        "1/2 above it: the sentence fails for most"
    } else {
        "1/2 inside it"
    };
    (
        lo > 0.5,
        format!("95% interval [{lo:.3}, {hi:.3}], {where_half} (needs its lower end > 0.5)"),
    )
}

/// Seeds whose own share (by `count`: (k, n)) is above 1/2.
fn by_seed(cells: &[Scored<'_>], count: impl Fn(&[&Scored<'_>]) -> (usize, usize)) -> Seeds {
    let seeds: BTreeSet<u64> = cells.iter().map(|c| c.seed).collect();
    let supported = seeds
        .iter()
        .filter(|&&s| {
            let of: Vec<&Scored> = cells.iter().filter(|c| c.seed == s).collect();
            let (k, n) = count(&of);
            2 * k > n
        })
        .count();
    Seeds {
        n: seeds.len(),
        supported,
    }
}

/// Spikes with a measured onset and those at the edge (from below or from a sharp start).
fn edge_counts(cells: &[&Scored<'_>]) -> (usize, usize, usize) {
    let live = cells.iter().filter(|c| c.cell.class != Class::Diverged);
    let (mut at, mut catapult, mut measured) = (0, 0, 0);
    for c in live {
        at += c.cell.spikes_at_edge;
        catapult += c.cell.spikes_catapult;
        measured += c.cell.spikes - c.cell.spikes_unmeasured;
    }
    (at, catapult, measured)
}

/// "The loss spikes occur at the EoS stage", over the atlas.
pub(crate) fn edge_claim(cells: &[Scored<'_>]) -> Claim {
    let all: Vec<&Scored> = cells.iter().collect();
    let (at, catapult, n) = edge_counts(&all);
    let unmeasured: usize = all
        .iter()
        .filter(|c| c.cell.class != Class::Diverged)
        .map(|c| c.cell.spikes_unmeasured)
        .sum();
    if n == 0 {
        let mut claim = Claim::not_reproduced(
            EDGE_ID,
            EOS_QUOTE,
            EDGE_CRITERION,
            format!(
                "no loss spike with lambda_max measured up to its onset in {} cells ({unmeasured} without)",
                cells.len()
            ),
        );
        claim.seeds = by_seed(cells, |_| (0, 0));
        return claim;
    }
    let k = at + catapult;
    let (supported, margin) = decide(k, n);
    let from_below = format!(
        "at the edge after stable training: {}; from a sharp start: {catapult}",
        share(at, n - catapult)
    );
    let mut claim = Claim::new(
        EDGE_ID,
        EOS_QUOTE,
        EDGE_CRITERION,
        supported,
        format!(
            "spikes at the edge of stability or from a sharp start: {} over {} cells ({from_below}; {unmeasured} spikes without a measurement up to the onset left out)",
            share(k, n),
            cells.len()
        ),
    )
    .margin(margin);
    claim.seeds = by_seed(cells, |c| {
        let (a, cat, m) = edge_counts(c);
        (a + cat, m)
    });
    claim
}

/// The pairs (spiking cell, its partner) and the spiking cells without one.
fn pairs<'a, 'b>(cells: &'b [&'b Scored<'a>]) -> (Vec<(&'b Scored<'a>, &'b Scored<'a>)>, usize) {
    let keys: Vec<(&str, f64, bool, bool)> = cells
        .iter()
        .map(|c| {
            (
                c.group.as_str(),
                c.lr,
                c.cell.spikes > 0,
                c.cell.class == Class::Diverged,
            )
        })
        .collect();
    let mut out = Vec::new();
    let mut alone = 0;
    for (i, partner) in nearest_without_spike(&keys) {
        match partner {
            Some(j) => out.push((cells[i], cells[j])),
            None => alone += 1,
        }
    }
    (out, alone)
}

fn condensed_counts(cells: &[&Scored<'_>]) -> (usize, usize) {
    let (p, _) = pairs(cells);
    (p.iter().filter(|(s, q)| s.v < q.v).count(), p.len())
}

/// "Loss spikes facilitate condensation", over the atlas.
pub(crate) fn condensation_claim(cells: &[Scored<'_>]) -> Claim {
    let all: Vec<&Scored> = cells.iter().collect();
    let (p, alone) = pairs(&all);
    if p.is_empty() {
        let mut claim = Claim::premise_failed(
            CONDENSE_ID,
            CONDENSE_QUOTE,
            CONDENSE_CRITERION,
            "a cell with a spike and one without in the same width and seed",
            format!(
                "{} spiking cells, none with a partner",
                all.iter()
                    .filter(|c| c.cell.spikes > 0 && c.cell.class != Class::Diverged)
                    .count()
            ),
        );
        claim.seeds = by_seed(cells, |_| (0, 0));
        return claim;
    }
    let k = p.iter().filter(|(s, q)| s.v < q.v).count();
    let mut ratios: Vec<f64> = p.iter().map(|(s, q)| s.v / q.v).collect();
    ratios.sort_by(f64::total_cmp);
    let (supported, margin) = decide(k, p.len());
    let mut claim = Claim::new(
        CONDENSE_ID,
        CONDENSE_QUOTE,
        CONDENSE_CRITERION,
        supported,
        format!(
            "pairs in which the spiking cell is more condensed (lower final V): {}; median V(spike) / V(partner) {:.3}; {alone} spiking cells without a partner",
            share(k, p.len()),
            crate::analysis::stats::median(&ratios)
        ),
    )
    .margin(margin);
    claim.seeds = by_seed(cells, condensed_counts);
    claim
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Verdict;

    fn cell(class: Class, spikes: usize, at: usize, catapult: usize) -> Cell {
        Cell {
            class,
            lambda_0: Some(1.0),
            spikes,
            spikes_at_edge: at,
            spikes_catapult: catapult,
            spikes_unmeasured: 0,
            largest_factor: None,
            first_spike_epoch: None,
            edge_ratio_end: None,
            final_loss: 0.1,
        }
    }

    fn scored(cell: &Cell, lr: f64, seed: u64, v: f64) -> Scored<'_> {
        Scored {
            cell,
            lr,
            seed,
            group: format!("w{seed}"),
            v,
        }
    }

    #[test]
    fn the_edge_claim_passes_when_most_spikes_follow_the_edge_and_fails_otherwise() {
        let at = cell(Class::SpikeAtEdge, 1, 1, 0);
        let sharp = cell(Class::Catapult, 1, 0, 1);
        let below = cell(Class::SpikeBelowEdge, 1, 0, 0);
        let gone = cell(Class::Diverged, 3, 0, 0);
        // 9 of 10 at the edge (one from a sharp start): CI [0.596, 0.982].
        let mut good: Vec<Scored> = (0..8).map(|i| scored(&at, 0.1, i % 2, 1.0)).collect();
        good.push(scored(&sharp, 0.5, 0, 1.0));
        good.push(scored(&below, 0.1, 1, 1.0));
        good.push(scored(&gone, 1.0, 1, 1.0));
        let c = edge_claim(&good);
        assert_eq!(c.verdict, Verdict::Supported, "{}", c.measured);
        assert!(c.measured.contains("9 of 10 (0.900"), "{}", c.measured);
        assert_eq!(c.seeds, Seeds { n: 2, supported: 2 });
        // 6 of 10: the interval [0.313, 0.832] holds 1/2.
        let mut weak: Vec<Scored> = (0..6).map(|_| scored(&at, 0.1, 0, 1.0)).collect();
        weak.extend((0..4).map(|_| scored(&below, 0.1, 0, 1.0)));
        let c = edge_claim(&weak);
        assert_eq!(c.verdict, Verdict::NotSupported, "{}", c.measured);
        assert!(c.margin.unwrap().contains("[0.313, 0.832], 1/2 inside it"));
        assert_eq!(c.seeds, Seeds { n: 1, supported: 1 });
        // No spike at all: not reproduced.
        let flat = cell(Class::StableBelowEdge, 0, 0, 0);
        assert_eq!(
            edge_claim(&[scored(&flat, 0.1, 0, 1.0)]).verdict,
            Verdict::NotReproduced
        );
    }

    fn pairs_of<'a>(spike: &'a Cell, calm: &'a Cell, v: &dyn Fn(u64) -> f64) -> Vec<Scored<'a>> {
        (0..7)
            .flat_map(|g| [scored(calm, 0.01, g, 1.0), scored(spike, 0.1, g, v(g))])
            .collect()
    }

    #[test]
    fn the_condensation_claim_compares_each_spike_with_its_nearest_calm_neighbour() {
        let spike = cell(Class::SpikeAtEdge, 1, 1, 0);
        let calm = cell(Class::StableBelowEdge, 0, 0, 0);
        // Seven widths (groups), each a calm cell at lr 0.01 and a spiking one at 0.1.
        let make = |v_spike: &dyn Fn(u64) -> f64| pairs_of(&spike, &calm, v_spike);
        // Every spiking cell more condensed: 7 of 7, CI [0.646, 1].
        let c = condensation_claim(&make(&|_| 0.5));
        assert_eq!(c.verdict, Verdict::Supported, "{}", c.measured);
        assert!(c.measured.contains("median V(spike) / V(partner) 0.500"));
        assert_eq!(c.seeds, Seeds { n: 7, supported: 7 });
        // Four of seven: not supported, and three seeds against.
        let c = condensation_claim(&make(&|g| if g < 4 { 0.5 } else { 2.0 }));
        assert_eq!(c.verdict, Verdict::NotSupported, "{}", c.measured);
        assert_eq!(c.seeds, Seeds { n: 7, supported: 4 });
        // No calm cell to compare with: not tested.
        let lone = [scored(&spike, 0.1, 0, 0.5)];
        assert_eq!(condensation_claim(&lone).verdict, Verdict::NotTested);
    }
}
