//! The spike atlas's classification of one training run (a cell) from its own log, with the
//! rules the claim checks use: the spike rule ([`Rule`]) and the classification of each spike
//! by the lambda_max measured up to its onset ([`spikes::classify`], as Fig 3.1(d-i)). Under an
//! optimiser other than GD, "lambda_max" and "2/eta" below are its own stability measure and
//! threshold (`TrainParams::edge`).

use super::spikes::{self, Event, Rule};

spike_config::choice_enum! {
    /// What a run did, decided in this order (the first that applies).
    pub(crate) enum Class {
        /// The loss became non-finite, or ended above where it started.
        Diverged = "diverged",
        /// lambda_max started at or above 2/eta (lambda_0 >= 2/eta) and later fell below it.
        Catapult = "catapult",
        /// A loss spike at the edge of stability ([`Event::EdgeOfStability`]: stable before,
        /// and lambda_max back at 2/eta when the loss rose).
        SpikeAtEdge = "spike_at_edge",
        /// Loss spikes, none of them at the edge.
        SpikeBelowEdge = "spike_below_edge",
        /// lambda_max reached 2/eta, and no loss spike.
        EdgeWithoutSpike = "edge_without_spike",
        /// lambda_max never reached 2/eta, and no loss spike.
        StableBelowEdge = "stable_below_edge",
    }
}

impl Class {
    pub(crate) const ALL: [Class; 6] = [
        Class::StableBelowEdge,
        Class::EdgeWithoutSpike,
        Class::SpikeAtEdge,
        Class::SpikeBelowEdge,
        Class::Catapult,
        Class::Diverged,
    ];
}

/// A run as the atlas reads it.
pub(crate) struct Run<'a> {
    pub epoch: &'a [usize],
    pub loss: &'a [f64],
    /// (epoch, the run's stability measure: lambda_max under GD), in epoch order.
    pub lambda: &'a [(usize, f64)],
    /// Its edge of stability (2/eta under GD).
    pub edge: f64,
    /// The epoch training stopped at because the loss became non-finite.
    pub diverged_at: Option<usize>,
}

/// One cell of the atlas, classified.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cell {
    pub class: Class,
    /// lambda_max at the first measurement (epoch 0 when tracked from the start).
    pub lambda_0: Option<f64>,
    /// Loss spikes detected by the rule, and how many of them began at the edge.
    pub spikes: usize,
    pub spikes_at_edge: usize,
    /// ... from a sharp start ([`Event::Catapult`]) ...
    pub spikes_catapult: usize,
    /// ... and with no lambda_max measured up to the onset.
    pub spikes_unmeasured: usize,
    /// The largest rise the rule compares with its factor (loss over the lowest of the
    /// previous `lookback` epochs).
    pub largest_factor: Option<f64>,
    pub first_spike_epoch: Option<usize>,
    /// lambda_max * eta / 2 at the last measurement (1 = the edge of stability).
    pub edge_ratio_end: Option<f64>,
    pub final_loss: f64,
}

/// Classifies a run by `rule`.
pub(crate) fn classify(run: &Run<'_>, rule: &Rule) -> Cell {
    let two = run.edge;
    let finite = run.loss.iter().all(|l| l.is_finite());
    let final_loss = run.loss.last().copied().unwrap_or(f64::NAN);
    let grew = matches!((run.loss.first(), run.loss.last()), (Some(a), Some(b)) if b > a);
    let spikes = rule.detect(run.loss);
    let events: Vec<Event> = spikes
        .iter()
        .map(|s| spikes::classify(run.epoch[s.onset], run.lambda, run.edge))
        .collect();
    let count = |e: Event| events.iter().filter(|&&x| x == e).count();
    let spikes_at_edge = count(Event::EdgeOfStability);
    let lambda_0 = run.lambda.first().map(|l| l.1);
    let reached_edge = run.lambda.iter().any(|l| l.1 >= two);
    let catapult = lambda_0.is_some_and(|l| l >= two) && run.lambda.iter().any(|l| l.1 < two);
    let class = if run.diverged_at.is_some() || !finite || grew {
        Class::Diverged
    } else if catapult {
        Class::Catapult
    } else if spikes_at_edge > 0 {
        Class::SpikeAtEdge
    } else if !spikes.is_empty() {
        Class::SpikeBelowEdge
    } else if reached_edge {
        Class::EdgeWithoutSpike
    } else {
        Class::StableBelowEdge
    };
    Cell {
        class,
        lambda_0,
        spikes: spikes.len(),
        spikes_at_edge,
        spikes_catapult: count(Event::Catapult),
        spikes_unmeasured: count(Event::Unmeasured),
        largest_factor: rule.largest_rise(run.loss).map(|r| r.1),
        first_spike_epoch: spikes.first().map(|s| run.epoch[s.onset]),
        edge_ratio_end: run.lambda.last().map(|l| l.1 / two),
        final_loss,
    }
}

/// For each cell with a spike, the index of its partner: the cell without a spike (and not
/// diverged) in the same `group` whose learning rate is nearest on a log scale (the smaller on
/// a tie). `cells`: (group, lr, spiked, diverged).
pub(crate) fn nearest_without_spike<G: PartialEq>(
    cells: &[(G, f64, bool, bool)],
) -> Vec<(usize, Option<usize>)> {
    cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.2 && !c.3)
        .map(|(i, (g, lr, _, _))| {
            let partner = cells
                .iter()
                .enumerate()
                .filter(|(_, c)| c.0 == *g && !c.2 && !c.3)
                .min_by(|(_, a), (_, b)| {
                    // The ratio, not a difference of logarithms: equal ratios tie exactly.
                    let d = |x: f64| if x > *lr { x / lr } else { lr / x };
                    d(a.1).total_cmp(&d(b.1)).then(a.1.total_cmp(&b.1))
                })
                .map(|(j, _)| j);
            (i, partner)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::spikes::PAPER_RULE;

    fn run<'a>(epoch: &'a [usize], loss: &'a [f64], lambda: &'a [(usize, f64)]) -> Run<'a> {
        Run {
            epoch,
            loss,
            lambda,
            edge: 20.0,
            diverged_at: None,
        }
    }

    /// Losses 1, 0.5, ..., with a 100x jump at index `at` (when given) that decays back.
    fn losses(n: usize, at: Option<usize>) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let base = 0.5f64.powi(i.min(6) as i32);
                match at {
                    Some(a) if i == a => base * 100.0,
                    _ => base,
                }
            })
            .collect()
    }

    #[test]
    fn each_class_from_a_log_made_for_it() {
        let epoch: Vec<usize> = (0..20).collect();
        let flat = losses(20, None);
        let spiky = losses(20, Some(12));
        let below = [(0, 5.0), (10, 10.0), (19, 10.0)];
        let edge = [(0, 5.0), (10, 25.0), (19, 19.0)];
        let sharp = [(0, 30.0), (10, 15.0), (19, 15.0)];
        let c = |loss: &[f64], l: &[(usize, f64)]| classify(&run(&epoch, loss, l), &PAPER_RULE);
        assert_eq!(c(&flat, &below).class, Class::StableBelowEdge);
        assert_eq!(c(&flat, &edge).class, Class::EdgeWithoutSpike);
        let at = c(&spiky, &edge);
        assert_eq!(at.class, Class::SpikeAtEdge);
        assert_eq!((at.spikes, at.spikes_at_edge), (1, 1));
        assert_eq!(at.first_spike_epoch, Some(12));
        assert!((at.largest_factor.unwrap() - 100.0).abs() < 1e-12);
        assert_eq!(at.lambda_0, Some(5.0));
        assert!((at.edge_ratio_end.unwrap() - 0.95).abs() < 1e-12);
        assert_eq!(c(&spiky, &below).class, Class::SpikeBelowEdge);
        let cat = c(&spiky, &sharp);
        assert_eq!(cat.class, Class::Catapult);
        // Its spike began below 2/eta after the fall (15 at epoch 10).
        assert_eq!((cat.spikes_at_edge, cat.spikes_catapult), (0, 0));
        // Sharp from the start and never below: the edge, not a catapult.
        assert_eq!(
            c(&flat, &[(0, 30.0), (19, 25.0)]).class,
            Class::EdgeWithoutSpike
        );
        let mut nan = flat.clone();
        nan[19] = f64::NAN;
        assert_eq!(c(&nan, &below).class, Class::Diverged);
        let mut grew = flat.clone();
        grew[19] = 2.0;
        assert_eq!(c(&grew, &below).class, Class::Diverged);
        let stopped = Run {
            diverged_at: Some(19),
            ..run(&epoch, &flat, &below)
        };
        assert_eq!(classify(&stopped, &PAPER_RULE).class, Class::Diverged);
        // No spike by a stricter rule.
        let strict = PAPER_RULE.with_factor(200.0);
        assert_eq!(
            classify(&run(&epoch, &spiky, &edge), &strict).class,
            Class::EdgeWithoutSpike
        );
    }

    #[test]
    fn the_partner_is_the_nearest_learning_rate_without_a_spike_in_the_same_group() {
        // (group, lr, spiked, diverged)
        let cells = [
            (0, 0.01, false, false),
            (0, 0.04, false, false),
            (0, 0.1, true, false),
            (0, 0.2, false, true),
            (0, 0.4, true, false),
            (1, 0.1, true, false),
            (1, 0.05, false, false),
            (1, 0.2, false, false),
        ];
        let pairs = nearest_without_spike(&cells);
        // 0.1 is nearer 0.04 than 0.01; the diverged 0.2 is no partner; group 1's 0.1 is as far
        // (on a log scale) from 0.05 as from 0.2: the smaller wins.
        assert_eq!(pairs, vec![(2, Some(1)), (4, Some(1)), (5, Some(6))]);
        assert_eq!(
            nearest_without_spike(&[(0, 0.1, true, false)]),
            vec![(0, None)]
        );
    }
}
