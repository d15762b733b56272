//! Where in `pipeline.yaml` an error is: serde_yaml reports the line of a syntax or shape
//! error; the line of a stage, field or reading found invalid later is recovered from the text.

use std::path::Path;

use crate::ConfigError;
use crate::suggest::closest;

pub(super) struct Ctx<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a Path,
}

impl Ctx<'_> {
    pub(super) fn err(&self, line: Option<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            also: vec![],
            file: self.file.to_path_buf(),
            line,
            column: None,
            message: message.into(),
        }
    }

    /// Line of the stage declaration `name: <stage>` (1-based).
    pub(super) fn stage_line(&self, stage: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| {
                let t = l.trim_start().trim_start_matches('-').trim();
                t.strip_prefix("name:")
                    .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == stage)
                    .unwrap_or(false)
            })
            .map(|i| i + 1)
    }

    /// First line at or after `after` (1-based) that contains `needle`, within the next stage.
    pub(super) fn line_after(&self, after: Option<usize>, needle: &str) -> Option<usize> {
        let start = after?;
        for (i, l) in self.text.lines().enumerate().skip(start - 1) {
            if i + 1 > start && l.trim_start().starts_with("- name:") {
                break;
            }
            if l.contains(needle) {
                return Some(i + 1);
            }
        }
        after
    }
}

pub(super) fn yaml_error(file: &Path, e: &serde_yaml::Error) -> ConfigError {
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; we print the location in front instead.
    if let Some(pos) = message.find(" at line ") {
        message.truncate(pos);
    }
    if let Some(rest) = message.split("unknown field `").nth(1) {
        let field = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> = rest
            .split_once("expected ")
            .map(|(_, list)| {
                list.trim_start_matches("one of ")
                    .split([',', ' '])
                    .map(|s| s.trim().trim_matches('`'))
                    .filter(|s| !s.is_empty() && *s != "or")
                    .collect()
            })
            .unwrap_or_default();
        if let Some(c) = closest(field, &expected) {
            message.push_str(&format!(" (did you mean `{c}`?)"));
        }
    }
    ConfigError {
        also: vec![],
        file: file.to_path_buf(),
        line: e.location().map(|l| l.line()),
        column: e.location().map(|l| l.column()),
        message,
    }
}
