//! Accuracy of a run: overall, per question type, per path that answered
//! and, when both paths ran on every item, fast only, slow only and auto;
//! with mean time and language-model requests. `summary.json` and
//! `summary.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::result::ItemResult;
use crate::{write_atomic, Error};

/// Accuracy of a group.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    /// Items.
    pub items: usize,
    /// Right answers.
    pub correct: usize,
    /// `correct / items`.
    pub accuracy: f64,
}

impl Tally {
    fn add(&mut self, correct: bool) {
        self.items += 1;
        self.correct += usize::from(correct);
        self.accuracy = self.correct as f64 / self.items as f64;
    }
}

/// `summary.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// All items.
    pub overall: Tally,
    /// Per question type.
    pub by_type: BTreeMap<String, Tally>,
    /// Per path that answered (`none` when none did, `error` when the item could not run).
    pub by_path: BTreeMap<String, Tally>,
    /// With both paths on every item (`--mode compare`): each alone, and auto.
    pub compare: Option<BTreeMap<String, Tally>>,
    /// Mean seconds per item.
    pub mean_seconds: f64,
    /// Mean language-model requests per item.
    pub mean_llm_calls: f64,
    /// Items that could not run.
    pub errors: usize,
}

impl Summary {
    /// The summary in a few lines: accuracy, cost and errors; each path
    /// alone (compare mode); accuracy by type and by path.
    pub fn report_lines(&self) -> Vec<String> {
        let errors = if self.errors > 0 { format!("; {} items could not run", self.errors) } else { String::new() };
        let mut lines = vec![format!(
            "accuracy: {:.1}% ({} of {}); mean {:.1} s, {:.1} language-model requests per item{errors}",
            100.0 * self.overall.accuracy,
            self.overall.correct,
            self.overall.items,
            self.mean_seconds,
            self.mean_llm_calls,
        )];
        for (k, t) in self.compare.iter().flatten() {
            lines.push(format!("  {k:<10} {:>5.1}% ({} of {})", 100.0 * t.accuracy, t.correct, t.items));
        }
        for (label, group) in [("type", &self.by_type), ("path", &self.by_path)] {
            let list: Vec<String> =
                group.iter().map(|(k, t)| format!("{k} {:.0}% ({}/{})", 100.0 * t.accuracy, t.correct, t.items)).collect();
            lines.push(format!("  by {label}: {}", list.join(", ")));
        }
        lines
    }
}

/// Summarises results.
pub fn summarise(results: &[ItemResult]) -> Summary {
    let mut s = Summary {
        overall: Tally::default(),
        by_type: BTreeMap::new(),
        by_path: BTreeMap::new(),
        compare: None,
        mean_seconds: 0.0,
        mean_llm_calls: 0.0,
        errors: 0,
    };
    for r in results {
        s.overall.add(r.correct);
        s.by_type.entry(r.kind.clone()).or_default().add(r.correct);
        let path = if r.error.is_some() { "error" } else { r.path.map_or("none", |p| p.as_str()) };
        s.by_path.entry(path.to_string()).or_default().add(r.correct);
        s.errors += usize::from(r.error.is_some());
    }
    let n = results.len().max(1) as f64;
    s.mean_seconds = results.iter().map(|r| r.seconds).sum::<f64>() / n;
    s.mean_llm_calls = results.iter().map(|r| r.llm_calls as f64).sum::<f64>() / n;
    if !results.is_empty() && results.iter().all(|r| r.fast.is_some() && r.slow.is_some()) {
        let mut c: BTreeMap<String, Tally> = BTreeMap::new();
        for r in results {
            c.entry("fast only".into()).or_default().add(r.fast.as_ref().is_some_and(|f| f.correct));
            c.entry("slow only".into()).or_default().add(r.slow.as_ref().is_some_and(|f| f.correct));
            c.entry("auto".into()).or_default().add(r.correct);
        }
        s.compare = Some(c);
    }
    s
}

/// `summary.md`: the summary as Markdown tables under `title`.
pub fn markdown(s: &Summary, title: &str) -> String {
    let row = |name: &str, t: &Tally| format!("| {name} | {} | {} | {:.1}% |\n", t.items, t.correct, 100.0 * t.accuracy);
    let mut md = format!("# {title}\n\n");
    md.push_str(&format!(
        "{} items, accuracy **{:.1}%** ({} right); mean {:.1} s and {:.1} language-model requests per item; {} could not run.\n\n",
        s.overall.items,
        100.0 * s.overall.accuracy,
        s.overall.correct,
        s.mean_seconds,
        s.mean_llm_calls,
        s.errors
    ));
    if let Some(c) = &s.compare {
        md.push_str("## Fast only, slow only, auto\n\n| strategy | items | right | accuracy |\n|---|---|---|---|\n");
        for k in ["fast only", "slow only", "auto"] {
            if let Some(t) = c.get(k) {
                md.push_str(&row(k, t));
            }
        }
        md.push('\n');
    }
    md.push_str("## Per question type\n\n| type | items | right | accuracy |\n|---|---|---|---|\n");
    for (k, t) in &s.by_type {
        md.push_str(&row(k, t));
    }
    md.push_str("\n## Per path\n\n| path | items | right | accuracy |\n|---|---|---|---|\n");
    for (k, t) in &s.by_path {
        md.push_str(&row(k, t));
    }
    md
}

/// Summarises `results` into `dir` (`summary.json`, `summary.md`).
pub fn write_summary(dir: &Path, results: &[ItemResult], title: &str) -> Result<Summary, Error> {
    let s = summarise(results);
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let json = serde_json::to_string_pretty(&s).map_err(|e| Error::File { path: dir.join("summary.json"), reason: e.to_string() })?;
    write_atomic(&dir.join("summary.json"), &json)?;
    write_atomic(&dir.join("summary.md"), &markdown(&s, title))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::failed_item;
    use crate::set::tests::sample_item;
    use vprog_planner::fast_slow::AnswerPath;

    #[test]
    fn summaries_count_per_type_and_path() {
        let item = sample_item("a", "said");
        let mut right = failed_item(&item, "e".into(), 1.0);
        right.error = None;
        right.correct = true;
        right.path = Some(AnswerPath::Fast);
        let wrong = failed_item(&sample_item("a", "count"), "no video".into(), 3.0);
        let s = summarise(&[right, wrong]);
        assert_eq!((s.overall.items, s.overall.correct, s.errors), (2, 1, 1));
        assert_eq!(s.by_type["said"].accuracy, 1.0);
        assert_eq!(s.by_path["fast"].correct, 1);
        assert_eq!(s.by_path["error"].items, 1);
        assert_eq!(s.mean_seconds, 2.0);
        assert!(s.compare.is_none());
        assert!(markdown(&s, "t").contains("| said | 1 | 1 | 100.0% |"));
    }
}
