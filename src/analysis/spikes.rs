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
pub(crate) const PAPER_RULE: Rule = Rule {
    factor: 10.0,
    lookback: 100,
    recovery: 2.0,
};

/// A spike rule: loss > `factor` x the lowest of the previous `lookback` epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rule {
    pub factor: f64,
    pub lookback: usize,
    pub recovery: f64,
}

impl Rule {
    pub(crate) fn detect(&self, loss: &[f64]) -> Vec<Spike> {
        detect(loss, self.factor, self.lookback, self.recovery)
    }
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
    let lookback = lookback.max(1);
    let mut spikes = Vec::new();
    let mut i = 1;
    while i < loss.len() {
        let from = i.saturating_sub(lookback);
        let pre = loss[from..i].iter().cloned().fold(f64::INFINITY, f64::min);
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
    }
}
