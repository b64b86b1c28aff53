//! A labelled multiple-choice set: one JSON object per line with `id`,
//! `video`, `question`, `options`, `answer` (an index or an option's text)
//! and an optional `type`. Every problem names the file and line.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// One question of a labelled set.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Unique id (letters, digits, `.`, `_`, `-`): the name of its trace directory.
    pub id: String,
    /// Position in the file, from 0.
    pub index: usize,
    /// The video, relative to `--videos`.
    pub video: String,
    /// The question.
    pub question: String,
    /// The options.
    pub options: Vec<String>,
    /// Index of the right option.
    pub answer: usize,
    /// Question type (`untyped` when not given).
    pub kind: String,
}

#[derive(Deserialize)]
struct RawItem {
    id: String,
    video: String,
    question: String,
    options: Vec<String>,
    answer: serde_json::Value,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Reads a labelled set; every problem names the file and line.
pub fn read_set(path: &Path) -> Result<Vec<Item>, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read the labelled set", path))?;
    let mut items = Vec::new();
    let mut ids = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::Line { path: path.to_path_buf(), line: n + 1, reason };
        let raw: RawItem = serde_json::from_str(line)
            .map_err(|e| bad(format!("not an item (a JSON object with id, video, question, options, answer, optional type): {e}")))?;
        if raw.id.is_empty() || !raw.id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) || raw.id.starts_with('.') {
            return Err(bad(format!("id `{}` must be letters, digits, `.`, `_` or `-` (it names the item's trace directory)", raw.id)));
        }
        if !ids.insert(raw.id.clone()) {
            return Err(bad(format!("id `{}` is used twice", raw.id)));
        }
        if raw.question.trim().is_empty() {
            return Err(bad("the question is empty".into()));
        }
        if raw.options.len() < 2 || raw.options.iter().any(|o| o.trim().is_empty()) {
            return Err(bad("give at least two options, none empty".into()));
        }
        let answer = match &raw.answer {
            serde_json::Value::Number(i) => i.as_u64().map(|i| i as usize).filter(|&i| i < raw.options.len()),
            serde_json::Value::String(s) => raw.options.iter().position(|o| o.trim() == s.trim()),
            _ => None,
        };
        let Some(answer) = answer else {
            return Err(bad(format!("answer {} is neither an option's index (0..{}) nor an option's text", raw.answer, raw.options.len())));
        };
        items.push(Item {
            id: raw.id,
            index: items.len(),
            video: raw.video,
            question: raw.question,
            options: raw.options,
            answer,
            kind: raw.kind.unwrap_or_else(|| "untyped".into()),
        });
    }
    if items.is_empty() {
        return Err(Error::File { path: path.to_path_buf(), reason: "no items".into() });
    }
    Ok(items)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn bench_lines_are_checked_with_their_line_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("b.jsonl");
        let good = r#"{"id":"a-1","video":"v.mp4","question":"q?","options":["x","y"],"answer":"y","type":"said"}"#;
        std::fs::write(&p, format!("{good}\n\n{}\n", good.replace("a-1", "a-2").replace("\"y\",\"type\"", "0,\"type\""))).expect("write");
        let items = read_set(&p).expect("reads");
        assert_eq!((items[0].answer, items[1].answer, items[1].index), (1, 0, 1));
        for (line, needle) in [
            (good.replace("a-1", "b-1").replace("\"y\",\"type\"", "\"z\",\"type\""), "neither"),
            (good.replace("a-1", "../x"), "letters"),
            (good.replace("a-1", "b-1").replace("[\"x\",\"y\"]", "[\"x\"]"), "two options"),
            ("not json".to_string(), "not an item"),
        ] {
            std::fs::write(&p, format!("{good}\n{line}\n")).expect("write");
            let e = format!("{}", read_set(&p).expect_err("refused"));
            assert!(e.contains(":2:") && e.contains(needle), "{e}");
        }
        std::fs::write(&p, format!("{good}\n{good}\n")).expect("write");
        assert!(format!("{}", read_set(&p).expect_err("refused")).contains("used twice"));
    }

    /// A two-option item whose right answer is the first.
    pub(crate) fn sample_item(id: &str, kind: &str) -> Item {
        Item {
            id: id.into(),
            index: 0,
            video: "v".into(),
            question: "q".into(),
            options: vec!["x".into(), "y".into()],
            answer: 0,
            kind: kind.into(),
        }
    }
}
