//! Fast–slow reasoning, after FS-VisPR.
//!
//! 1. **Fast path**: one fixed program ([`fast_program`]) gathers cheap
//!    evidence that covers the whole video (subtitles or the transcript, text
//!    read from frames sampled across the video, shot boundaries, a
//!    person-detection summary, captions when a `caption` module is
//!    registered) and answers with `choose` (with options) or
//!    `ask_llm`; a "how many" question without options is first answered by
//!    a program that counts tracks ([`counting_program`]). Its confidence is the chosen option's normalised
//!    probability, or for free text the exponential of the mean token
//!    log-probability ([`crate::search::answer_confidence`]).
//! 2. **Slow path**, when that confidence is below θ: the planner's programs
//!    are searched (MCTS by default); the best program's variants over its
//!    searchable parameters are run ([`crate::params`]) and the most
//!    confident kept. The slow answer wins if it is more confident than the
//!    fast one.
//! 3. **Fallback**: if the slow path gives no answer (no valid program, an
//!    execution error, a timeout, a spent budget), the fast answer stands.
//!
//! Every path runs on one executor with one step cache, so what the fast
//! program computed (`subtitles(video)`, the sampled frames) is free for the
//! slow one. [`Reasoning`] says which path answered and why; it goes into
//! the trace.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use vprog_runtime::exec::{ExecError, Executor, RunInputs, RunOutcome};
use vprog_runtime::Registry;

use crate::mcts::{Rollout, SearchConfig};
use crate::params::variants;
use crate::plan::Planner;
use crate::prompt::Question;
use crate::search::{run_program, run_samples, run_search, Budget, SearchOutcome};

/// Which paths run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Fast first; the slow path only below θ; fall back to fast.
    Auto,
    /// Only the fast path.
    Fast,
    /// Only the slow path (no fallback).
    Slow,
    /// Both paths on every question, answering as `auto` would: what
    /// `vprog eval` and `vprog calibrate` use to measure fast-only,
    /// slow-only and auto from one run.
    Compare,
}

impl Mode {
    /// `auto`, `fast`, `slow` or `compare`, as traces and runs record it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Fast => "fast",
            Mode::Slow => "slow",
            Mode::Compare => "compare",
        }
    }
}

/// Which path gave the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerPath {
    /// The fast answer (confident enough, or more confident than the slow one).
    Fast,
    /// The slow path's answer.
    Slow,
    /// The slow path failed and the fast answer stands.
    Fallback,
}

impl AnswerPath {
    /// `fast`, `slow` or `fallback`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerPath::Fast => "fast",
            AnswerPath::Slow => "slow",
            AnswerPath::Fallback => "fallback",
        }
    }
}

/// How the slow path searches among programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Monte Carlo Tree Search over partial programs.
    Mcts,
    /// Independently sampled whole programs, executed and voted.
    Sample,
    /// One program (with repairs).
    Single,
}

/// The confidence threshold and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Theta {
    /// Below this fast confidence the slow path runs.
    pub value: f64,
    /// `--theta`, a calibration file, or the calibration shipped with vprog.
    pub source: String,
}

/// Settings of [`reason`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReasonConfig {
    /// Which paths run.
    pub mode: Mode,
    /// The threshold of `auto`.
    pub theta: Theta,
    /// The slow path's search.
    pub strategy: Strategy,
    /// Its settings.
    pub search: SearchConfig,
    /// Its limits.
    pub budget: Budget,
    /// Sampling temperature of `sample` candidates after the first.
    pub sample_temperature: f64,
    /// Most parameter-search variants of the slow path's program (0: none).
    pub param_variants: usize,
    /// Frames the fast path samples uniformly for detection (and captions).
    pub fast_frames: usize,
    /// Frames per second the fast path reads on-screen text at (see [`scan_rate`]).
    pub scan_fps: f64,
    /// Frames the on-screen text scan reads at most at `scan_fps` (see [`scan_rate`]).
    pub scan_frames: usize,
    /// Language model of the fast path's `choose`/`ask_llm` (`None`: the modules' default).
    pub answer_model: Option<String>,
}

impl Default for ReasonConfig {
    fn default() -> ReasonConfig {
        ReasonConfig {
            mode: Mode::Auto,
            theta: Theta { value: 0.5, source: "default".into() },
            strategy: Strategy::Mcts,
            search: SearchConfig::default(),
            budget: Budget::default(),
            sample_temperature: 0.7,
            param_variants: 6,
            fast_frames: 8,
            scan_fps: 1.0,
            scan_frames: 120,
            answer_model: None,
        }
    }
}

/// One variant of the parameter search and how it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// What changed (`base` for the program as the search found it).
    pub change: String,
    /// The run.
    pub rollout: Rollout,
}

/// The parameter search over the slow path's program.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParamSearch {
    /// The program as found first, then each variant.
    pub trials: Vec<Trial>,
    /// Index of the trial kept (the most confident; the base on ties).
    pub kept: usize,
}

/// What reasoning did and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reasoning {
    /// The mode it ran in.
    pub mode: Mode,
    /// The threshold.
    pub theta: Theta,
    /// Which path answered; `None` when none did.
    pub path: Option<AnswerPath>,
    /// Why that path answered (or why there is no answer), in words.
    pub reason: String,
    /// The fast path's run, when it ran.
    pub fast: Option<Rollout>,
    /// Seconds the fast path took.
    pub fast_seconds: f64,
    /// Language-model requests of the fast path.
    pub fast_llm_calls: usize,
    /// The slow path's search, when it ran (in the trace as `planner.search`).
    #[serde(skip)]
    pub search: Option<SearchOutcome>,
    /// The slow path's answer after the parameter search, when it gave one.
    pub slow: Option<Rollout>,
    /// Why the slow path gave no answer, when it ran and gave none.
    pub slow_error: Option<String>,
    /// Seconds the slow path took (search and parameter search).
    pub slow_seconds: f64,
    /// Language-model requests of the slow path (planner requests and
    /// language-model steps computed while running programs).
    pub slow_llm_calls: usize,
    /// The parameter search, when it ran.
    pub params: Option<ParamSearch>,
    /// The program whose answer stands.
    pub program: Option<String>,
    /// The answer (an option's text for a choice).
    pub answer: Option<String>,
    /// Its confidence.
    pub confidence: f64,
    /// All language-model requests.
    pub llm_calls: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl Reasoning {
    /// What `vprog ask --json` prints: the final run's `answer` (its
    /// summary), the path and why, the confidence against θ, the program,
    /// both paths, the parameter search, the vote and spending, the cost and
    /// the `trace` directory.
    pub fn summary_json(&self, answer: Option<String>, trace: &std::path::Path) -> serde_json::Value {
        let search = self.search.as_ref();
        serde_json::json!({
            "answer": answer,
            "path": self.path,
            "reason": self.reason,
            "confidence": self.confidence,
            "theta": self.theta,
            "program": self.program,
            "fast": self.fast,
            "slow": self.slow,
            "param_search": self.params,
            "votes": search.map(|s| &s.votes),
            "spent": search.map(|s| &s.spent),
            "llm_calls": self.llm_calls,
            "seconds": self.seconds,
            "trace": trace,
        })
    }

    /// What `vprog ask` tells after its answer: the path and why, the
    /// program, the vote and what the search spent, the parameter search,
    /// and the total cost.
    pub fn report_lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "path: {} (θ {:.3} from {}): {}",
            self.path.map_or("none", |p| p.as_str()),
            self.theta.value,
            self.theta.source,
            self.reason
        )];
        if let Some(p) = &self.program {
            out.push(format!("program:\n{}", p.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")));
        }
        if let Some(s) = &self.search {
            let votes: Vec<String> =
                s.votes.iter().take(5).map(|v| format!("{} ({:.2} from {})", v.answer, v.weight, v.rollouts)).collect();
            if !votes.is_empty() {
                out.push(format!("votes: {}", votes.join("; ")));
            }
            let spent = &s.spent;
            out.push(format!(
                "{} search: {} iterations, {} rollouts ({} invalid), {} planner requests, {} module executions + {} cache hits, {:.1}s",
                s.strategy,
                s.tree.iterations,
                s.tree.rollouts.len(),
                spent.invalid,
                spent.llm_calls,
                spent.executions,
                spent.cached_steps,
                spent.wall_ms / 1000.0
            ));
        }
        if let Some(kept) = self.params.as_ref().and_then(|p| p.trials.get(p.kept).map(|k| (p.trials.len(), k))) {
            let (n, kept) = kept;
            out.push(format!("parameter search: {} variants; kept {} (confidence {:.3})", n - 1, kept.change, kept.rollout.confidence));
        }
        out.push(format!("{} language-model requests, {:.1}s", self.llm_calls, self.seconds));
        out
    }
}

/// The decision rule shared by [`reason`] and calibration: which path
/// answers, given the fast and slow confidences (`None`: that path ran and
/// gave no answer, or did not run).
pub fn decide(mode: Mode, theta: f64, fast: Option<f64>, slow: Option<f64>) -> Option<AnswerPath> {
    match mode {
        Mode::Fast => fast.map(|_| AnswerPath::Fast),
        Mode::Slow => slow.map(|_| AnswerPath::Slow),
        Mode::Auto | Mode::Compare => match (fast, slow) {
            (Some(f), _) if f >= theta => Some(AnswerPath::Fast),
            (Some(f), Some(s)) => Some(if s > f { AnswerPath::Slow } else { AnswerPath::Fast }),
            (Some(_), None) => Some(AnswerPath::Fallback),
            (None, Some(_)) => Some(AnswerPath::Slow),
            (None, None) => None,
        },
    }
}

/// Whether the slow path runs, given the fast confidence.
pub fn runs_slow(mode: Mode, theta: f64, fast: Option<f64>) -> bool {
    match mode {
        Mode::Fast => false,
        Mode::Slow | Mode::Compare => true,
        Mode::Auto => fast.is_none_or(|f| f < theta),
    }
}

/// The fast path's program for `question`: evidence that covers the whole
/// video from the modules `registry` has, then `choose` (options) or `ask_llm`.
///
/// - **Speech**: the subtitles, or without them the Whisper transcript.
/// - **On-screen text**: `read_text` over frames sampled across the whole
///   video at [`scan_rate`] (it reads a frame again only where the picture
///   changed, and merges reads into cues with first- and last-seen times).
/// - **Shots**: `shots` over the same frames (cut times within one frame gap).
/// - **Objects**: `detect(frames)` (every COCO class; people alone with the
///   classic fallback) on `fast_frames` frames spread over the whole video,
///   rendered per label as frames seen, most at once and time span.
/// - **Captions**, when a `caption` module is registered.
///
/// The evidence is rendered in time order with timestamps; over the answer
/// module's token budget, the items most relevant to the question and options
/// are kept.
pub fn fast_program(question: &Question, registry: &Registry, config: &ReasonConfig) -> String {
    let has = |m: &str| registry.get(m).is_some_and(|m| m.missing_model().is_none());
    let mut lines = Vec::new();
    let mut evidence = Vec::new();
    if question.video.subtitles == Some(true) && has("subtitles") {
        lines.push("speech = subtitles(video)".to_string());
        evidence.push("speech");
    } else if question.video.audio == Some(true) && has("transcribe") {
        lines.push("speech = transcribe(video)".to_string());
        evidence.push("speech");
    }
    if has("sample") {
        let scan = match question.video.duration {
            Some(d) if d > 0.0 => format!("fps: {}", fmt_rate(scan_rate(d, config))),
            _ => format!("count: {}", config.scan_frames.max(1)),
        };
        // Larger pictures are scaled down to SCAN_SIZE; smaller ones are read as they are.
        let size = match question.video.size {
            Some((w, h)) if w.max(h) <= SCAN_SIZE => String::new(),
            _ => format!(", size: {SCAN_SIZE}"),
        };
        lines.push(format!("scan = sample(video, {scan}{size})"));
        if has("read_text") {
            lines.push("on_screen = read_text(scan)".to_string());
            evidence.push("on_screen");
        }
        if has("shots") {
            lines.push("cuts = shots(scan)".to_string());
            evidence.push("cuts");
        }
        if has("detect") || has("caption") {
            lines.push(format!("frames = sample(video, count: {})", config.fast_frames.max(1)));
        }
        if has("detect") {
            lines.push("objects = detect(frames)".to_string());
            evidence.push("objects");
        }
        if has("caption") {
            lines.push("captions = caption(frames)".to_string());
            evidence.push("captions");
        }
    }
    let model = config.answer_model.as_ref().map(|m| format!(", model: {}", quote(m))).unwrap_or_default();
    let evidence = format!("[{}]", evidence.join(", "));
    lines.push(if question.options.is_empty() {
        format!("answer ask_llm(question, evidence: {evidence}{model})")
    } else {
        format!("answer choose(question, options, evidence: {evidence}{model})")
    });
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Frames per second the counting program tracks at (see [`counting_program`]),
/// and the most frames it samples (a longer video is sampled more sparsely).
pub const COUNT_FPS: f64 = 3.0;
/// See [`COUNT_FPS`].
pub const COUNT_MAX_FRAMES: f64 = 300.0;

/// What a "how many …" question counts: the first word after "how many"
/// past qualifiers such as "different" (`How many people walk through the
/// scene?` → `people`). `None` for other questions, and for counts that are
/// not of visible things (times, seconds, words, scenes, …).
pub fn counted_noun(question: &str) -> Option<String> {
    const QUALIFIERS: &[&str] = &["different", "distinct", "unique", "separate", "individual", "total", "other", "more", "of", "the"];
    const NOT_THINGS: &[&str] = &[
        "times",
        "time",
        "seconds",
        "minutes",
        "hours",
        "frames",
        "words",
        "scenes",
        "shots",
        "cuts",
        "languages",
        "colors",
        "colours",
        "steps",
        "points",
        "goals",
        "questions",
        "lines",
        "letters",
        "numbers",
        "days",
        "years",
    ];
    let lower = question.to_lowercase();
    let (_, rest) = lower.split_once("how many ")?;
    let noun = rest.split(|c: char| !c.is_alphanumeric() && c != '-').filter(|w| !w.is_empty()).find(|w| !QUALIFIERS.contains(w))?;
    (!NOT_THINGS.contains(&noun)).then(|| noun.to_string())
}

/// A program that counts the distinct `noun`s seen in the video: frames at
/// [`COUNT_FPS`] (at most [`COUNT_MAX_FRAMES`]), `detect` boxes linked over
/// time by `track`, one count per track. Per-frame boxes say how many are
/// visible at once, not how many there are: a language model reading them
/// answered "8 people" for 8 frames of a scene 20 people walk through.
pub fn counting_program(noun: &str, question: &Question) -> String {
    let fps = match question.video.duration {
        Some(d) if d > 0.0 => COUNT_FPS.min(COUNT_MAX_FRAMES / d),
        _ => COUNT_FPS,
    };
    let sample = match question.video.duration {
        Some(d) if d > 0.0 => format!("fps: {}", fmt_rate(fps)),
        _ => format!("count: {}", COUNT_MAX_FRAMES as usize),
    };
    format!(
        "frames = sample(video, {sample})
seen = detect(frames, {})
answer count(track(seen))
",
        quote(noun)
    )
}

/// The fast path's programs, tried in order until one answers: for a
/// "how many" question without options whose noun `detect` may know, the
/// [`counting_program`] first; then [`fast_program`].
pub fn fast_programs(question: &Question, registry: &Registry, config: &ReasonConfig) -> Vec<String> {
    let has = |m: &str| registry.get(m).is_some_and(|m| m.missing_model().is_none());
    let mut out = Vec::new();
    if question.options.is_empty() && has("sample") && has("detect") && has("track") && has("count") {
        if let Some(noun) = counted_noun(&question.text) {
            out.push(counting_program(&noun, question));
        }
    }
    out.push(fast_program(question, registry, config));
    out
}

/// Longest side of the frames the fast path reads text from: 720p keeps
/// captions legible for OCR and costs a quarter of 1080p.
pub const SCAN_SIZE: u32 = 1280;

/// Frames per second the fast path reads on-screen text at, for a video of
/// `duration` seconds: [`ReasonConfig::scan_fps`] while that gives at most
/// [`ReasonConfig::scan_frames`] frames, then lower so it gives that many
/// (plus one frame per [`LONG_VIDEO_STEP`] seconds beyond, so a long video
/// still gets a frame every few tens of seconds): the fast path's cost grows
/// with the duration, slower than it.
pub fn scan_rate(duration: f64, config: &ReasonConfig) -> f64 {
    let cap = config.scan_frames.max(1) as f64;
    let wanted = duration * config.scan_fps;
    if wanted <= cap {
        return config.scan_fps;
    }
    let frames = cap + (duration - cap / config.scan_fps.max(1e-3)).max(0.0) / LONG_VIDEO_STEP;
    (frames / duration).max(1e-3)
}

/// Seconds per extra scanned frame beyond the scan budget (see [`scan_rate`]).
pub const LONG_VIDEO_STEP: f64 = 30.0;

/// A rate as a vprog number literal with at most 3 decimals.
fn fmt_rate(r: f64) -> String {
    let s = format!("{r:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.contains('.') {
        s.to_string()
    } else {
        format!("{s}.0")
    }
}

/// `s` as a vprog string literal, escaped by the language's own printer.
fn quote(s: &str) -> String {
    let literal = vprog_grammar::Expr {
        kind: vprog_grammar::ExprKind::Literal(vprog_grammar::Literal::Str(s.to_string())),
        span: vprog_grammar::Span::new(0, 0),
    };
    vprog_grammar::print_expr(&literal)
}

fn llm_steps(r: &Rollout) -> usize {
    r.details.get("llm_steps").and_then(serde_json::Value::as_u64).unwrap_or(0) as usize
}

/// Answers `question` by the fast path, the slow path or both (see the
/// module documentation), on one `executor` so the paths share steps.
pub async fn reason(planner: &Planner, question: &Question, executor: &Executor, inputs: &RunInputs, config: &ReasonConfig) -> Reasoning {
    let t0 = Instant::now();
    let registry = planner.registry();
    let options = !question.options.is_empty();
    let mut r = Reasoning {
        mode: config.mode,
        theta: config.theta.clone(),
        path: None,
        reason: String::new(),
        fast: None,
        fast_seconds: 0.0,
        fast_llm_calls: 0,
        search: None,
        slow: None,
        slow_error: None,
        slow_seconds: 0.0,
        slow_llm_calls: 0,
        params: None,
        program: None,
        answer: None,
        confidence: 0.0,
        llm_calls: 0,
        seconds: 0.0,
    };

    if config.mode != Mode::Slow {
        let t = Instant::now();
        for program in fast_programs(question, registry, config) {
            let (fast, _) = run_program(registry, executor, inputs, program, 0.0, options).await;
            r.fast_llm_calls += llm_steps(&fast);
            let answered = fast.answer.is_some();
            r.fast = Some(fast);
            if answered {
                break;
            }
        }
        r.fast_seconds = t.elapsed().as_secs_f64();
    }
    let fast_conf = r.fast.as_ref().filter(|f| f.answer.is_some()).map(|f| f.confidence);

    if runs_slow(config.mode, config.theta.value, fast_conf) {
        let t = Instant::now();
        let outcome = match config.strategy {
            Strategy::Mcts => {
                run_search(planner, question, executor.clone(), inputs.clone(), config.budget.clone(), config.search.clone()).await
            }
            Strategy::Sample | Strategy::Single => {
                let (search, temperature) = match config.strategy {
                    Strategy::Single => (SearchConfig { iterations: 1, ..config.search.clone() }, 0.0),
                    _ => (config.search.clone(), config.sample_temperature),
                };
                run_samples(planner, question, executor.clone(), inputs.clone(), config.budget.clone(), search, temperature).await
            }
        };
        r.slow_llm_calls = outcome.spent.llm_calls + outcome.spent.llm_steps;
        match outcome.tree.best().map(|(_, rollout)| rollout.clone()) {
            Some(best) => {
                let params = param_search(registry, executor, inputs, best, options, config.param_variants).await;
                r.slow_llm_calls += params.trials.iter().skip(1).map(|t| llm_steps(&t.rollout)).sum::<usize>();
                r.slow = Some(params.trials[params.kept].rollout.clone());
                r.params = Some(params);
            }
            None => r.slow_error = Some(slow_failure(&outcome)),
        }
        r.search = Some(outcome);
        r.slow_seconds = t.elapsed().as_secs_f64();
    }

    let slow_conf = r.slow.as_ref().map(|s| s.confidence);
    r.path = decide(config.mode, config.theta.value, fast_conf, slow_conf);
    r.reason = explain(&r, fast_conf, slow_conf);
    let winner = match r.path {
        Some(AnswerPath::Fast | AnswerPath::Fallback) => r.fast.as_ref(),
        Some(AnswerPath::Slow) => r.slow.as_ref(),
        None => None,
    };
    if let Some(w) = winner {
        r.program = Some(w.program.clone());
        r.answer = w.answer.clone();
        r.confidence = w.confidence;
    }
    r.llm_calls = r.fast_llm_calls + r.slow_llm_calls;
    r.seconds = t0.elapsed().as_secs_f64();
    r
}

fn slow_failure(outcome: &SearchOutcome) -> String {
    let errors: Vec<&str> = outcome.tree.rollouts.iter().filter_map(|r| r.error.as_deref()).collect();
    match errors.last() {
        Some(last) => format!(
            "no program gave an answer in {} rollouts ({} invalid; search stopped by {}); the last failure: {}",
            outcome.tree.rollouts.len(),
            outcome.spent.invalid,
            outcome.tree.stopped,
            last.trim()
        ),
        None => format!("the search ran no program (stopped by {}: budget too small?)", outcome.tree.stopped),
    }
}

fn explain(r: &Reasoning, fast: Option<f64>, slow: Option<f64>) -> String {
    let theta = r.theta.value;
    let fast_error = || r.fast.as_ref().and_then(|f| f.error.clone()).unwrap_or_else(|| "it did not run".into());
    let slow_error = || r.slow_error.clone().unwrap_or_else(|| "it did not run".into());
    match (r.mode, r.path) {
        (_, None) if r.mode == Mode::Slow => format!("the slow path gave no answer: {}", slow_error()),
        (_, None) => format!("no path gave an answer: fast: {}; slow: {}", fast_error(), slow_error()),
        (Mode::Fast, _) => format!("fast path only (--mode fast), confidence {:.3}", fast.unwrap_or(0.0)),
        (Mode::Slow, _) => format!("slow path only (--mode slow), confidence {:.3}", slow.unwrap_or(0.0)),
        (_, Some(AnswerPath::Fast)) => match (fast, slow) {
            (Some(f), Some(s)) if f < theta => {
                format!("fast confidence {f:.3} < θ {theta:.3}, the slow path ran, but its answer was less confident ({s:.3}); the fast answer stands")
            }
            (Some(f), _) if r.mode == Mode::Compare => {
                format!("fast confidence {f:.3} ≥ θ {theta:.3} (both paths ran: --mode compare)")
            }
            (f, _) => format!("fast confidence {:.3} ≥ θ {theta:.3}", f.unwrap_or(0.0)),
        },
        (_, Some(AnswerPath::Slow)) => match fast {
            Some(f) => format!("fast confidence {f:.3} < θ {theta:.3}; the slow answer is more confident ({:.3})", slow.unwrap_or(0.0)),
            None => format!("the fast path failed ({}); the slow path answered", fast_error()),
        },
        (_, Some(AnswerPath::Fallback)) => format!(
            "fast confidence {:.3} < θ {theta:.3}; the slow path failed ({}), so the fast answer stands",
            fast.unwrap_or(0.0),
            slow_error()
        ),
    }
}

/// Runs the variants of `base`'s program over its searchable parameters
/// (at most `max`) and keeps the most confident answer; the base wins ties.
pub async fn param_search(
    registry: &Registry,
    executor: &Executor,
    inputs: &RunInputs,
    base: Rollout,
    options: bool,
    max: usize,
) -> ParamSearch {
    // A program's likelihood under the model stands in for answers that
    // carry no confidence of their own; variants keep their base's.
    let likelihood = base.confidence;
    let mut trials = vec![Trial { change: "base".into(), rollout: base.clone() }];
    for v in variants(&base.program, registry, options, max) {
        let (rollout, _) = run_program(registry, executor, inputs, v.source, likelihood, options).await;
        trials.push(Trial { change: v.change, rollout });
    }
    let mut kept = 0;
    for (i, t) in trials.iter().enumerate().skip(1) {
        if t.rollout.answer.is_some() && t.rollout.confidence > trials[kept].rollout.confidence {
            kept = i;
        }
    }
    ParamSearch { trials, kept }
}

/// Runs the program that answered once more, through the shared cache, for
/// the trace (its steps are cache hits); a [`RunOutcome`] saying why
/// nothing ran when no program answered.
pub async fn final_run(
    registry: &Registry,
    executor: &Executor,
    inputs: &RunInputs,
    reasoning: &Reasoning,
) -> (String, RunOutcome, Vec<(&'static str, usize)>) {
    let Some(source) = reasoning.program.clone() else {
        return (String::new(), not_run(&reasoning.reason), Vec::new());
    };
    let program = match vprog_grammar::parse(&source) {
        Ok(p) => p,
        Err(_) => return (source, not_run("the chosen program no longer parses"), Vec::new()),
    };
    match vprog_runtime::check::check(&program, registry).plan {
        Some(mut plan) => {
            let optimizer = vprog_runtime::dataflow::optimize(&mut plan);
            let outcome = executor.run(&plan, inputs).await;
            (source, outcome, optimizer)
        }
        None => (source, not_run("the chosen program no longer checks"), Vec::new()),
    }
}

/// A run outcome for a program that was not run, saying why.
pub fn not_run(reason: &str) -> RunOutcome {
    RunOutcome {
        result: Err(ExecError::NotRun(reason.to_string())),
        steps: Vec::new(),
        answer_step: None,
        supporting_steps: Vec::new(),
        wall: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_rule() {
        use Mode::*;
        assert_eq!(decide(Auto, 0.6, Some(0.7), None), Some(AnswerPath::Fast));
        assert_eq!(decide(Auto, 0.6, Some(0.6), None), Some(AnswerPath::Fast));
        assert_eq!(decide(Auto, 0.6, Some(0.5), Some(0.9)), Some(AnswerPath::Slow));
        assert_eq!(decide(Auto, 0.6, Some(0.5), Some(0.4)), Some(AnswerPath::Fast));
        assert_eq!(decide(Auto, 0.6, Some(0.5), Some(0.5)), Some(AnswerPath::Fast));
        assert_eq!(decide(Auto, 0.6, Some(0.5), None), Some(AnswerPath::Fallback));
        assert_eq!(decide(Auto, 0.6, None, Some(0.3)), Some(AnswerPath::Slow));
        assert_eq!(decide(Auto, 0.6, None, None), None);
        assert_eq!(decide(Fast, 0.6, Some(0.1), Some(0.9)), Some(AnswerPath::Fast));
        assert_eq!(decide(Slow, 0.6, Some(0.9), None), None);
        assert_eq!(decide(Compare, 0.6, Some(0.7), Some(0.99)), Some(AnswerPath::Fast));
        assert!(runs_slow(Auto, 0.6, Some(0.5)) && !runs_slow(Auto, 0.6, Some(0.6)) && runs_slow(Auto, 0.6, None));
        assert!(runs_slow(Compare, 0.0, Some(1.0)) && !runs_slow(Fast, 1.0, None));
    }

    #[test]
    fn the_fast_program_uses_what_the_video_has() {
        let registry = vprog_modules::registry();
        let config = ReasonConfig::default();
        let mut q = Question::new("What is said?").with_options(vec!["a".into(), "b".into()]);
        q.video.subtitles = Some(true);
        let p = fast_program(&q, &registry, &config);
        assert!(
            p.contains("speech = subtitles(video)")
                && p.contains("scan = sample(video, count: 120, size: 1280)\n")
                && p.contains("answer choose(question, options, evidence: [speech, on_screen, cuts, objects])"),
            "{p}"
        );
        q.video.subtitles = Some(false);
        q.video.audio = Some(true);
        assert!(fast_program(&q, &registry, &config).contains("transcribe(video)"));
        q.video.audio = Some(false);
        q.options.clear();
        let config = ReasonConfig { answer_model: Some("smollm2-135m-instruct".into()), ..config };
        let p = fast_program(&q, &registry, &config);
        assert!(
            !p.contains("speech")
                && p.contains("ask_llm(question, evidence: [on_screen, cuts, objects], model: \"smollm2-135m-instruct\")"),
            "{p}"
        );
        for options in [false, true] {
            assert!(crate::validate::check_program(&p, &registry, options).is_valid() || options, "{p}");
        }
        q.options = vec!["a".into(), "b".into()];
        let p = fast_program(&q, &registry, &config);
        assert!(crate::validate::check_program(&p, &registry, true).is_valid(), "{p}");
        // A known duration and size: the scan covers the whole video at its rate,
        // scaled down only when the pictures are larger than SCAN_SIZE.
        q.video.duration = Some(60.0);
        q.video.size = Some((640, 360));
        let p = fast_program(&q, &registry, &config);
        assert!(p.contains("scan = sample(video, fps: 1.0)\n"), "{p}");
        q.video.duration = Some(600.0);
        q.video.size = Some((3840, 2160));
        let p = fast_program(&q, &registry, &config);
        assert!(p.contains("scan = sample(video, fps: 0.227, size: 1280)\n"), "{p}");
        assert!(crate::validate::check_program(&p, &registry, true).is_valid(), "{p}");
    }

    #[test]
    fn how_many_questions_without_options_count_tracks() {
        assert_eq!(counted_noun("How many people walk through the scene?").as_deref(), Some("people"));
        assert_eq!(counted_noun("how many different cars are parked?").as_deref(), Some("cars"));
        assert_eq!(counted_noun("How many times does she laugh?"), None);
        assert_eq!(counted_noun("What colour is the car?"), None);
        let registry = vprog_modules::registry();
        let config = ReasonConfig::default();
        let mut q = Question::new("How many people walk through the scene?");
        q.video.duration = Some(79.5);
        let programs = fast_programs(&q, &registry, &config);
        assert_eq!(programs.len(), 2, "the counting program, then the evidence program");
        assert_eq!(programs[0], "frames = sample(video, fps: 3.0)\nseen = detect(frames, \"people\")\nanswer count(track(seen))\n");
        assert!(crate::validate::check_program(&programs[0], &registry, false).is_valid(), "{}", programs[0]);
        assert!(programs[1].contains("ask_llm("), "{}", programs[1]);
        // A long video is sampled more sparsely; with options, no counting program.
        q.video.duration = Some(600.0);
        assert!(fast_programs(&q, &registry, &config)[0].contains("sample(video, fps: 0.5)"));
        let q = q.with_options(vec!["10".into(), "20".into()]);
        assert_eq!(fast_programs(&q, &registry, &config).len(), 1);
    }

    #[test]
    fn the_text_scan_grows_slower_than_the_duration() {
        let config = ReasonConfig::default();
        let frames = |d: f64| d * scan_rate(d, &config);
        assert_eq!(scan_rate(10.0, &config), 1.0);
        assert!((frames(120.0) - 120.0).abs() < 1e-9);
        assert!((frames(600.0) - 136.0).abs() < 1e-9, "{}", frames(600.0));
        assert!((frames(3600.0) - 236.0).abs() < 1e-9, "{}", frames(3600.0));
        let mut last = 0.0;
        for d in [1.0, 30.0, 119.0, 121.0, 600.0, 3600.0, 36_000.0] {
            assert!(frames(d) >= last, "more video is never read less: {d}");
            last = frames(d);
        }
        assert_eq!(fmt_rate(1.0), "1.0");
        assert_eq!(fmt_rate(0.22666), "0.227");
    }
}
