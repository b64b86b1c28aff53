//! Searching among programs for one question, with the runtime in the loop.
//!
//! - [`ProgramSearch`] is the [`Environment`] MCTS runs on: steps come from
//!   the language model (constrained, different from the siblings tried),
//!   rollouts are completed greedily, checked, and executed through one
//!   shared step cache, so the steps shared by rollouts run once.
//! - [`run_search`] runs MCTS and votes; [`run_samples`] is the baseline:
//!   independent sampled programs, executed and voted the same way.
//!
//! Budgets bound the language-model calls, the module executions and the
//! wall time; they are checked before each iteration (a rollout already
//! started finishes).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use vprog_grammar::parse;
use vprog_runtime::cache::CacheStatus;
use vprog_runtime::exec::{Executor, RunInputs, RunOutcome, StepRecord};
use vprog_runtime::{CachePolicy, Registry, Value};

use crate::backend::Request;
use crate::mcts::{search, Environment, Rollout, SearchConfig, Step, Tree, Vote};
use crate::plan::Planner;
use crate::prompt::Question;
use crate::validate::{check_program, render_findings};

/// Limits on one search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Budget {
    /// Most requests to the language model.
    pub llm_calls: usize,
    /// Most module executions (steps computed, not served from the cache).
    pub executions: usize,
    /// Longest wall time.
    pub wall: Duration,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { llm_calls: 24, executions: 200, wall: Duration::from_secs(600) }
    }
}

/// What a search spent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Spent {
    /// Requests to the language model.
    pub llm_calls: usize,
    /// Module steps computed (modules the cache may hold; cheap operators
    /// such as `contains` or `count`, which are never cached, are counted in
    /// `cheap_calls`).
    pub executions: usize,
    /// Calls of never-cached cheap modules.
    pub cheap_calls: usize,
    /// Computed steps of language-model modules (`choose`, `ask_llm`).
    pub llm_steps: usize,
    /// Module steps served from the step cache.
    pub cached_steps: usize,
    /// Programs executed.
    pub runs: usize,
    /// Rollouts whose program was invalid (never executed).
    pub invalid: usize,
    /// Wall time so far, in milliseconds.
    pub wall_ms: f64,
}

/// Module steps of a run, map iterations included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// Steps of cacheable modules that were computed.
    pub computed: usize,
    /// Steps served from the cache.
    pub cached: usize,
    /// Calls of modules that are never cached (cheap operators).
    pub cheap: usize,
    /// Computed steps of language-model modules ([`LANGUAGE_MODEL_MODULES`]):
    /// each is one request to a language model, counted with the planner's.
    pub llm: usize,
}

/// The built-in modules that query a language model when they run.
pub const LANGUAGE_MODEL_MODULES: [&str; 2] = ["choose", "ask_llm"];

/// Counts the module steps of a run; `registry` says which modules are
/// never cached.
pub fn count_steps(steps: &[StepRecord], registry: &Registry) -> StepCounts {
    let mut n = StepCounts::default();
    for s in steps {
        if s.version.is_some() {
            let never = registry.get(&s.op).is_some_and(|m| m.signature().cache == CachePolicy::Never);
            match s.cache {
                CacheStatus::Memory | CacheStatus::Disk => n.cached += 1,
                CacheStatus::Miss | CacheStatus::Off if never => n.cheap += 1,
                CacheStatus::Miss | CacheStatus::Off => {
                    n.computed += 1;
                    n.llm += usize::from(LANGUAGE_MODEL_MODULES.contains(&s.op.as_str()));
                }
            }
        }
        let c = count_steps(&s.children, registry);
        n.computed += c.computed;
        n.cached += c.cached;
        n.cheap += c.cheap;
        n.llm += c.llm;
    }
    n
}

/// The answer of a run as a vote key: a `Choice`'s option, else the
/// value's summary (its confidence is [`answer_confidence`]).
pub fn answer_key(value: &Value) -> String {
    match value {
        Value::Choice(c) => c.option.clone(),
        other => other.summary(),
    }
}

/// The confidence a run's answer carries, when it carries one: a `Choice`'s
/// normalised option probability, or for free text from `ask_llm` the
/// exponential of the mean token log-probability of its generation (noted
/// by the step as `generation.mean_logprob`).
pub fn answer_confidence(outcome: &RunOutcome) -> Option<f64> {
    match outcome.result.as_ref().ok()? {
        Value::Choice(c) => Some(c.confidence),
        Value::Text(_) => {
            let id = outcome.answer_step.as_deref()?;
            let step = outcome.steps.iter().find(|s| s.id == id && s.op == "ask_llm")?;
            let (_, generation) = step.notes.iter().find(|(k, _)| k == "generation")?;
            generation.get("mean_logprob").and_then(serde_json::Value::as_f64).map(f64::exp)
        }
        _ => None,
    }
}

/// Checks `program` and runs it on `executor`: a [`Rollout`] whose
/// confidence is the answer's own ([`answer_confidence`]), else
/// `likelihood`, with the step counts of the run. `options` says whether the
/// answer must be a `Choice`. An invalid program is not run.
pub async fn run_program(
    registry: &Registry,
    executor: &Executor,
    inputs: &RunInputs,
    program: String,
    likelihood: f64,
    options: bool,
) -> (Rollout, StepCounts) {
    let checked = check_program(&program, registry, options);
    let Some(mut plan) = checked.plan.clone().filter(|_| checked.is_valid()) else {
        let error = render_findings(&checked.findings, &program);
        return (failed(program, error, serde_json::json!({"valid": false})), StepCounts::default());
    };
    vprog_runtime::dataflow::optimize(&mut plan);
    let outcome: RunOutcome = executor.run(&plan, inputs).await;
    let n = count_steps(&outcome.steps, registry);
    let details = serde_json::json!({"valid": true, "executions": n.computed, "cached_steps": n.cached, "cheap_calls": n.cheap, "llm_steps": n.llm, "ms": outcome.wall.as_secs_f64() * 1000.0});
    let rollout = match &outcome.result {
        Ok(value) => {
            let answer = answer_key(value);
            let confidence = answer_confidence(&outcome).unwrap_or(likelihood).clamp(0.0, 1.0);
            Rollout { program, reward: confidence, answer: Some(answer), confidence, error: None, details }
        }
        Err(e) => failed(program, e.to_string(), details),
    };
    (rollout, n)
}

/// Runs programs for one question and keeps the books.
pub struct ProgramSearch<'a> {
    planner: &'a Planner,
    question: &'a Question,
    executor: Executor,
    inputs: RunInputs,
    budget: Budget,
    started: Instant,
    seed: u64,
    /// What was spent so far.
    pub spent: Spent,
    /// Temperature of step proposals after the first (greedy) one.
    pub temperature: f64,
}

/// Most tokens of one proposed step.
const STEP_TOKENS: usize = 64;

/// Proposals tried per expansion before a node is declared exhausted.
const PROPOSALS: usize = 3;

impl<'a> ProgramSearch<'a> {
    /// A search for `question`, executing on `executor` with `inputs`.
    pub fn new(planner: &'a Planner, question: &'a Question, executor: Executor, inputs: RunInputs, budget: Budget) -> ProgramSearch<'a> {
        let seed = planner.config().seed;
        ProgramSearch {
            planner,
            question,
            executor,
            inputs,
            budget,
            started: Instant::now(),
            seed,
            spent: Spent::default(),
            temperature: 0.8,
        }
    }

    fn llm_left(&self) -> bool {
        self.spent.llm_calls < self.budget.llm_calls
    }

    fn request(&self, prefix: &[String], max_tokens: usize, temperature: f64, seed: u64) -> Request {
        Request {
            messages: self.planner.conversation(self.question),
            prefix: prefix_text(prefix),
            max_tokens,
            temperature,
            seed,
            stop: Vec::new(),
            constraint: self.planner.constraint(self.question),
        }
    }

    /// Checks and runs `program`; `likelihood` is the confidence used for
    /// answers that carry none.
    pub async fn evaluate(&mut self, program: String, likelihood: f64) -> Rollout {
        if self.spent.executions >= self.budget.executions {
            let checked = check_program(&program, self.planner.registry(), !self.question.options.is_empty());
            if checked.is_valid() {
                return failed(program, "the execution budget is spent".into(), serde_json::json!({"valid": true}));
            }
        }
        let options = !self.question.options.is_empty();
        let (rollout, n) = run_program(self.planner.registry(), &self.executor, &self.inputs, program, likelihood, options).await;
        if rollout.details.get("valid") == Some(&serde_json::Value::Bool(false)) {
            self.spent.invalid += 1;
        } else {
            self.spent.runs += 1;
        }
        self.spent.executions += n.computed;
        self.spent.cached_steps += n.cached;
        self.spent.cheap_calls += n.cheap;
        self.spent.llm_steps += n.llm;
        rollout
    }
}

/// A rollout without an answer.
pub fn failed(program: String, error: String, details: serde_json::Value) -> Rollout {
    Rollout { program, reward: 0.0, answer: None, confidence: 0.0, error: Some(error), details }
}

/// The program text of some statements, each on its own line.
pub fn prefix_text(prefix: &[String]) -> String {
    prefix.iter().map(|s| format!("{s}\n")).collect()
}

/// Whether `line` is an `answer` statement.
pub fn is_answer(line: &str) -> bool {
    line.strip_prefix("answer").is_some_and(|rest| rest.starts_with(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
}

/// Whether `line` is one whole statement after `prefix`.
fn whole_statement(prefix: &str, line: &str) -> bool {
    if is_answer(line) {
        parse(&format!("{prefix}{line}\n")).is_ok()
    } else {
        parse(&format!("{prefix}{line}\nanswer 0\n")).is_ok()
    }
}

impl Environment for ProgramSearch<'_> {
    async fn expand(&mut self, prefix: &[String], tried: &[String], draw: u64) -> Option<Step> {
        let text = prefix_text(prefix);
        for attempt in 0..PROPOSALS {
            if !self.llm_left() {
                return None;
            }
            // The first child of a node is the model's most likely step.
            let temperature = if tried.is_empty() && attempt == 0 { 0.0 } else { self.temperature };
            let seed = self.seed.wrapping_add(draw.wrapping_mul(1000)).wrapping_add(attempt as u64);
            let mut request = self.request(prefix, STEP_TOKENS, temperature, seed);
            request.stop = vec!["\n".to_string()];
            self.spent.llm_calls += 1;
            let Ok(reply) = self.planner.backend().complete(&request).await else { continue };
            let line = reply.text.trim().to_string();
            if line.is_empty() || tried.contains(&line) || !whole_statement(&text, &line) {
                continue;
            }
            return Some(Step { terminal: is_answer(&line), text: line });
        }
        None
    }

    async fn rollout(&mut self, prefix: &[String], terminal: bool, draw: u64) -> Rollout {
        let text = prefix_text(prefix);
        if terminal {
            return self.evaluate(text, 1.0).await;
        }
        if !self.llm_left() {
            return failed(text, "the language-model budget is spent".into(), serde_json::json!({}));
        }
        let request = self.request(prefix, self.planner.config().max_tokens, 0.0, self.seed.wrapping_add(draw));
        self.spent.llm_calls += 1;
        match self.planner.backend().complete(&request).await {
            Ok(reply) => {
                let likelihood = reply.mean_logprob().map_or(1.0, f64::exp);
                let program = crate::validate::extract_program(&format!("{text}{}", reply.text));
                self.evaluate(program, likelihood).await
            }
            Err(e) => failed(text, e.to_string(), serde_json::json!({})),
        }
    }

    fn exhausted(&self) -> bool {
        !self.llm_left() || self.spent.executions >= self.budget.executions || self.started.elapsed() >= self.budget.wall
    }
}

/// The outcome of a search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// `mcts` or `sample`.
    pub strategy: Cow<'static, str>,
    /// The tree (for `sample`: a root with one child per sampled program).
    pub tree: Tree,
    /// Answers by weight.
    pub votes: Vec<Vote>,
    /// The winning answer.
    pub answer: Option<String>,
    /// The best program giving it.
    pub program: Option<String>,
    /// What was spent.
    pub spent: Spent,
    /// The limits.
    pub budget: Budget,
    /// The search settings.
    pub config: SearchConfig,
}

fn finish(strategy: &'static str, tree: Tree, mut spent: Spent, budget: Budget, config: SearchConfig, started: Instant) -> SearchOutcome {
    spent.wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let votes = tree.votes();
    let (answer, program) = match tree.best() {
        Some((vote, rollout)) => (Some(vote.answer), Some(rollout.program.clone())),
        None => (None, None),
    };
    SearchOutcome { strategy: strategy.into(), tree, votes, answer, program, spent, budget, config }
}

/// MCTS for `question`, then a confidence-weighted vote over the rollouts.
pub async fn run_search(
    planner: &Planner,
    question: &Question,
    executor: Executor,
    inputs: RunInputs,
    budget: Budget,
    config: SearchConfig,
) -> SearchOutcome {
    let started = Instant::now();
    let mut env = ProgramSearch::new(planner, question, executor, inputs, budget.clone());
    let tree = search(&mut env, &config).await;
    finish("mcts", tree, env.spent, budget, config, started)
}

/// The baseline: `config.iterations` independently sampled programs (each
/// with the planner's repair rounds), executed and voted like MCTS rollouts.
pub async fn run_samples(
    planner: &Planner,
    question: &Question,
    executor: Executor,
    inputs: RunInputs,
    budget: Budget,
    config: SearchConfig,
    temperature: f64,
) -> SearchOutcome {
    let started = Instant::now();
    let mut env = ProgramSearch::new(planner, question, executor, inputs, budget.clone());
    let mut tree = Tree { nodes: vec![crate::mcts::Node::root()], rollouts: Vec::new(), iterations: 0, stopped: "iterations".into() };
    for i in 0..config.iterations {
        if env.exhausted() {
            tree.stopped = "budget".into();
            break;
        }
        tree.iterations += 1;
        let seed = planner.config().seed.wrapping_add(i as u64);
        let rollout = match planner.plan_seeded(question, seed, if i == 0 { 0.0 } else { temperature }).await {
            Ok(planned) => {
                env.spent.llm_calls += planned.llm_calls();
                let likelihood = planned.mean_logprob().map_or(1.0, f64::exp);
                let attempts = serde_json::to_value(&planned.attempts).unwrap_or_default();
                let mut rollout = match planned.program {
                    Some(checked) => env.evaluate(checked.source, likelihood).await,
                    None => {
                        env.spent.invalid += 1;
                        let last = planned.attempts.last().map(|a| (a.source.clone(), render_findings(&a.findings, &a.source)));
                        let (program, error) = last.unwrap_or_default();
                        failed(program, error, serde_json::json!({"valid": false}))
                    }
                };
                // Every attempt with its diagnostics, for the trace.
                if let Some(d) = rollout.details.as_object_mut() {
                    d.insert("attempts".into(), attempts);
                }
                rollout
            }
            Err(e) => failed(String::new(), e.to_string(), serde_json::json!({})),
        };
        let id = tree.nodes.len();
        let mut node = crate::mcts::Node::root();
        node.id = id;
        node.parent = Some(0);
        node.step = rollout.program.clone();
        node.depth = 1;
        node.terminal = true;
        node.visits = 1;
        node.value = rollout.reward;
        node.rollouts = vec![tree.rollouts.len()];
        tree.nodes[0].children.push(id);
        tree.nodes[0].visits += 1;
        tree.nodes[0].value += rollout.reward;
        tree.nodes.push(node);
        tree.rollouts.push(rollout);
    }
    finish("sample", tree, env.spent, budget, config, started)
}
