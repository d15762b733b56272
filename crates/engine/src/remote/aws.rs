//! The AWS CLI's shared configuration files, read as the CLI reads them.
#![cfg(feature = "aws")]

use std::path::PathBuf;

/// Reads `~/.aws/credentials` and `~/.aws/config` (or the files AWS_SHARED_CREDENTIALS_FILE and
/// AWS_CONFIG_FILE name) for the profile AWS_PROFILE (default `default`), as the AWS CLI does;
/// variables already set in the environment win.
pub(super) fn aws_profile() -> std::collections::HashMap<String, String> {
    use std::collections::HashMap;
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let read = |var: &str, default: PathBuf, section: &str| -> HashMap<String, String> {
        let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
        let Ok(text) = std::fs::read_to_string(path) else {
            return HashMap::new();
        };
        let mut current = String::new();
        let mut out = HashMap::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') && line.ends_with(']') {
                current = line[1..line.len() - 1].trim().to_string();
            } else if current == section
                && let Some((k, v)) = line.split_once('=')
            {
                out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        out
    };
    let mut values = read(
        "AWS_SHARED_CREDENTIALS_FILE",
        home.join(".aws/credentials"),
        &profile,
    );
    let config_section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    for (k, v) in read("AWS_CONFIG_FILE", home.join(".aws/config"), &config_section) {
        values.entry(k).or_insert(v);
    }
    values
}
