//! The paper's claims as this pipeline checks them: a quoted sentence, a criterion fixed before
//! looking at results, a verdict with its measured numbers and its margin, under every reading
//! of the paper it depends on and over seeds.
//!
//! [`readings`] names the ambiguities of the paper (declared in `pipeline.yaml`), [`robust`]
//! turns the claims of every (reading, seed) variant of a figure into one verdict per claim with
//! its alternatives and seed counts.

pub mod atlas;
pub mod optim;
pub mod readings;
pub mod robust;
pub mod sec3;
pub mod sec4;
pub mod sec5;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a claim check concluded.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Supported,
    NotSupported,
    /// The run cannot decide (a premise failed, a window too short, ...); `measured` says why.
    NotTested,
    /// The run looked for the phenomenon the claim is about, within its profile's budget, and
    /// did not find it; `measured` says what it found instead.
    NotReproduced,
}

impl Verdict {
    pub fn of(supported: bool) -> Verdict {
        if supported {
            Verdict::Supported
        } else {
            Verdict::NotSupported
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Supported => "supported",
            Verdict::NotSupported => "NOT supported",
            Verdict::NotTested => "not tested",
            Verdict::NotReproduced => "not reproduced in this profile",
        })
    }
}

/// A sentence of the paper, quoted, and where it stands.
#[derive(Clone, Copy, Debug)]
pub struct Quote<'a> {
    pub text: &'a str,
    /// Section and figure.
    pub source: &'a str,
}

/// In how many seeds a verdict holds.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Seeds {
    /// Seeds run.
    pub n: usize,
    /// Seeds in which the claim is supported.
    pub supported: usize,
}

/// A claim's verdict under another reading of the paper.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Alternative {
    /// The reading (reading name -> alternative) of this verdict.
    pub reading: BTreeMap<String, String>,
    pub verdict: Verdict,
    pub measured: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<String>,
    pub seeds: Seeds,
}

/// A claim of the paper, the criterion this run is held to (fixed in code before looking at
/// results, with the reason for its threshold), and what was measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    pub id: String,
    /// The sentence of the paper this check tests, verbatim.
    pub quote: String,
    /// Where the sentence stands in the paper.
    pub source: String,
    /// The concrete test.
    pub criterion: String,
    /// The verdict under the default reading, over all seeds.
    pub verdict: Verdict,
    /// The numbers behind the verdict, or why the claim was not tested.
    pub measured: String,
    /// How far the measurement is from flipping the verdict (the deciding number against its
    /// threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<String>,
    /// The readings this verdict is under: only those the claim depends on.
    #[serde(default)]
    pub reading: BTreeMap<String, String>,
    /// The verdict under every other combination of the readings the claim depends on.
    #[serde(default)]
    pub alternatives: Vec<Alternative>,
    /// Readings the claim was also checked under that change nothing in it: reading -> the
    /// alternatives run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unaffected: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub seeds: Seeds,
}

impl Claim {
    pub fn new(
        id: &str,
        quote: Quote<'_>,
        criterion: &str,
        supported: bool,
        measured: String,
    ) -> Claim {
        Claim {
            id: id.into(),
            quote: quote.text.into(),
            source: quote.source.into(),
            criterion: criterion.into(),
            verdict: Verdict::of(supported),
            measured,
            margin: None,
            reading: BTreeMap::new(),
            alternatives: Vec::new(),
            unaffected: BTreeMap::new(),
            seeds: Seeds {
                n: 1,
                supported: usize::from(supported),
            },
        }
    }

    /// A claim this run cannot decide, with the reason.
    pub fn not_tested(id: &str, quote: Quote<'_>, criterion: &str, reason: String) -> Claim {
        Claim {
            verdict: Verdict::NotTested,
            ..Claim::new(id, quote, criterion, false, reason)
        }
    }

    /// A claim whose premise fails in this run (no spike in the spike run, not at a minimum):
    /// not tested, naming the premise.
    pub fn premise_failed(
        id: &str,
        quote: Quote<'_>,
        criterion: &str,
        premise: &str,
        found: String,
    ) -> Claim {
        Claim::not_tested(
            id,
            quote,
            criterion,
            format!("premise not met: {premise} ({found})"),
        )
    }

    /// This claim, or, when its premise failed (`failure` says how), not tested and naming the
    /// premise.
    pub fn requires(self, premise: &str, failure: Option<&str>) -> Claim {
        match failure {
            None => self,
            Some(found) => Claim::premise_failed(
                &self.id,
                Quote {
                    text: &self.quote,
                    source: &self.source,
                },
                &self.criterion,
                premise,
                found.to_string(),
            ),
        }
    }

    /// A claim whose phenomenon this run looked for and did not find.
    pub fn not_reproduced(id: &str, quote: Quote<'_>, criterion: &str, found: String) -> Claim {
        Claim {
            verdict: Verdict::NotReproduced,
            ..Claim::new(id, quote, criterion, false, found)
        }
    }

    /// With the distance of the deciding number from its threshold.
    pub fn margin(mut self, margin: String) -> Claim {
        self.margin = Some(margin);
        self
    }

    pub fn supported(&self) -> bool {
        self.verdict == Verdict::Supported
    }
}

/// `<id>.claims.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClaimsFile {
    pub figure: String,
    pub title: String,
    pub claims: Vec<Claim>,
    /// Settings of this run that differ from the paper's, and other remarks.
    pub notes: Vec<String>,
}

/// "a = x, b = y".
pub fn describe_reading(reading: &BTreeMap<String, String>) -> String {
    reading
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Claim {
    /// One line per reading: "supported under loss = half_mse (5/5 seeds); NOT supported under
    /// loss = mse (0/5)".
    pub fn robustness(&self) -> String {
        let one = |verdict: Verdict, reading: &BTreeMap<String, String>, seeds: Seeds| {
            let under = if reading.is_empty() {
                String::new()
            } else {
                format!(" under {}", describe_reading(reading))
            };
            format!("{verdict}{under} ({}/{} seeds)", seeds.supported, seeds.n)
        };
        let mut out = std::iter::once(one(self.verdict, &self.reading, self.seeds))
            .chain(
                self.alternatives
                    .iter()
                    .map(|a| one(a.verdict, &a.reading, a.seeds)),
            )
            .collect::<Vec<_>>()
            .join("; ");
        if !self.unaffected.is_empty() {
            let same: Vec<String> = self
                .unaffected
                .iter()
                .map(|(r, alts)| format!("{r} = {}", alts.join(" or ")))
                .collect();
            out.push_str(&format!("; the same under {}", same.join(", ")));
        }
        out
    }
}
