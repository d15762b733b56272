//! "Did you mean ...?" for misspelt names.

/// ` (did you mean `x`?)` for the closest candidate, or nothing when none is close.
pub fn did_you_mean(given: &str, candidates: &[&str]) -> String {
    closest(given, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

pub fn closest<'a>(given: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(given, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(given.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(closest("nedds", &["name", "needs", "kind"]), Some("needs"));
        assert_eq!(closest("parms", &["params", "matrix"]), Some("params"));
        assert_eq!(closest("zzzzzz", &["params", "matrix"]), None);
    }
}
