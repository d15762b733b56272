//! `spike-pipe dag`: the stage graph as text or Graphviz.

use spike_config::Pipeline;

/// One line per stage in topological order: name, kind, and what it needs.
pub fn text(pipeline: &Pipeline) -> String {
    let width = pipeline
        .stages
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for s in &pipeline.stages {
        let needs: Vec<String> = s
            .needs
            .iter()
            .map(|(role, names)| {
                let list = names.join(", ");
                if names.len() == 1 && *role == names[0] {
                    list
                } else {
                    format!("{role}: {list}")
                }
            })
            .collect();
        let arrow = if needs.is_empty() {
            String::new()
        } else {
            format!("  <- {}", needs.join("; "))
        };
        out.push_str(&format!("{:width$}  [{}]{arrow}\n", s.name, s.kind));
    }
    out
}

/// `dag --json`: each stage (in plan order) with its kind, matrix values and needs by role.
pub fn json(pipeline: &Pipeline) -> serde_json::Value {
    serde_json::Value::Array(
        pipeline
            .stages
            .iter()
            .map(|s| {
                serde_json::json!({
                    "stage": s.name,
                    "kind": s.kind,
                    "matrix": spike_config::params_to_json(&s.matrix),
                    "needs": s.needs,
                })
            })
            .collect(),
    )
}

pub fn dot(pipeline: &Pipeline) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::from(
        "digraph pipeline {\n  rankdir=LR;\n  node [shape=box, fontname=\"sans-serif\"];\n",
    );
    for s in &pipeline.stages {
        out.push_str(&format!(
            "  {} [label={}];\n",
            quote(&s.name),
            quote(&format!("{}\\n[{}]", s.name, s.kind))
        ));
    }
    for s in &pipeline.stages {
        for (role, names) in &s.needs {
            for n in names {
                let label = if role == n {
                    String::new()
                } else {
                    format!(" [label={}]", quote(role))
                };
                out.push_str(&format!("  {} -> {}{label};\n", quote(n), quote(&s.name)));
            }
        }
    }
    out.push_str("}\n");
    out
}
