//! Writing one program: ask the model, check what it wrote, and feed the
//! findings back for up to [`PlannerConfig::repair_rounds`] repairs (as
//! VURF does). A repair that repeats the rejected program is stuck on it;
//! the round after it starts afresh from the question, sampled. A program still invalid after the last round is rejected with
//! its findings; nothing unchecked is ever run.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vprog_runtime::Registry;

use crate::backend::{Completion, Finish, LlmBackend, LlmError, Message, Request, TextConstraint};
use crate::constraint::ProgramConstraint;
use crate::prompt::{messages, parse_example, repair_message, revision_message, system_prompt, Example, Question, KIND_EXAMPLES};
use crate::usefulness::{judge, question_kind, Judgement, QuestionKind};
use crate::validate::{check_program, extract_program, render_findings, Checked, Finding};

/// Sampling temperature of repairs after the first.
pub const REPAIR_TEMPERATURE: f64 = 0.7;

/// How the planner asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannerConfig {
    /// Repair rounds after the first attempt.
    pub repair_rounds: usize,
    /// Most tokens per program.
    pub max_tokens: usize,
    /// Sampling temperature of the first attempt (0: greedy).
    pub temperature: f64,
    /// Seed of the sampler.
    pub seed: u64,
    /// Whether to constrain decoding (backends that can).
    pub constrained: bool,
    /// Revision requests for a valid program the usefulness judge finds
    /// wanting ([`crate::usefulness`]): its shortcomings are fed back, and
    /// the revision is kept only when it is valid and useful (the valid
    /// program stands otherwise). 0 turns revision off (and is what a
    /// record written before revisions existed reads as).
    #[serde(default)]
    pub revision_rounds: usize,
    /// Whether to show the kind example matching the question
    /// ([`crate::prompt::KIND_EXAMPLES`]) before it (false in a record
    /// written before kind examples existed).
    #[serde(default)]
    pub kind_example: bool,
}

impl Default for PlannerConfig {
    fn default() -> PlannerConfig {
        PlannerConfig {
            repair_rounds: 2,
            max_tokens: 160,
            temperature: 0.0,
            seed: 0,
            constrained: true,
            revision_rounds: 1,
            kind_example: true,
        }
    }
}

/// One request to the model and what checking found.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// 0 for the first attempt, then the repair round (revisions number on).
    pub round: usize,
    /// Whether this attempt revised a valid program the usefulness judge
    /// found wanting ([`PlannerConfig::revision_rounds`]).
    pub revision: bool,
    /// The usefulness judge's verdict on a valid program (`None` when invalid).
    pub useful: Option<bool>,
    /// Whether this round started afresh from the question (sampled),
    /// because the repair before it repeated a rejected program.
    pub restarted: bool,
    /// The model's reply as written.
    pub reply: String,
    /// The program extracted from it.
    pub source: String,
    /// Errors found; empty when valid.
    pub findings: Vec<Finding>,
    /// Whether it was valid.
    pub valid: bool,
    /// Whether decoding was constrained.
    pub constrained: bool,
    /// Why generation stopped.
    pub finish: Finish,
    /// Generated tokens, when known.
    pub tokens: Option<usize>,
    /// Prompt tokens reused from earlier requests (local backend).
    pub reused_tokens: Option<usize>,
    /// Mean token log-probability, when known.
    pub mean_logprob: Option<f64>,
    /// Milliseconds the request took.
    pub ms: f64,
}

impl Attempt {
    /// The first attempt's record of `reply`, whose program `source` checked
    /// with `findings` (`valid`, and `useful` by the judge when valid).
    fn of_reply(reply: &Completion, source: String, findings: Vec<Finding>, valid: bool, useful: Option<bool>) -> Attempt {
        Attempt {
            round: 0,
            revision: false,
            useful,
            restarted: false,
            reply: reply.text.clone(),
            source,
            findings,
            valid,
            constrained: reply.constrained,
            finish: reply.finish,
            tokens: reply.completion_tokens,
            reused_tokens: reply.reused_tokens,
            mean_logprob: reply.mean_logprob(),
            ms: reply.elapsed.as_secs_f64() * 1000.0,
        }
    }
}

/// The result of planning one program.
pub struct Planned {
    /// The valid program: one an attempt produced, or the fallback.
    pub program: Option<Checked>,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Why `program` is the fallback rather than the model's
    /// ([`Planner::plan_or_fallback`]); `None` when the model wrote it.
    pub fallback: Option<String>,
}

impl Planned {
    /// What `vprog plan --json` prints for it: whether it is valid, the
    /// program, the requests made and every attempt with its findings.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "valid": self.program.is_some(),
            "program": self.program.as_ref().map(|c| c.source.as_str()),
            "fallback": self.fallback,
            "llm_calls": self.llm_calls(),
            "attempts": self.attempts,
        })
    }

    /// Requests made to the model.
    pub fn llm_calls(&self) -> usize {
        self.attempts.len()
    }

    /// Repair rounds made (revisions not counted).
    pub fn repairs(&self) -> usize {
        self.attempts.iter().filter(|a| !a.revision).count().saturating_sub(1)
    }

    /// Whether the program is a revision the model wrote for usefulness.
    pub fn revised(&self) -> bool {
        self.kept_attempt().is_some_and(|a| a.revision)
    }

    /// The attempt that wrote the program (`None` for the fallback).
    fn kept_attempt(&self) -> Option<&Attempt> {
        self.program.as_ref().filter(|_| self.fallback.is_none())?;
        // A revision is kept only when useful; else the first valid attempt stands.
        self.attempts
            .iter()
            .find(|a| a.revision && a.useful == Some(true))
            .or_else(|| self.attempts.iter().find(|a| a.valid && !a.revision))
    }

    /// Whether the model wrote the valid program (repaired or not), not the
    /// fallback.
    pub fn valid_from_model(&self) -> bool {
        self.program.is_some() && self.fallback.is_none()
    }

    /// Whether the first attempt was already valid.
    pub fn valid_first(&self) -> bool {
        self.attempts.first().is_some_and(|a| a.valid)
    }

    /// Mean token log-probability of the valid program (0 = certain).
    pub fn mean_logprob(&self) -> Option<f64> {
        self.kept_attempt().and_then(|a| a.mean_logprob)
    }
}

/// Writes programs for questions with a language model.
pub struct Planner {
    backend: Arc<dyn LlmBackend>,
    registry: Arc<Registry>,
    system: String,
    constraint: Arc<ProgramConstraint>,
    choice_constraint: Arc<ProgramConstraint>,
    kind_examples: Vec<KindExample>,
    config: PlannerConfig,
}

/// A kind example the registry can run, for questions of its kind and form.
struct KindExample {
    kind: QuestionKind,
    with_options: bool,
    example: Example,
}

/// The kind examples ([`KIND_EXAMPLES`]) that are valid and useful programs
/// with the modules of `registry` (an example calling a module that is not
/// registered would teach the model a name the checker rejects).
fn kind_examples(registry: &Registry) -> Vec<KindExample> {
    let mut out = Vec::new();
    for (kind, with_options, file, text) in KIND_EXAMPLES {
        let Some(example) = parse_example(text) else { continue };
        let checked = check_program(&example.program, registry, with_options);
        let useful = checked.findings.is_empty() && checked.plan.as_ref().is_some_and(|p| judge(&example.question, p, registry).useful);
        if useful {
            out.push(KindExample { kind, with_options, example });
        } else {
            tracing::debug!(file, "kind example left out: not a valid, useful program with these modules");
        }
    }
    out
}

impl Planner {
    /// A planner calling the modules of `registry`.
    pub fn new(backend: Arc<dyn LlmBackend>, registry: Arc<Registry>, config: PlannerConfig) -> Planner {
        let system = system_prompt(&registry);
        let constraint = ProgramConstraint::new(&registry);
        let choice_constraint = Arc::new(constraint.answering_with_choice(&registry));
        let kind_examples = kind_examples(&registry);
        Planner { backend, registry, system, constraint: Arc::new(constraint), choice_constraint, kind_examples, config }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn LlmBackend> {
        &self.backend
    }

    /// The registry programs are checked against.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The system prompt.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// The configuration.
    pub fn config(&self) -> &PlannerConfig {
        &self.config
    }

    /// Whether decoding is constrained (asked for, and the backend can).
    pub fn constrained(&self) -> bool {
        self.config.constrained && self.backend.constrains()
    }

    /// The program constraint for `question`, when decoding is constrained.
    pub fn constraint(&self, question: &Question) -> Option<Arc<dyn TextConstraint>> {
        let c = if question.options.is_empty() { &self.constraint } else { &self.choice_constraint };
        self.constrained().then(|| c.clone() as Arc<dyn TextConstraint>)
    }

    /// The kind example shown before `question`: the one of its kind
    /// ([`question_kind`]) and form (with options or open), when
    /// [`PlannerConfig::kind_example`] is on and the registry can run it.
    pub fn kind_example(&self, question: &Question) -> Option<&Example> {
        let kind = question_kind(&question.text);
        let with_options = !question.options.is_empty();
        self.config
            .kind_example
            .then(|| self.kind_examples.iter().find(|k| k.kind == kind && k.with_options == with_options).map(|k| &k.example))
            .flatten()
    }

    /// The conversation asking for a program for `question`.
    pub fn conversation(&self, question: &Question) -> Vec<Message> {
        messages(&self.system, self.kind_example(question), question)
    }

    /// Plans one program: a first attempt and up to `repair_rounds` repairs.
    pub async fn plan(&self, question: &Question) -> Result<Planned, LlmError> {
        self.plan_seeded(question, self.config.seed, self.config.temperature).await
    }

    /// Like [`Planner::plan`] with another seed and temperature (for
    /// sampling several candidates).
    pub async fn plan_seeded(&self, question: &Question, seed: u64, temperature: f64) -> Result<Planned, LlmError> {
        let mut conversation = self.conversation(question);
        let mut attempts: Vec<Attempt> = Vec::new();
        for round in 0..=self.config.repair_rounds {
            // A repair that wrote the rejected program again is stuck on it:
            // the next round starts afresh from the question, sampled, so it
            // is not anchored on the broken program.
            let restart = round >= 2 && attempts[round - 1].source == attempts[round - 2].source;
            if restart {
                conversation = self.conversation(question);
            }
            let request = Request {
                messages: conversation.clone(),
                prefix: String::new(),
                max_tokens: self.config.max_tokens,
                // The first repair is greedy: the findings say what to change.
                // Later ones sample, so they do not repeat it.
                temperature: match round {
                    0 => temperature,
                    1 => 0.0,
                    _ => temperature.max(REPAIR_TEMPERATURE),
                },
                seed: seed.wrapping_add(round as u64),
                stop: Vec::new(),
                constraint: self.constraint(question),
            };
            let reply = self.backend.complete(&request).await?;
            let source = extract_program(&reply.text);
            let checked = check_program(&source, &self.registry, !question.options.is_empty());
            let mut findings = checked.findings.clone();
            if findings.is_empty() && checked.plan.is_none() {
                findings.push(Finding {
                    code: "planner::incomplete".into(),
                    line: source.lines().count().max(1),
                    column: 1,
                    message: "the program has no `answer` line".into(),
                    help: Some("end with `answer ...`".into()),
                });
            }
            if reply.finish == Finish::Length && !findings.is_empty() {
                findings.push(Finding {
                    code: "planner::too_long".into(),
                    line: source.lines().count().max(1),
                    column: 1,
                    message: format!("the program was cut off after {} tokens", self.config.max_tokens),
                    help: Some("write a shorter program".into()),
                });
            }
            let valid = findings.is_empty();
            tracing::debug!(round, valid, source = %source, "planner attempt");
            let judgement = checked.plan.as_ref().filter(|_| valid).map(|plan| judge(&question.text, plan, &self.registry));
            attempts.push(Attempt {
                round,
                restarted: restart,
                ..Attempt::of_reply(&reply, source.clone(), findings.clone(), valid, judgement.as_ref().map(|j| j.useful))
            });
            if let Some(judgement) = judgement {
                let program = self.revise(question, conversation, checked, judgement, &mut attempts, seed).await;
                return Ok(Planned { program: Some(program), attempts, fallback: None });
            }
            conversation.push(Message::assistant(source.trim_end()));
            conversation.push(repair_message(&render_findings(&findings, &source)));
        }
        Ok(Planned { program: None, attempts, fallback: None })
    }

    /// Asks up to [`PlannerConfig::revision_rounds`] times for a better
    /// program when the valid `program` is not useful (its `judgement`,
    /// [`crate::usefulness::judge`]), telling the model what it lacks;
    /// returns the first valid and useful revision, else `program`. A
    /// backend error ends revising with `program` kept (logged), so a valid
    /// program is never lost to it.
    async fn revise(
        &self,
        question: &Question,
        mut conversation: Vec<Message>,
        program: Checked,
        judgement: Judgement,
        attempts: &mut Vec<Attempt>,
        seed: u64,
    ) -> Checked {
        if judgement.useful || self.config.revision_rounds == 0 {
            return program;
        }
        conversation.push(Message::assistant(program.source.trim_end()));
        conversation.push(revision_message(&judgement, &question.text));
        for r in 0..self.config.revision_rounds {
            let request = Request {
                messages: conversation.clone(),
                prefix: String::new(),
                max_tokens: self.config.max_tokens,
                // The first revision is greedy; later ones sample, so they differ.
                temperature: if r == 0 { 0.0 } else { REPAIR_TEMPERATURE },
                seed: seed.wrapping_add(1_000 + r as u64),
                stop: Vec::new(),
                constraint: self.constraint(question),
            };
            let reply = match self.backend.complete(&request).await {
                Ok(reply) => reply,
                Err(why) => {
                    tracing::warn!(%why, "planner: revision request failed; the valid program stands");
                    break;
                }
            };
            let source = extract_program(&reply.text);
            let checked = check_program(&source, &self.registry, !question.options.is_empty());
            let valid = checked.findings.is_empty() && checked.plan.is_some();
            let useful = checked.plan.as_ref().filter(|_| valid).map(|plan| judge(&question.text, plan, &self.registry).useful);
            tracing::debug!(round = r, valid, ?useful, source = %source, "planner revision");
            attempts.push(Attempt {
                round: attempts.len(),
                revision: true,
                ..Attempt::of_reply(&reply, source, checked.findings.clone(), valid, useful)
            });
            if useful == Some(true) {
                return checked;
            }
        }
        program
    }

    /// Like [`Planner::plan_seeded`], and when no attempt gave a valid
    /// program, the fallback: the fast path's program for the question
    /// ([`crate::fast_slow::fast_programs`]: a tracked count for "how many"
    /// without options, else the whole-video evidence that fits the video,
    /// read by `choose` or `ask_llm`), checked like any other. So a
    /// well-formed question always gets a program; [`Planned::fallback`]
    /// says when it is this one.
    pub async fn plan_or_fallback(&self, question: &Question, seed: u64, temperature: f64) -> Result<Planned, LlmError> {
        let mut planned = self.plan_seeded(question, seed, temperature).await?;
        if planned.program.is_none() {
            let config = crate::fast_slow::ReasonConfig::default();
            let fallback = crate::fast_slow::fast_programs(question, &self.registry, &config)
                .into_iter()
                .map(|source| check_program(&source, &self.registry, !question.options.is_empty()))
                .find(|c| c.findings.is_empty() && c.plan.is_some());
            if let Some(checked) = fallback {
                let n = planned.attempts.len();
                planned.fallback = Some(format!(
                    "no valid program after {n} attempt{}: the fast path's program for the question stands in",
                    if n == 1 { "" } else { "s" }
                ));
                planned.program = Some(checked);
            }
        }
        Ok(planned)
    }
}
