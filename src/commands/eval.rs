//! `vprog eval` (a labelled multiple-choice set, resumable and shardable),
//! `vprog eval-summary` (merging shards) and `vprog calibrate` (choosing θ).
//!
//! An output directory holds
//! - `eval.json`: what was run (the set's BLAKE3, mode, shard, settings);
//! - `results.jsonl`: one line per finished item, appended and synced after
//!   the item's trace is written. A run killed at any moment loses at most
//!   the item in progress, which runs again on resume; a line cut short by
//!   the kill is dropped. Finished items are never run twice.
//! - `items/<id>/`: each item's trace (`vprog trace show`, `vprog report`);
//! - `summary.json`, `summary.md`: accuracy per question type and per path,
//!   mean time and language-model requests; with `--mode compare` also the
//!   fast-only, slow-only and auto accuracies;
//! - `.lock`: held while a run writes, so two runs never share a directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};
use vprog_planner::calibrate::{calibrate, CostBudget, Observation};
use vprog_planner::mcts::Rollout;
use vprog_planner::prompt::Question;
use vprog_planner::reason::{Path as ReasonPath, Reasoning};

use super::reason::{calibration_path, Session};
use crate::cli::{CalibrateArgs, EvalArgs, EvalSummaryArgs, ReasonMode};

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
pub fn read_bench(path: &Path) -> anyhow::Result<Vec<Item>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the labelled set {}", path.display()))?;
    let mut items = Vec::new();
    let mut ids = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        let raw: RawItem = serde_json::from_str(line)
            .with_context(|| format!("{}: not an item (a JSON object with id, video, question, options, answer, optional type)", at()))?;
        if raw.id.is_empty() || !raw.id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) || raw.id.starts_with('.') {
            bail!("{}: id `{}` must be letters, digits, `.`, `_` or `-` (it names the item's trace directory)", at(), raw.id);
        }
        if !ids.insert(raw.id.clone()) {
            bail!("{}: id `{}` is used twice", at(), raw.id);
        }
        if raw.question.trim().is_empty() {
            bail!("{}: the question is empty", at());
        }
        if raw.options.len() < 2 || raw.options.iter().any(|o| o.trim().is_empty()) {
            bail!("{}: give at least two options, none empty", at());
        }
        let answer = match &raw.answer {
            serde_json::Value::Number(i) => i.as_u64().map(|i| i as usize).filter(|&i| i < raw.options.len()),
            serde_json::Value::String(s) => raw.options.iter().position(|o| o.trim() == s.trim()),
            _ => None,
        };
        let Some(answer) = answer else {
            bail!("{}: answer {} is neither an option's index (0..{}) nor an option's text", at(), raw.answer, raw.options.len());
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
        bail!("{}: no items", path.display());
    }
    Ok(items)
}

/// One path's result on one item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathResult {
    /// Its answer (an option's text).
    pub answer: Option<String>,
    /// Its confidence.
    pub confidence: f64,
    /// Whether it was right.
    pub correct: bool,
    /// Seconds it took.
    pub seconds: f64,
    /// Language-model requests it made.
    pub llm_calls: usize,
    /// Why it gave no answer.
    pub error: Option<String>,
}

/// One finished item: a line of `results.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemResult {
    /// The item's id.
    pub id: String,
    /// Its position in the set.
    pub index: usize,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The question.
    pub question: String,
    /// The right option.
    pub expected: String,
    /// The answer given.
    pub answer: Option<String>,
    /// Whether it was right.
    pub correct: bool,
    /// Which path answered.
    pub path: Option<ReasonPath>,
    /// Why.
    pub reason: String,
    /// The answer's confidence.
    pub confidence: f64,
    /// The fast path, when it ran.
    pub fast: Option<PathResult>,
    /// The slow path, when it ran.
    pub slow: Option<PathResult>,
    /// Seconds for the item (reasoning and trace).
    pub seconds: f64,
    /// Language-model requests.
    pub llm_calls: usize,
    /// The trace directory, relative to the output directory.
    pub trace: String,
    /// Why the item could not run (unreadable video, ...).
    pub error: Option<String>,
}

/// What a run of a directory was, checked on resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    schema: String,
    bench: String,
    bench_blake3: String,
    mode: String,
    shard: Option<(usize, usize)>,
    settings: serde_json::Value,
}

const META_SCHEMA: &str = "vprog.eval/1";

/// `results.jsonl`: finished items, appended one synced line at a time.
struct Journal {
    file: File,
    results: Vec<ItemResult>,
}

impl Journal {
    /// Opens (or creates) the journal; a last line cut short by a kill is
    /// dropped from the file, any other unreadable line is an error.
    fn open(path: &Path) -> anyhow::Result<Journal> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut text = String::new();
        file.read_to_string(&mut text).with_context(|| format!("cannot read {}", path.display()))?;
        let (results, complete) = parse_results(&text, path)?;
        if complete < text.len() {
            tracing::warn!("{}: dropping a last line cut short ({} bytes) by an interrupted run", path.display(), text.len() - complete);
            file.set_len(complete as u64).with_context(|| format!("cannot truncate {}", path.display()))?;
            file.seek(SeekFrom::End(0))?;
        }
        Ok(Journal { file, results })
    }

    fn done(&self) -> BTreeSet<String> {
        self.results.iter().map(|r| r.id.clone()).collect()
    }

    /// Appends one result and syncs it to disk before returning.
    fn append(&mut self, r: ItemResult) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(&r)?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).context("cannot append to results.jsonl")?;
        self.file.sync_data().context("cannot sync results.jsonl")?;
        self.results.push(r);
        Ok(())
    }
}

/// The results in the text of a `results.jsonl` and the length of its
/// complete lines: a last line without its newline was cut short by a kill
/// and is not a result; any other unreadable line is an error.
fn parse_results(text: &str, path: &Path) -> anyhow::Result<(Vec<ItemResult>, usize)> {
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut results = Vec::new();
    for (n, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        results.push(serde_json::from_str(line).with_context(|| format!("{}:{}: not a result line", path.display(), n + 1))?);
    }
    Ok((results, complete))
}

fn read_results(dir: &Path) -> anyhow::Result<Vec<ItemResult>> {
    let path = dir.join("results.jsonl");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {} (is it a `vprog eval` directory?)", path.display()))?;
    Ok(parse_results(&text, &path)?.0)
}

fn path_result(r: &Rollout, seconds: f64, llm_calls: usize, expected: &str) -> PathResult {
    PathResult {
        answer: r.answer.clone(),
        confidence: r.confidence,
        correct: r.answer.as_deref().is_some_and(|a| a.trim() == expected.trim()),
        seconds,
        llm_calls,
        error: r.error.clone(),
    }
}

fn item_result(item: &Item, r: &Reasoning, seconds: f64, trace: String) -> ItemResult {
    let expected = item.options[item.answer].clone();
    let fast = r.fast.as_ref().map(|f| path_result(f, r.fast_seconds, r.fast_llm_calls, &expected));
    let slow = r.search.as_ref().map(|_| match &r.slow {
        Some(s) => path_result(s, r.slow_seconds, r.slow_llm_calls, &expected),
        None => PathResult {
            answer: None,
            confidence: 0.0,
            correct: false,
            seconds: r.slow_seconds,
            llm_calls: r.slow_llm_calls,
            error: r.slow_error.clone(),
        },
    });
    ItemResult {
        id: item.id.clone(),
        index: item.index,
        kind: item.kind.clone(),
        question: item.question.clone(),
        correct: r.answer.as_deref().is_some_and(|a| a.trim() == expected.trim()),
        expected,
        answer: r.answer.clone(),
        path: r.path,
        reason: r.reason.clone(),
        confidence: r.confidence,
        fast,
        slow,
        seconds,
        llm_calls: r.llm_calls,
        trace,
        error: None,
    }
}

fn failed_item(item: &Item, error: String, seconds: f64) -> ItemResult {
    ItemResult {
        id: item.id.clone(),
        index: item.index,
        kind: item.kind.clone(),
        question: item.question.clone(),
        expected: item.options[item.answer].clone(),
        answer: None,
        correct: false,
        path: None,
        reason: error.clone(),
        confidence: 0.0,
        fast: None,
        slow: None,
        seconds,
        llm_calls: 0,
        trace: String::new(),
        error: Some(error),
    }
}

fn mode_name(mode: ReasonMode) -> &'static str {
    match mode {
        ReasonMode::Auto => "auto",
        ReasonMode::Fast => "fast",
        ReasonMode::Slow => "slow",
        ReasonMode::Compare => "compare",
    }
}

/// Holds `<dir>/.lock` for the life of the value.
struct DirLock(#[allow(dead_code)] File);

fn lock(dir: &Path) -> anyhow::Result<DirLock> {
    let path = dir.join(".lock");
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("{} is in use by another `vprog eval` or `vprog calibrate`; wait for it or use another --out", dir.display())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// Runs (or resumes) the set in `args` into `out`; the results of every item
/// of the shard, old and new.
fn run_set(
    bench: &Path,
    videos: &Path,
    out: &Path,
    shard: Option<(usize, usize)>,
    limit: Option<usize>,
    reason: &crate::cli::ReasonArgs,
) -> anyhow::Result<Vec<ItemResult>> {
    let items = read_bench(bench)?;
    let bytes = std::fs::read(bench).with_context(|| format!("cannot read {}", bench.display()))?;
    std::fs::create_dir_all(out.join("items")).with_context(|| format!("cannot create {}", out.display()))?;
    let _lock = lock(out)?;
    let config = super::reason::config(reason)?;
    let meta = Meta {
        schema: META_SCHEMA.into(),
        bench: bench.display().to_string(),
        bench_blake3: blake3::hash(&bytes).to_hex().to_string(),
        mode: mode_name(reason.mode).into(),
        shard,
        settings: serde_json::json!({
            "llm": reason.llm.llm, "model": reason.llm.model, "seed": reason.llm.seed, "theta": config.theta,
            "search": format!("{:?}", reason.search).to_lowercase(), "iterations": reason.iterations,
            "max_llm_calls": reason.max_llm_calls, "param_variants": reason.param_variants,
            "fast_frames": reason.fast_frames, "scan_fps": reason.scan_fps, "scan_frames": reason.scan_frames, "answer_model": reason.answer_model,
        }),
    };
    let meta_path = out.join("eval.json");
    if meta_path.is_file() {
        let old: Meta = serde_json::from_str(&std::fs::read_to_string(&meta_path)?)
            .with_context(|| format!("{} is not a vprog eval record", meta_path.display()))?;
        let differs: Vec<String> = [
            (
                "labelled set (BLAKE3)",
                old.bench_blake3 != meta.bench_blake3,
                &old.bench_blake3[..12.min(old.bench_blake3.len())],
                &meta.bench_blake3[..12],
            ),
            ("mode", old.mode != meta.mode, old.mode.as_str(), meta.mode.as_str()),
        ]
        .iter()
        .filter(|(_, d, _, _)| *d)
        .map(|(what, _, a, b)| format!("{what}: {a} before, {b} now"))
        .chain((old.shard != meta.shard).then(|| format!("shard: {:?} before, {:?} now", old.shard, meta.shard)))
        .collect();
        if !differs.is_empty() {
            bail!(
                "{} holds results of another run ({}); resume with the same set, mode and shard, or use another --out",
                out.display(),
                differs.join("; ")
            );
        }
        if old.settings != meta.settings {
            tracing::warn!(
                "{}: resuming with other settings than the first run ({} before, {} now)",
                out.display(),
                old.settings,
                meta.settings
            );
        }
    } else {
        std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)?)
            .with_context(|| format!("cannot write {}", meta_path.display()))?;
    }

    let mut journal = Journal::open(&out.join("results.jsonl"))?;
    let mine: Vec<&Item> =
        items.iter().filter(|i| shard.is_none_or(|(k, n)| i.index % n == k - 1)).take(limit.unwrap_or(usize::MAX)).collect();
    let done = journal.done();
    let todo: Vec<&Item> = mine.iter().copied().filter(|i| !done.contains(&i.id)).collect();
    let kept = mine.len() - todo.len();
    if kept > 0 {
        errln!("eval: resuming {}: {kept} of {} items already done", out.display(), mine.len());
    }

    if !todo.is_empty() {
        let session = Session::new(reason, config, false)?;
        let bar = indicatif::ProgressBar::new(mine.len() as u64).with_position(kept as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        for item in todo {
            bar.set_message(item.id.clone());
            let t0 = Instant::now();
            let trace_rel = format!("items/{}", item.id);
            let result = match answer_item(&session, videos, item, &out.join(&trace_rel)) {
                Ok(r) => item_result(item, &r, t0.elapsed().as_secs_f64(), trace_rel),
                Err(e) => failed_item(item, crate::output::chain(&e), t0.elapsed().as_secs_f64()),
            };
            let line = format!(
                "[{}/{}] {} {} {} ({:.2}) {:.1}s",
                bar.position() + 1,
                mine.len(),
                item.id,
                result.path.map_or("error", |p| p.as_str()),
                if result.correct { "right" } else { "wrong" },
                result.confidence,
                result.seconds
            );
            if bar.is_hidden() {
                errln!("{line}");
            } else {
                bar.println(line);
            }
            journal.append(result)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
    }
    let ids: BTreeSet<&str> = mine.iter().map(|i| i.id.as_str()).collect();
    Ok(journal.results.into_iter().filter(|r| ids.contains(r.id.as_str())).collect())
}

fn answer_item(session: &Session, videos: &Path, item: &Item, trace: &Path) -> anyhow::Result<Reasoning> {
    let path = videos.join(&item.video);
    let video = vprog_modules::video::open_video(&path, None).map_err(anyhow::Error::from)?;
    let question = Question { text: item.question.clone(), options: item.options.clone(), video: super::llm::facts(&video) };
    let (reasoning, _) = session.answer(Arc::clone(&video), &question, trace)?;
    Ok(reasoning)
}

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

fn markdown(s: &Summary, title: &str) -> String {
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

fn write_summary(dir: &Path, results: &[ItemResult], title: &str) -> anyhow::Result<Summary> {
    let s = summarise(results);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomic(&dir.join("summary.json"), &serde_json::to_string_pretty(&s)?)?;
    write_atomic(&dir.join("summary.md"), &markdown(&s, title))?;
    Ok(s)
}

fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn print_summary(s: &Summary) {
    outln!(
        "accuracy: {:.1}% ({} of {}); mean {:.1} s, {:.1} language-model requests per item{}",
        100.0 * s.overall.accuracy,
        s.overall.correct,
        s.overall.items,
        s.mean_seconds,
        s.mean_llm_calls,
        if s.errors > 0 { format!("; {} items could not run", s.errors) } else { String::new() }
    );
    if let Some(c) = &s.compare {
        for (k, t) in c {
            outln!("  {k:<10} {:>5.1}% ({} of {})", 100.0 * t.accuracy, t.correct, t.items);
        }
    }
    for (label, group) in [("type", &s.by_type), ("path", &s.by_path)] {
        let list: Vec<String> = group.iter().map(|(k, t)| format!("{k} {:.0}% ({}/{})", 100.0 * t.accuracy, t.correct, t.items)).collect();
        outln!("  by {label}: {}", list.join(", "));
    }
}

pub fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let results = run_set(&args.bench, &args.videos, &args.out, args.shard, args.limit, &args.reason)?;
    let title = format!("vprog eval: {} ({})", args.bench.display(), mode_name(args.reason.mode));
    let s = write_summary(&args.out, &results, &title)?;
    print_summary(&s);
    errln!("results: {}  (summary.md, summary.json, items/<id>/ traces)", args.out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn summary(args: EvalSummaryArgs) -> anyhow::Result<ExitCode> {
    let mut all: BTreeMap<String, ItemResult> = BTreeMap::new();
    for dir in &args.dirs {
        for r in read_results(dir)? {
            if let Some(old) = all.insert(r.id.clone(), r) {
                bail!("item `{}` appears in more than one directory (shards overlap?)", old.id);
            }
        }
    }
    let results: Vec<ItemResult> = all.into_values().collect();
    let s = match &args.out {
        Some(out) => write_summary(out, &results, "vprog eval (merged)")?,
        None => summarise(&results),
    };
    print_summary(&s);
    Ok(ExitCode::SUCCESS)
}

/// The observation of one item run with both paths.
fn observation(r: &ItemResult) -> Option<Observation> {
    let (f, s) = (r.fast.as_ref()?, r.slow.as_ref()?);
    Some(Observation {
        fast: f.answer.as_ref().map(|_| f.confidence),
        fast_correct: f.correct,
        slow: s.answer.as_ref().map(|_| s.confidence),
        slow_correct: s.correct,
        fast_seconds: f.seconds,
        slow_seconds: s.seconds,
        fast_llm_calls: f.llm_calls,
        slow_llm_calls: s.llm_calls,
    })
}

pub fn calibrate_cmd(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let mut reason = args.reason.clone();
    reason.mode = ReasonMode::Compare;
    let results = run_set(&args.bench, &args.videos, &args.out, None, args.limit, &reason)?;
    let title = format!("vprog calibrate: {} (both paths)", args.bench.display());
    write_summary(&args.out, &results, &title)?;
    let obs: Vec<Observation> = results.iter().filter_map(observation).collect();
    let budget = CostBudget { mean_seconds: args.max_seconds, mean_llm_calls: args.max_llm_calls_per_question };
    let source = serde_json::json!({
        "bench": args.bench.display().to_string(),
        "items": results.len(),
        "errors": results.iter().filter(|r| r.error.is_some()).count(),
        "run": args.out.display().to_string(),
        "llm": reason.llm.llm,
        "answer_model": reason.answer_model,
        "search": format!("{:?}", reason.search).to_lowercase(),
        "iterations": reason.iterations,
        "seed": reason.llm.seed,
    });
    let c = calibrate(&obs, budget, source)?;
    let text = serde_json::to_string_pretty(&c)?;
    write_atomic(&args.out.join("calibration.json"), &text)?;
    let store: PathBuf = match args.store.clone().or_else(calibration_path) {
        Some(p) => p,
        None => bail!("no place to store the calibration: give --store FILE"),
    };
    if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomic(&store, &text)?;
    outln!("θ = {:.4}: auto accuracy {:.1}% on {} questions", c.theta, 100.0 * c.accuracy, c.questions);
    outln!("  fast only {:.1}%, slow only {:.1}%", 100.0 * c.fast_accuracy, 100.0 * c.slow_accuracy);
    outln!(
        "  slow path on {:.0}% of questions; mean {:.1} s, {:.1} language-model requests per question",
        100.0 * c.slow_share,
        c.mean_seconds,
        c.mean_llm_calls
    );
    outln!("  θ     accuracy  slow   s/question  requests");
    for p in &c.curve {
        outln!(
            "  {:.3}  {:>6.1}%  {:>4.0}%  {:>9.1}  {:>8.1}{}",
            p.theta,
            100.0 * p.accuracy,
            100.0 * p.slow_share,
            p.mean_seconds,
            p.mean_llm_calls,
            if p.within_budget { "" } else { "  (over budget)" }
        );
    }
    errln!("stored: {} (vprog ask and eval read it; --theta overrides)", store.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_lines_are_checked_with_their_line_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("b.jsonl");
        let good = r#"{"id":"a-1","video":"v.mp4","question":"q?","options":["x","y"],"answer":"y","type":"said"}"#;
        std::fs::write(&p, format!("{good}\n\n{}\n", good.replace("a-1", "a-2").replace("\"y\",\"type\"", "0,\"type\""))).expect("write");
        let items = read_bench(&p).expect("reads");
        assert_eq!((items[0].answer, items[1].answer, items[1].index), (1, 0, 1));
        for (line, needle) in [
            (good.replace("a-1", "b-1").replace("\"y\",\"type\"", "\"z\",\"type\""), "neither"),
            (good.replace("a-1", "../x"), "letters"),
            (good.replace("a-1", "b-1").replace("[\"x\",\"y\"]", "[\"x\"]"), "two options"),
            ("not json".to_string(), "not an item"),
        ] {
            std::fs::write(&p, format!("{good}\n{line}\n")).expect("write");
            let e = format!("{:#}", read_bench(&p).expect_err("refused"));
            assert!(e.contains(":2:") && e.contains(needle), "{e}");
        }
        std::fs::write(&p, format!("{good}\n{good}\n")).expect("write");
        assert!(format!("{:#}", read_bench(&p).expect_err("refused")).contains("used twice"));
    }

    /// A two-option item whose right answer is the first.
    fn sample_item(id: &str, kind: &str) -> Item {
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

    #[test]
    fn a_torn_last_line_is_dropped_and_appends_continue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("results.jsonl");
        let item = sample_item("a", "t");
        let r = failed_item(&item, "boom".into(), 0.5);
        let line = serde_json::to_string(&r).expect("json");
        std::fs::write(&p, format!("{line}\n{}", &line[..line.len() / 2])).expect("write");
        let mut j = Journal::open(&p).expect("opens");
        assert_eq!(j.done().into_iter().collect::<Vec<_>>(), vec!["a".to_string()]);
        j.append(failed_item(&sample_item("b", "t"), "boom".into(), 0.5)).expect("appends");
        drop(j);
        let again = Journal::open(&p).expect("opens");
        assert_eq!(again.results.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        // A damaged line in the middle is an error, not silently skipped.
        std::fs::write(&p, format!("garbage\n{line}\n")).expect("write");
        assert!(format!("{:#}", Journal::open(&p).err().expect("refused")).contains(":1: not a result line"));
    }

    #[test]
    fn summaries_count_per_type_and_path() {
        let item = sample_item("a", "said");
        let mut right = failed_item(&item, "e".into(), 1.0);
        right.error = None;
        right.correct = true;
        right.path = Some(ReasonPath::Fast);
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
