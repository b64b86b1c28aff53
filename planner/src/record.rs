//! The planner's record in a trace: how the answer was reached (the fast
//! path, the search tree with its rollouts and vote, the parameter search),
//! typed and versioned ([`SCHEMA`]). The runtime stores it as the trace
//! extension [`KEY`] without reading it; this module writes it, reads it
//! back (also from traces written before it had a schema) and renders it
//! for `vprog trace show` and the HTML report.

use serde::{Deserialize, Serialize};
use vprog_runtime::trace::report::{ExtensionSection, ReportExtension};

use crate::fast_slow::{ReasonConfig, Reasoning};
use crate::mcts::{Node, Rollout, Tree};
use crate::plan::{Planner, PlannerConfig};
use crate::prompt::Question;
use crate::search::SearchOutcome;

/// The schema of the record.
pub const SCHEMA: &str = "vprog.planner/1";

/// The trace extension the record is stored under.
pub const KEY: &str = "planner";

/// The report section's template.
const TEMPLATE: &str = include_str!("record.html");

fn no_schema() -> String {
    "vprog.planner/0".into()
}

/// How the program of a trace was planned (`vprog ask`, `eval`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannerRecord {
    /// [`SCHEMA`]; `vprog.planner/0` for records written before it had one.
    #[serde(default = "no_schema")]
    pub schema: String,
    /// The language-model backend, described.
    pub backend: String,
    /// Whether decoding was constrained.
    #[serde(default)]
    pub constrained: bool,
    /// The question planned for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<Question>,
    /// How the planner asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PlannerConfig>,
    /// The fast–slow reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
    /// Its settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_config: Option<ReasonConfig>,
    /// The slow path's program search, when it ran (the tree, the rollouts,
    /// the vote; [`Reasoning::search`] is not serialised with the reasoning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchOutcome>,
}

impl PlannerRecord {
    /// The record of `reasoning` by `planner` on `question`.
    pub fn new(planner: &Planner, question: &Question, reasoning: &Reasoning, config: &ReasonConfig) -> PlannerRecord {
        PlannerRecord {
            schema: SCHEMA.into(),
            backend: planner.backend().describe(),
            constrained: planner.constrained(),
            question: Some(question.clone()),
            config: Some(planner.config().clone()),
            reasoning: Some(reasoning.clone()),
            reason_config: Some(config.clone()),
            search: reasoning.search.clone(),
        }
    }

    /// The record as the trace stores it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Reads a stored record: this schema or one written before it.
    pub fn from_json(value: &serde_json::Value) -> Result<PlannerRecord, String> {
        let record = PlannerRecord::deserialize(value).map_err(|e| format!("not a planner record: {e}"))?;
        if record.schema != SCHEMA && record.schema != no_schema() {
            return Err(format!("planner record schema `{}`, this vprog reads `{SCHEMA}`", record.schema));
        }
        Ok(record)
    }

    /// The program search, when one ran.
    pub fn search(&self) -> Option<&SearchOutcome> {
        self.search.as_ref()
    }

    /// Seconds the whole reasoning took, when the record has it: the trace's
    /// own run is only the final re-run of the chosen program.
    pub fn reasoning_seconds(&self) -> Option<f64> {
        self.reasoning.as_ref().map(|r| r.seconds)
    }

    /// One line: backend, decoding, strategy and what the search spent.
    pub fn summary(&self) -> String {
        let decoding = if self.constrained { "constrained decoding" } else { "unconstrained" };
        match self.search() {
            Some(s) => format!(
                "{} ({decoding}), {} search: {} iterations, {} LLM calls, {} module executions + {} cache hits, {} invalid programs",
                self.backend, s.strategy, s.tree.iterations, s.spent.llm_calls, s.spent.executions, s.spent.cached_steps, s.spent.invalid
            ),
            None => format!("{} ({decoding}), no search", self.backend),
        }
    }

    /// Fast–slow reasoning in a few lines: which path answered and why, each
    /// path's answer, the parameter search's trials.
    pub fn reasoning_lines(&self) -> Vec<String> {
        let Some(r) = &self.reasoning else { return Vec::new() };
        let mut out = vec![format!(
            "path {} (mode {}, θ {:.3} from {}): {}",
            r.path.map_or("none", |p| p.as_str()),
            r.mode.as_str(),
            r.theta.value,
            r.theta.source,
            r.reason
        )];
        let path_line = |name: &str, ro: &Rollout, secs: f64, calls: usize| {
            let what = match (&ro.answer, &ro.error) {
                // The answer's summary already quotes the option and its confidence.
                (Some(a), _) if a.contains("(confidence ") => format!("answer {a}"),
                (Some(a), _) => format!("answer {a}, confidence {:.3}", ro.confidence),
                (None, Some(e)) => format!("no answer: {}", first_line(e)),
                _ => "no answer".into(),
            };
            format!("{name}: {what} ({secs:.1} s, {calls} language-model requests)")
        };
        if let Some(f) = &r.fast {
            out.push(path_line("fast path", f, r.fast_seconds, r.fast_llm_calls));
        }
        match (&r.slow, &r.slow_error) {
            (Some(s), _) => out.push(path_line("slow path", s, r.slow_seconds, r.slow_llm_calls)),
            (None, Some(e)) => out.push(format!("slow path: no answer: {}", first_line(e))),
            (None, None) => {}
        }
        if let Some(p) = &r.params {
            for (i, t) in p.trials.iter().enumerate() {
                let ro = &t.rollout;
                let what = match &ro.answer {
                    Some(a) if a.contains("(confidence ") => a.clone(),
                    Some(a) => format!("{a} at {:.3}", ro.confidence),
                    None => format!("no answer ({})", ro.error.as_deref().map(first_line).unwrap_or("")),
                };
                out.push(format!("parameter search: {} -> {what}{}", t.change, if i == p.kept { "  [kept]" } else { "" }));
            }
        }
        out
    }

    /// The search tree as text, depth first: each node with its visits and
    /// mean reward, each rollout below its node with its program.
    pub fn tree_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(s) = self.search() else { return out };
        for (node, depth) in depth_first(&s.tree) {
            let pad = "  ".repeat(depth + 1);
            let label = if node.id == 0 { "(empty program)".to_string() } else { node.step.lines().collect::<Vec<_>>().join(" ; ") };
            out.push(format!("{pad}[{}] {label}   {} visits, mean {:.2}", node.id, node.visits, mean(node)));
            for r in node.rollouts.iter().filter_map(|&i| s.tree.rollouts.get(i)) {
                let outcome = match (&r.answer, &r.error) {
                    (Some(a), _) => format!("answer {a:?}, confidence {:.2}", r.confidence),
                    (None, Some(e)) => format!("no answer: {}", first_line(e)),
                    _ => "no answer".to_string(),
                };
                out.push(format!("{pad}  ↳ rollout: reward {:.2}, {outcome}", r.reward));
                out.extend(r.program.lines().map(|l| format!("{pad}      {l}")));
            }
        }
        out
    }

    /// The votes as `answer = weight (n rollouts)`.
    pub fn vote_lines(&self) -> Vec<String> {
        self.search()
            .map(|s| s.votes.iter().map(|v| format!("{} = {:.2} ({} rollouts)", v.answer, v.weight, v.rollouts)).collect())
            .unwrap_or_default()
    }

    /// The record as `vprog trace show` prints it: the reasoning, then the
    /// search tree with each node's visits and mean reward, each rollout's
    /// program and outcome, and the vote. Starts with an empty line.
    pub fn show_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let reasoning = self.reasoning_lines();
        if !reasoning.is_empty() {
            out.push("\nreasoning:".to_string());
            out.extend(reasoning.into_iter().map(|l| format!("  {l}")));
        }
        if self.search().is_none() {
            return out;
        }
        out.push(format!("\nplanner: {}", self.summary()));
        out.push("search tree (node: visits, mean reward; rollouts below their node):".to_string());
        out.extend(self.tree_lines());
        let votes = self.vote_lines();
        if !votes.is_empty() {
            out.push(format!("votes: {}", votes.join("; ")));
        }
        out
    }

    /// The report's planner section (HTML, values escaped).
    pub fn html(&self) -> Result<String, String> {
        #[derive(Serialize)]
        struct RolloutView {
            reward: String,
            outcome: String,
            program: String,
        }
        #[derive(Serialize)]
        struct NodeView {
            id: usize,
            indent: usize,
            step: String,
            visits: usize,
            mean: String,
            rollouts: Vec<RolloutView>,
        }
        let search = self.search();
        let nodes: Vec<NodeView> = search
            .map(|s| {
                depth_first(&s.tree)
                    .into_iter()
                    .map(|(n, depth)| NodeView {
                        id: n.id,
                        indent: depth * 18,
                        step: if n.id == 0 { "(empty program)".to_string() } else { n.step.clone() },
                        visits: n.visits,
                        mean: format!("{:.2}", mean(n)),
                        rollouts: n
                            .rollouts
                            .iter()
                            .filter_map(|&i| s.tree.rollouts.get(i))
                            .map(|r| RolloutView {
                                reward: format!("{:.2}", r.reward),
                                outcome: match (&r.answer, &r.error) {
                                    (Some(a), _) => format!("answer {a:?}, confidence {:.2}", r.confidence),
                                    (None, Some(e)) => format!("no answer: {e}"),
                                    _ => "no answer".into(),
                                },
                                program: r.program.clone(),
                            })
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let votes: Vec<(String, String, usize)> = search
            .map(|s| s.votes.iter().map(|v| (v.answer.clone(), format!("{:.2}", v.weight), v.rollouts)).collect())
            .unwrap_or_default();
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_template("planner.html", TEMPLATE).map_err(|e| e.to_string())?;
        let tpl = env.get_template("planner.html").map_err(|e| e.to_string())?;
        tpl.render(minijinja::context! {
            reasoning => self.reasoning_lines(),
            has_search => search.is_some(),
            summary => self.summary(),
            votes => votes,
            nodes => nodes,
        })
        .map_err(|e| e.to_string())
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn mean(n: &Node) -> f64 {
    if n.visits > 0 {
        n.value / n.visits as f64
    } else {
        0.0
    }
}

/// The nodes of `tree` in depth-first order from the root, with their depth.
/// A damaged record (a child id out of range, a cycle) cannot loop: each
/// node is visited once.
fn depth_first(tree: &Tree) -> Vec<(&Node, usize)> {
    let mut out = Vec::new();
    let mut seen = vec![false; tree.nodes.len()];
    let mut stack = vec![(0usize, 0usize)];
    while let Some((id, depth)) = stack.pop() {
        let Some(n) = tree.nodes.get(id) else { continue };
        if std::mem::replace(&mut seen[id], true) {
            continue;
        }
        out.push((n, depth));
        for &c in n.children.iter().rev() {
            stack.push((c, depth + 1));
        }
    }
    out
}

/// The planner's section of the HTML report
/// ([`vprog_runtime::trace::report::render_report_with`]).
pub struct PlannerReport;

impl ReportExtension for PlannerReport {
    fn key(&self) -> &str {
        KEY
    }

    fn section(&self, record: &serde_json::Value) -> Result<ExtensionSection, String> {
        let record = PlannerRecord::from_json(record)?;
        Ok(ExtensionSection { html: record.html()?, answered_in_seconds: record.reasoning_seconds() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy() -> serde_json::Value {
        // The shape `vprog ask` wrote before the record had a schema: the
        // search at the top level; node 2 names itself and the root as
        // children (a damaged file).
        serde_json::json!({
            "backend": "local:x", "constrained": true,
            "search": {
                "strategy": "mcts",
                "tree": {
                    "nodes": [
                        {"id": 0, "parent": null, "step": "", "depth": 0, "terminal": false, "visits": 2, "value": 1.0, "children": [1, 2], "exhausted": false, "rollouts": []},
                        {"id": 1, "parent": 0, "step": "a = 1", "depth": 1, "terminal": false, "visits": 1, "value": 1.0, "children": [], "exhausted": false, "rollouts": [0]},
                        {"id": 2, "parent": 0, "step": "b = 2", "depth": 1, "terminal": false, "visits": 1, "value": 0.0, "children": [2, 0, 9], "exhausted": false, "rollouts": [5]}
                    ],
                    "rollouts": [{"program": "a = 1\nanswer a", "reward": 1.0, "answer": "1", "confidence": 0.9, "error": null, "details": null}],
                    "iterations": 2, "stopped": "iterations"
                },
                "votes": [{"answer": "1", "weight": 0.9, "rollouts": 1}],
                "answer": "1", "program": "a = 1\nanswer a",
                "spent": {"llm_calls": 3, "executions": 1, "cheap_calls": 0, "llm_steps": 0, "cached_steps": 0, "runs": 1, "invalid": 0, "wall_ms": 5.0},
                "budget": {"llm_calls": 10, "executions": 10, "wall": {"secs": 60, "nanos": 0}},
                "config": {"iterations": 2, "max_children": 3, "max_depth": 6, "exploration": 1.4, "discount": 1.0}
            }
        })
    }

    #[test]
    fn a_record_without_a_schema_reads_and_renders_every_node_once() {
        let r = PlannerRecord::from_json(&legacy()).expect("reads");
        assert_eq!(r.schema, "vprog.planner/0");
        assert!(r.summary().contains("mcts search: 2 iterations, 3 LLM calls"), "{}", r.summary());
        let lines = r.tree_lines();
        assert_eq!(lines.iter().filter(|l| l.contains("visits, mean")).count(), 3, "{lines:?}");
        assert_eq!(lines.iter().filter(|l| l.contains("↳ rollout")).count(), 1, "rollout 5 does not exist: {lines:?}");
        assert_eq!(r.vote_lines(), vec!["1 = 0.90 (1 rollouts)".to_string()]);
        let html = r.html().expect("renders");
        assert!(html.contains("Search tree") && html.contains("[2] b = 2"), "{html}");
        assert!(r.reasoning_seconds().is_none(), "no reasoning recorded");
    }

    #[test]
    fn values_are_escaped_and_foreign_schemas_refused() {
        let mut v = legacy();
        v["search"]["tree"]["nodes"][1]["step"] = serde_json::json!("<script>alert(1)</script>");
        let html = PlannerRecord::from_json(&v).and_then(|r| r.html()).expect("renders");
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
        v["schema"] = serde_json::json!("vprog.planner/9");
        assert!(PlannerRecord::from_json(&v).expect_err("refused").contains("vprog.planner/9"));
        assert!(PlannerRecord::from_json(&serde_json::json!({"constrained": 3})).is_err());
    }
}
