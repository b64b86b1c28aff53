//! Planner validity on NExT-QA questions (`vprog plan-eval`): how many
//! questions get a valid program before and after repair, with how many
//! language-model calls, and which findings the invalid attempts had.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use vprog_planner::plan::{Attempt, Planned};
use vprog_planner::prompt::Question;
use vprog_planner::usefulness::{judge, question_kind, Judgement};
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

/// Which part of a question set, split by video so that no video has
/// questions on both sides: methods and settings are chosen on `Dev`, and
/// `Test` is only measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Every question.
    All,
    /// The videos whose [`split_of`] is `Dev` (about half).
    Dev,
    /// The others.
    Test,
}

/// `all`, `dev` or `test`, as `--split` takes it.
pub fn parse_split(s: &str) -> Result<Split, String> {
    match s.trim() {
        "all" => Ok(Split::All),
        "dev" => Ok(Split::Dev),
        "test" => Ok(Split::Test),
        other => Err(format!("`{other}` is not a split; use all, dev or test")),
    }
}

/// The split a video belongs to: the low bit of the first byte of the
/// BLAKE3 hash of its id (stable across runs, machines and file orders).
pub fn split_of(video: &str) -> Split {
    if blake3::hash(video.as_bytes()).as_bytes()[0] & 1 == 0 {
        Split::Dev
    } else {
        Split::Test
    }
}

/// Which questions of a CSV to plan for.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    /// The part of the set.
    pub split: Split,
    /// Questions of the split skipped first.
    pub offset: usize,
    /// Most questions.
    pub limit: usize,
    /// Take `limit` questions spread evenly over the split (after `offset`)
    /// instead of the first ones, so that every part of the file is sampled.
    pub spread: bool,
}

/// The questions of the NExT-QA CSV at `path` that `selection` picks, in
/// file order.
pub fn read_rows(path: &Path, selection: Selection) -> Result<Vec<Row>, Error> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| Error::File { path: path.to_path_buf(), reason: format!("cannot read: {e}") })?;
    let mut rows = Vec::new();
    for (i, r) in reader.deserialize::<Row>().enumerate() {
        let row = r.map_err(|e| Error::Line {
            path: path.to_path_buf(),
            line: i + 2,
            reason: format!("not a NExT-QA row (video,frame_count,width,height,question,answer,qid,type,a0..a4): {e}"),
        })?;
        if selection.split == Split::All || split_of(&row.video) == selection.split {
            rows.push(row);
        }
    }
    let rows: Vec<Row> = rows.into_iter().skip(selection.offset).collect();
    let n = rows.len();
    let rows: Vec<Row> = if selection.spread && selection.limit > 0 && n > selection.limit {
        // Row ⌊i·n/limit⌋ for i < limit: evenly spaced, first row included.
        let picks: Vec<usize> = (0..selection.limit).map(|i| i * n / selection.limit).collect();
        rows.into_iter().enumerate().filter(|(i, _)| picks.binary_search(i).is_ok()).map(|(_, r)| r).collect()
    } else {
        rows.into_iter().take(selection.limit).collect()
    };
    if rows.is_empty() {
        return Err(Error::File {
            path: path.to_path_buf(),
            reason: format!("no questions in {:?} after skipping {}", selection.split, selection.offset),
        });
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
    /// Whether the model wrote a valid program, repaired or not.
    pub valid: bool,
    /// Why the fallback program stands in, when it does.
    pub fallback: Option<String>,
    /// The usefulness judgement of the program (the model's or the fallback).
    pub usefulness: Option<Judgement>,
    /// Language-model calls.
    pub llm_calls: usize,
    /// Milliseconds.
    pub ms: f64,
    /// The valid program: the model's, or the fallback.
    pub program: Option<&'a str>,
    /// Every attempt, with its findings.
    pub attempts: &'a [Attempt],
    /// The backend's error, when planning failed.
    pub error: Option<String>,
}

/// Usefulness per question kind.
#[derive(Debug, Default, Clone, Serialize)]
pub struct KindTally {
    /// Questions of the kind.
    pub questions: usize,
    /// Programs with evidence from the video.
    pub evidence: usize,
    /// Programs using a module relevant to the kind.
    pub relevant: usize,
    /// Useful programs.
    pub useful: usize,
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
    /// Valid after repair (written by the model).
    pub valid_after_repair: usize,
    /// Questions given the fallback program instead.
    pub fallback: usize,
    /// `fallback / questions`.
    pub share_fallback: f64,
    /// Questions with a useful program ([`vprog_planner::usefulness`]),
    /// the model's or the fallback.
    pub useful: usize,
    /// `useful / questions`.
    pub share_useful: f64,
    /// Of the model's valid programs, how many are useful.
    pub useful_from_model: usize,
    /// Questions whose program is a revision written for usefulness
    /// ([`vprog_planner::PlannerConfig::revision_rounds`]).
    pub revised: usize,
    /// Revision rounds allowed.
    pub revision_rounds: usize,
    /// Whether the kind example was shown before each question
    /// ([`vprog_planner::PlannerConfig::kind_example`]).
    pub kind_example: bool,
    /// Per question kind: questions, programs using a relevant module, useful programs.
    pub by_kind: BTreeMap<String, KindTally>,
    /// `valid_before_repair / questions`.
    pub share_valid_before_repair: f64,
    /// `valid_after_repair / questions`.
    pub share_valid_after_repair: f64,
    /// Mean language-model calls per question.
    pub mean_llm_calls: f64,
    /// Mean seconds per question.
    pub mean_seconds_per_question: f64,
    /// Median seconds per question.
    pub p50_seconds: f64,
    /// 95th-percentile seconds per question.
    pub p95_seconds: f64,
    /// Questions the backend failed on.
    pub backend_errors: usize,
    /// Finding codes of the attempts that were invalid, with counts.
    pub findings: BTreeMap<String, usize>,
}

impl PlanEvalSummary {
    /// The summary as `vprog plan-eval` prints it, a line each.
    pub fn report_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "backend:               {} ({})",
                self.backend,
                if self.constrained { "constrained decoding" } else { "unconstrained" }
            ),
            format!("questions:             {}", self.questions),
            format!("valid before repair:   {} ({:.1}%)", self.valid_before_repair, 100.0 * self.share_valid_before_repair),
            format!(
                "valid after repair:    {} ({:.1}%, up to {} rounds)",
                self.valid_after_repair,
                100.0 * self.share_valid_after_repair,
                self.repair_rounds
            ),
            format!("fallback:              {} ({:.1}%)", self.fallback, 100.0 * self.share_fallback),
            format!(
                "useful:                {} ({:.1}%; {} of the model's {} valid programs)",
                self.useful,
                100.0 * self.share_useful,
                self.useful_from_model,
                self.valid_after_repair
            ),
            format!("revised for usefulness: {} (up to {} rounds)", self.revised, self.revision_rounds),
            format!("kind example:          {}", if self.kind_example { "shown" } else { "not shown" }),
            format!("mean LLM calls:        {:.2}", self.mean_llm_calls),
            format!(
                "time per question:     mean {:.1} s, median {:.1} s, 95th percentile {:.1} s",
                self.mean_seconds_per_question, self.p50_seconds, self.p95_seconds
            ),
        ];
        for (kind, t) in &self.by_kind {
            lines.push(format!(
                "  {kind:<15} {:>4} questions: evidence {:>4}, relevant module {:>4}, useful {:>4}",
                t.questions, t.evidence, t.relevant, t.useful
            ));
        }
        if self.backend_errors > 0 {
            lines.push(format!("backend errors:        {}", self.backend_errors));
        }
        if !self.findings.is_empty() {
            let list: Vec<String> = self.findings.iter().map(|(k, v)| format!("{k} x{v}")).collect();
            lines.push(format!("findings:              {}", list.join(", ")));
        }
        lines
    }
}

impl RowResult<'_> {
    /// `[N/TOTAL] VERDICT SECONDS QUESTION (ERROR)`: the progress line of
    /// `vprog plan-eval`.
    pub fn progress_line(&self, n: usize, total: usize) -> String {
        let verdict = match (self.valid_first, self.valid, self.fallback.is_some()) {
            (true, ..) => "valid         ",
            (false, true, _) => "valid repaired",
            (false, false, true) => "FALLBACK      ",
            (false, false, false) => "INVALID       ",
        };
        let verdict = match &self.usefulness {
            Some(j) if !j.useful => format!("{verdict} (not useful)"),
            _ => verdict.to_string(),
        };
        let error = self.error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default();
        format!("[{n}/{total}] {verdict} {:>5.1}s  {}{error}", self.ms / 1000.0, self.question)
    }
}

/// Plans every row with `planner` on `rt`, writing each row's result as a
/// JSON line to `out` (when given) and calling `on_row` with its position
/// (from 1).
pub fn plan_eval(
    planner: &Planner,
    rt: &tokio::runtime::Runtime,
    rows: &[Row],
    out: Option<&Path>,
    on_row: &mut dyn FnMut(usize, &RowResult<'_>),
) -> Result<PlanEvalSummary, Error> {
    use std::io::Write as _;
    let io = |path: &Path, e: std::io::Error| Error::Io { action: "write", path: path.to_path_buf(), error: e };
    let mut out = match out {
        Some(p) => Some((std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| io(p, e))?), p)),
        None => None,
    };
    let mut s = PlanEvalSummary {
        backend: planner.backend().describe(),
        constrained: planner.constrained(),
        repair_rounds: planner.config().repair_rounds,
        questions: rows.len(),
        valid_before_repair: 0,
        valid_after_repair: 0,
        fallback: 0,
        share_fallback: 0.0,
        useful: 0,
        share_useful: 0.0,
        useful_from_model: 0,
        revised: 0,
        revision_rounds: planner.config().revision_rounds,
        kind_example: planner.config().kind_example,
        by_kind: BTreeMap::new(),
        share_valid_before_repair: 0.0,
        share_valid_after_repair: 0.0,
        mean_llm_calls: 0.0,
        mean_seconds_per_question: 0.0,
        p50_seconds: 0.0,
        p95_seconds: 0.0,
        backend_errors: 0,
        findings: BTreeMap::new(),
    };
    let (mut calls, mut times) = (0usize, Vec::with_capacity(rows.len()));
    let config = planner.config();
    for (i, row) in rows.iter().enumerate() {
        let t0 = Instant::now();
        let result = rt.block_on(planner.plan_or_fallback(&row.question(), config.seed, config.temperature));
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        times.push(ms / 1000.0);
        let (planned, error) = match result {
            Ok(p) => (Some(p), None),
            Err(e) => {
                s.backend_errors += 1;
                (None, Some(e.to_string()))
            }
        };
        let valid_first = planned.as_ref().is_some_and(Planned::valid_first);
        let valid = planned.as_ref().is_some_and(Planned::valid_from_model);
        let fallback = planned.as_ref().and_then(|p| p.fallback.clone());
        let llm_calls = planned.as_ref().map_or(0, Planned::llm_calls);
        s.valid_before_repair += usize::from(valid_first);
        s.valid_after_repair += usize::from(valid);
        s.fallback += usize::from(fallback.is_some());
        s.revised += usize::from(planned.as_ref().is_some_and(Planned::revised));
        let plan = planned.as_ref().and_then(|p| p.program.as_ref()).and_then(|c| c.plan.as_ref());
        let usefulness = plan.map(|plan| judge(&row.question, plan, planner.registry()));
        let kind = s.by_kind.entry(question_kind(&row.question).as_str().to_string()).or_default();
        kind.questions += 1;
        if let Some(j) = &usefulness {
            kind.evidence += usize::from(j.evidence);
            kind.relevant += usize::from(j.relevant);
            kind.useful += usize::from(j.useful);
            s.useful += usize::from(j.useful);
            s.useful_from_model += usize::from(j.useful && valid);
        }
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
            fallback,
            usefulness,
            llm_calls,
            ms,
            program: planned.as_ref().and_then(|p| p.program.as_ref()).map(|c| c.source.as_str()),
            attempts: planned.as_ref().map_or(&[], |p| p.attempts.as_slice()),
            error,
        };
        if let Some((w, path)) = out.as_mut() {
            serde_json::to_writer(&mut *w, &line).map_err(|e| io(path, e.into()))?;
            writeln!(w).map_err(|e| io(path, e))?;
        }
        on_row(i + 1, &line);
    }
    if let Some((mut w, path)) = out {
        w.flush().map_err(|e| io(path, e))?;
    }
    let n = rows.len().max(1) as f64;
    s.share_valid_before_repair = s.valid_before_repair as f64 / n;
    s.share_valid_after_repair = s.valid_after_repair as f64 / n;
    s.mean_llm_calls = calls as f64 / n;
    s.share_fallback = s.fallback as f64 / n;
    s.share_useful = s.useful as f64 / n;
    s.mean_seconds_per_question = times.iter().sum::<f64>() / n;
    times.sort_by(f64::total_cmp);
    s.p50_seconds = percentile(&times, 0.5);
    s.p95_seconds = percentile(&times, 0.95);
    Ok(s)
}

/// The `q` quantile of sorted `values` (nearest rank); 0 when empty.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(rows: &[(&str, &str)]) -> tempfile::NamedTempFile {
        let mut text = String::from("video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n");
        for (video, q) in rows {
            text.push_str(&format!("{video},10,640,480,{q},0,1,CW,a,b,c,d,e\n"));
        }
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), text).expect("write");
        f
    }

    #[test]
    fn splits_keep_each_video_on_one_side_and_spread_samples_the_whole_split() {
        let videos: Vec<String> = (0..40).map(|i| format!("{}", 4_000_000_000u64 + i * 7919)).collect();
        let rows: Vec<(&str, &str)> = videos.iter().flat_map(|v| [(v.as_str(), "why q1"), (v.as_str(), "how q2")]).collect();
        let f = csv(&rows);
        let pick = |split, limit, spread| read_rows(f.path(), Selection { split, offset: 0, limit, spread }).expect("rows");
        let (dev, test) = (pick(Split::Dev, 1000, false), pick(Split::Test, 1000, false));
        assert_eq!(dev.len() + test.len(), 80);
        assert!(dev.len() >= 20 && test.len() >= 20, "a lopsided split: {} / {}", dev.len(), test.len());
        assert!(dev.iter().all(|d| test.iter().all(|t| t.video != d.video)), "a video on both sides");
        assert!(dev.iter().all(|r| split_of(&r.video) == Split::Dev));
        // Spread: evenly over the split, the first row included.
        let spread = pick(Split::All, 4, true);
        let qids: Vec<&str> = spread.iter().map(|r| r.video.as_str()).collect();
        assert_eq!(qids, [&videos[0], &videos[10], &videos[20], &videos[30]].map(String::as_str));
        assert_eq!(pick(Split::All, 4, false).len(), 4);
        let none = read_rows(f.path(), Selection { split: Split::All, offset: 80, limit: 5, spread: false });
        assert!(matches!(none, Err(Error::File { .. })));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 10.0);
        assert_eq!(percentile(&v, 0.95), 19.0);
        assert_eq!(percentile(&[], 0.95), 0.0);
    }
}
