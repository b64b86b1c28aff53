//! Planner validity on NExT-QA questions (`vprog plan-eval`): how many
//! questions get a valid program before and after repair, with how many
//! language-model calls, and which findings the invalid attempts had.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use vprog_planner::plan::{Attempt, Planned};
use vprog_planner::prompt::Question;
use vprog_planner::Planner;

use crate::Error;

/// One NExT-QA row (`video,frame_count,width,height,question,answer,qid,type,a0..a4`).
#[derive(Debug, serde::Deserialize)]
pub struct Row {
    /// The video id.
    pub video: String,
    /// The question.
    pub question: String,
    /// The question id.
    pub qid: String,
    /// Its type (`CW`, `TN`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Option 0.
    pub a0: String,
    /// Option 1.
    pub a1: String,
    /// Option 2.
    pub a2: String,
    /// Option 3.
    pub a3: String,
    /// Option 4.
    pub a4: String,
}

impl Row {
    /// The row as a question with its five options.
    pub fn question(&self) -> Question {
        Question::new(&self.question).with_options(vec![
            self.a0.clone(),
            self.a1.clone(),
            self.a2.clone(),
            self.a3.clone(),
            self.a4.clone(),
        ])
    }
}

/// Rows `offset..offset + limit` of the NExT-QA CSV at `path`.
pub fn read_rows(path: &Path, offset: usize, limit: usize) -> Result<Vec<Row>, Error> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| Error::File { path: path.to_path_buf(), reason: format!("cannot read: {e}") })?;
    let mut rows = Vec::new();
    for (i, r) in reader.deserialize::<Row>().enumerate().skip(offset).take(limit) {
        rows.push(r.map_err(|e| Error::Line {
            path: path.to_path_buf(),
            line: i + 2,
            reason: format!("not a NExT-QA row (video,frame_count,width,height,question,answer,qid,type,a0..a4): {e}"),
        })?);
    }
    if rows.is_empty() {
        return Err(Error::File { path: path.to_path_buf(), reason: format!("no questions after skipping {offset}") });
    }
    Ok(rows)
}

/// What planning one row gave: a line of `--out`.
#[derive(Serialize)]
pub struct RowResult<'a> {
    /// The row's video.
    pub video: &'a str,
    /// Its question id.
    pub qid: &'a str,
    /// Its type.
    pub kind: &'a str,
    /// The question.
    pub question: &'a str,
    /// Whether the first attempt was valid.
    pub valid_first: bool,
    /// Whether a valid program came out, repaired or not.
    pub valid: bool,
    /// Language-model calls.
    pub llm_calls: usize,
    /// Milliseconds.
    pub ms: f64,
    /// The valid program.
    pub program: Option<&'a str>,
    /// Every attempt, with its findings.
    pub attempts: &'a [Attempt],
    /// The backend's error, when planning failed.
    pub error: Option<String>,
}

/// The summary of a plan-eval run.
#[derive(Debug, Serialize)]
pub struct PlanEvalSummary {
    /// The backend, described.
    pub backend: String,
    /// Whether decoding was constrained.
    pub constrained: bool,
    /// Repair rounds allowed.
    pub repair_rounds: usize,
    /// Questions planned.
    pub questions: usize,
    /// Valid at the first attempt.
    pub valid_before_repair: usize,
    /// Valid after repair.
    pub valid_after_repair: usize,
    /// `valid_before_repair / questions`.
    pub share_valid_before_repair: f64,
    /// `valid_after_repair / questions`.
    pub share_valid_after_repair: f64,
    /// Mean language-model calls per question.
    pub mean_llm_calls: f64,
    /// Mean seconds per question.
    pub mean_seconds_per_question: f64,
    /// Questions the backend failed on.
    pub backend_errors: usize,
    /// Finding codes of the attempts that were invalid, with counts.
    pub findings: BTreeMap<String, usize>,
}

/// Plans every row with `planner` on `rt`, calling `on_row` with each row's
/// position (from 1) and result.
pub fn plan_eval(
    planner: &Planner,
    rt: &tokio::runtime::Runtime,
    rows: &[Row],
    on_row: &mut dyn FnMut(usize, &RowResult<'_>) -> Result<(), Error>,
) -> Result<PlanEvalSummary, Error> {
    let mut s = PlanEvalSummary {
        backend: planner.backend().describe(),
        constrained: planner.constrained(),
        repair_rounds: planner.config().repair_rounds,
        questions: rows.len(),
        valid_before_repair: 0,
        valid_after_repair: 0,
        share_valid_before_repair: 0.0,
        share_valid_after_repair: 0.0,
        mean_llm_calls: 0.0,
        mean_seconds_per_question: 0.0,
        backend_errors: 0,
        findings: BTreeMap::new(),
    };
    let (mut calls, mut secs) = (0usize, 0f64);
    for (i, row) in rows.iter().enumerate() {
        let t0 = Instant::now();
        let result = rt.block_on(planner.plan(&row.question()));
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        secs += ms / 1000.0;
        let (planned, error) = match result {
            Ok(p) => (Some(p), None),
            Err(e) => {
                s.backend_errors += 1;
                (None, Some(e.to_string()))
            }
        };
        let valid_first = planned.as_ref().is_some_and(Planned::valid_first);
        let valid = planned.as_ref().is_some_and(|p| p.program.is_some());
        let llm_calls = planned.as_ref().map_or(0, Planned::llm_calls);
        s.valid_before_repair += usize::from(valid_first);
        s.valid_after_repair += usize::from(valid);
        calls += llm_calls;
        for a in planned.iter().flat_map(|p| &p.attempts) {
            for f in &a.findings {
                *s.findings.entry(f.code.clone()).or_default() += 1;
            }
        }
        let line = RowResult {
            video: &row.video,
            qid: &row.qid,
            kind: &row.kind,
            question: &row.question,
            valid_first,
            valid,
            llm_calls,
            ms,
            program: planned.as_ref().and_then(|p| p.program.as_ref()).map(|c| c.source.as_str()),
            attempts: planned.as_ref().map_or(&[], |p| p.attempts.as_slice()),
            error,
        };
        on_row(i + 1, &line)?;
    }
    let n = rows.len().max(1) as f64;
    s.share_valid_before_repair = s.valid_before_repair as f64 / n;
    s.share_valid_after_repair = s.valid_after_repair as f64 / n;
    s.mean_llm_calls = calls as f64 / n;
    s.mean_seconds_per_question = secs / n;
    Ok(s)
}
