//! Loss-spike detection on a training log: the paper's rule (footnote of Sec 5.2: "when the
//! current loss is significantly greater than the loss from the previous epoch"), with the
//! comparison made against the lowest loss of the previous `lookback` epochs so that a spike that
//! rises over several epochs is found at its onset.

/// One spike, as indices into the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Spike {
    /// First epoch whose loss exceeds `factor` times the pre-spike level.
    pub onset: usize,
    /// Epoch of the highest loss before recovery.
    pub peak: usize,
    /// First epoch after the peak whose loss is back at or below `recovery` times the
    /// pre-spike level (or the last epoch of the log if it never is).
    pub end: usize,
    pub recovered: bool,
    /// The lowest loss of the `lookback` epochs before the onset.
    pub pre_loss: f64,
    pub peak_loss: f64,
}

/// The spike rule of the claim checks and of `diff`. The paper: "When the current loss is
/// significantly greater than the loss from the previous epoch, it is considered a loss spike"
/// (Sec 5.2, footnote 1). "Significantly" is read as an order of magnitude (10x); "the previous
/// epoch" as the lowest loss of the previous 100, so that a spike rising over several epochs is
/// found at its onset; the spike is over once the loss is back within 2x the pre-spike level.
pub const PAPER_RULE: Rule = Rule {
    factor: 10.0,
    lookback: 100,
    recovery: 2.0,
};

/// A spike rule: loss > `factor` x the lowest of the previous `lookback` epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub factor: f64,
    pub lookback: usize,
    pub recovery: f64,
}

impl Rule {
    pub fn detect(&self, loss: &[f64]) -> Vec<Spike> {
        detect(loss, self.factor, self.lookback, self.recovery)
    }

    /// The same rule with another factor.
    pub(crate) fn with_factor(self, factor: f64) -> Rule {
        Rule { factor, ..self }
    }

    /// The largest loss rise this rule compares against its factor: max over epochs of the loss
    /// over the lowest of the previous `lookback` (index, ratio); `None` for fewer than 2 epochs.
    pub(crate) fn largest_rise(&self, loss: &[f64]) -> Option<(usize, f64)> {
        largest_rise(loss, self.lookback)
    }
}

/// The largest ratio of a value of `series` to the lowest of its previous `lookback` values:
/// (index, ratio); `None` for fewer than 2 values.
pub(crate) fn largest_rise(series: &[f64], lookback: usize) -> Option<(usize, f64)> {
    let pre = window_min(series, lookback);
    (1..series.len())
        .map(|i| (i, series[i] / pre[i]))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The lowest of the previous `lookback` (at least 1) values before each index (infinity at 0
/// and where all are NaN: NaNs are skipped, as `f64::min` skips them), in O(n) with a
/// monotonic queue instead of O(n x lookback): the atlas runs the rule over thousands of long
/// logs.
fn window_min(series: &[f64], lookback: usize) -> Vec<f64> {
    let lookback = lookback.max(1);
    let mut queue: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut out = Vec::with_capacity(series.len());
    for (i, &v) in series.iter().enumerate() {
        while queue
            .front()
            .is_some_and(|&j| j < i.saturating_sub(lookback))
        {
            queue.pop_front();
        }
        out.push(queue.front().map_or(f64::INFINITY, |&j| series[j]));
        if v.is_nan() {
            continue;
        }
        while queue.back().is_some_and(|&j| series[j] >= v) {
            queue.pop_back();
        }
        queue.push_back(i);
    }
    out
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "loss > {}x the lowest of the previous {} epochs",
            self.factor, self.lookback
        )
    }
}

pub(crate) fn detect(loss: &[f64], factor: f64, lookback: usize, recovery: f64) -> Vec<Spike> {
    let window = window_min(loss, lookback);
    let mut spikes = Vec::new();
    let mut i = 1;
    while i < loss.len() {
        let pre = window[i];
        if loss[i] > factor * pre {
            let mut peak = i;
            let mut j = i + 1;
            while j < loss.len() && (j <= peak || loss[j] > recovery * pre) {
                if loss[j] > loss[peak] {
                    peak = j;
                }
                j += 1;
            }
            let recovered = j < loss.len();
            let end = j.min(loss.len() - 1);
            spikes.push(Spike {
                onset: i,
                peak,
                end,
                recovered,
                pre_loss: pre,
                peak_loss: loss[peak],
            });
            i = end + 1;
        } else {
            i += 1;
        }
    }
    spikes
}

/// The index of the first epoch whose loss has come down to `level` (the paper's theta_ini,m:
/// the initial-stage point with a loss similar to the spike's peak), if any.
pub(crate) fn first_at_or_below(loss: &[f64], level: f64) -> Option<usize> {
    loss.iter().position(|&l| l <= level)
}

spike_config::choice_enum! {
    /// What a loss spike is, judged by the lambda_max measured during training up to its onset.
    pub(crate) enum Event {
        /// lambda_max >= 2/lr at every measurement up to the onset: the initialisation was
        /// already sharper than GD at this learning rate can follow, and GD "catapults" out of
        /// it (Sec 2: "when the initial sharpness exceeds 2/eta, gradient descent 'catapults'
        /// into a stable region").
        Catapult = "catapult",
        /// Some measurement before the onset below 2/lr (stable training), and the last one up
        /// to the onset at 2/lr or above it, within `EDGE_TOLERANCE`: lambda_max sharpened back
        /// to the edge, where the paper's spikes happen (Sec 3.1: "the loss spikes occur at the
        /// EoS stage").
        EdgeOfStability = "edge_of_stability",
        /// The last measurement up to the onset is below the edge: not explained by linear
        /// stability.
        BelowEdge = "below_edge",
        /// No lambda_max measured up to the onset.
        Unmeasured = "unmeasured",
    }
}

/// How far below 2/lr the last lambda_max before a spike may be and still count as "at the
/// edge". lambda_max hovers at 2/lr with fluctuations of a few percent at the edge of
/// stability, and the log measures it only every `sharpness_every` epochs, so the last
/// measurement can be slightly below the value at the onset.
pub(crate) const EDGE_TOLERANCE: f64 = 0.05;

/// Classifies a spike with onset epoch `onset` from `lambda` (epoch, the run's stability
/// measure: lambda_max under GD), sorted by epoch, against the run's `edge` (2/lr under GD).
pub(crate) fn classify(onset: usize, lambda: &[(usize, f64)], edge: f64) -> Event {
    let before: Vec<f64> = lambda
        .iter()
        .filter(|(e, _)| *e <= onset)
        .map(|l| l.1)
        .collect();
    let Some(&last) = before.last() else {
        return Event::Unmeasured;
    };
    if before.iter().all(|&l| l >= edge) {
        Event::Catapult
    } else if last >= (1.0 - EDGE_TOLERANCE) * edge {
        Event::EdgeOfStability
    } else {
        Event::BelowEdge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_onset_peak_and_recovery() {
        // Flat at 1, then a spike rising 1.5x per epoch for 6 epochs, falling back below 1.
        let mut loss = vec![1.0; 20];
        let rise = [1.5, 2.25, 3.4, 5.1, 7.6, 11.4, 4.0, 1.2, 0.9, 0.8];
        loss.extend(rise);
        loss.extend(vec![0.8; 10]);
        let s = detect(&loss, 3.0, 10, 1.0);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].onset, s[0].peak, s[0].end), (22, 25, 28));
        assert!(s[0].recovered && s[0].pre_loss == 1.0 && s[0].peak_loss == 11.4);
        // The paper's rule (lookback 1) with factor 1.4 fires at the first 1.5x epoch.
        let s = detect(&loss, 1.4, 1, 1.0);
        assert_eq!(s[0].onset, 20);
        // Nothing above the factor: no spike.
        assert!(detect(&loss, 20.0, 10, 1.0).is_empty());
        // Recovery at 1.5x the pre-spike level: the epoch with loss 1.2.
        assert_eq!(detect(&loss, 3.0, 10, 1.5)[0].end, 27);
        // Not recovered by the end of the log.
        let s = detect(&loss[..26], 3.0, 10, 1.0);
        assert!(!s[0].recovered && s[0].end == 25);
        assert_eq!(first_at_or_below(&[3.0, 2.0, 1.0], 2.5), Some(1));
        // The largest rise against the lowest of the previous 10: 11.4 / 1.0 at index 25.
        let rule = Rule {
            factor: 3.0,
            lookback: 10,
            recovery: 1.0,
        };
        assert_eq!(rule.largest_rise(&loss), Some((25, 11.4)));
        assert_eq!(rule.with_factor(20.0).factor, 20.0);
        assert_eq!(rule.largest_rise(&[1.0]), None);
    }

    #[test]
    fn the_window_minimum_is_the_minimum_of_the_window() {
        let mut rng = spike_nn::rng::SeededRng::new(7);
        for lookback in [0, 1, 2, 5, 100] {
            // Ties (values on a coarse grid) and NaNs included.
            let series: Vec<f64> = (0..400)
                .map(|i| match i % 37 {
                    0 => f64::NAN,
                    _ => (rng.uniform(0.0, 8.0)).floor(),
                })
                .collect();
            let fast = window_min(&series, lookback);
            for (i, &f) in fast.iter().enumerate() {
                let naive = series[i.saturating_sub(lookback.max(1))..i]
                    .iter()
                    .cloned()
                    .fold(f64::INFINITY, f64::min);
                assert_eq!(
                    f.to_bits(),
                    naive.to_bits(),
                    "lookback {lookback}, index {i}"
                );
            }
        }
        assert!(window_min(&[f64::NAN, f64::NAN], 2)[1].is_infinite());
    }

    #[test]
    fn classifies_catapults_and_spikes_at_the_edge() {
        // lr 0.1, 2/lr = 20; the measurements of the quick cnn2 run (73 at epoch 0, then
        // sharpening) and variations.
        let run = [(0, 73.0), (50, 0.9), (100, 1.3), (1450, 19.3), (1500, 20.8)];
        assert_eq!(classify(1, &run, 20.0), Event::Catapult);
        assert_eq!(classify(1510, &run, 20.0), Event::EdgeOfStability);
        // 19.3 is within 5% of 20 (19.0); 1.3 is not.
        assert_eq!(classify(1460, &run, 20.0), Event::EdgeOfStability);
        assert_eq!(classify(120, &run, 20.0), Event::BelowEdge);
        let near = [(0, 5.0), (100, 18.9)];
        assert_eq!(classify(150, &near, 20.0), Event::BelowEdge);
        // Never below 2/lr before the onset: a catapult however late it comes.
        assert_eq!(
            classify(300, &[(0, 25.0), (100, 21.0)], 20.0),
            Event::Catapult
        );
        assert_eq!(classify(5, &[(10, 1.0)], 20.0), Event::Unmeasured);
        assert_eq!(classify(5, &[], 20.0), Event::Unmeasured);
    }
}
