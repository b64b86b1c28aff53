//! The planner's prompt: the language reference, the module catalog (built
//! from the registry, so loaded plugins are included) and few-shot examples,
//! all kept as files under `planner/prompts/`.

use std::fmt::Write as _;

use vprog_grammar::{BinaryOp, UnaryOp};
use vprog_runtime::{Module, Registry};

use crate::backend::Message;
use crate::usefulness::{entities, Judgement, QuestionKind};

/// The language reference given to the model (`planner/prompts/language.md`).
pub const LANGUAGE: &str = include_str!("../prompts/language.md");

/// Few-shot examples (`planner/prompts/examples/*.vp`): a `# Q:` line, an
/// optional `# Options:` line (`a | b | c`), then the program.
pub const EXAMPLES: [(&str, &str); 5] = [
    ("01_count_people.vp", include_str!("../prompts/examples/01_count_people.vp")),
    ("02_said.vp", include_str!("../prompts/examples/02_said.vp")),
    ("03_on_screen.vp", include_str!("../prompts/examples/03_on_screen.vp")),
    ("04_why.vp", include_str!("../prompts/examples/04_why.vp")),
    ("05_after.vp", include_str!("../prompts/examples/05_after.vp")),
];

/// Kind examples (`planner/prompts/kinds/*.vp`): for each [`QuestionKind`],
/// one question with options and one without. The planner shows the one
/// matching the question's kind and form as an earlier exchange, just before
/// the question ([`messages`]): a small model copies the nearest example's
/// shape, and the fixed examples of the system prompt are far away and of
/// other kinds.
pub const KIND_EXAMPLES: [(QuestionKind, bool, &str, &str); 10] = [
    (QuestionKind::Counting, true, "counting_choice.vp", include_str!("../prompts/kinds/counting_choice.vp")),
    (QuestionKind::Counting, false, "counting_open.vp", include_str!("../prompts/kinds/counting_open.vp")),
    (QuestionKind::Temporal, true, "temporal_choice.vp", include_str!("../prompts/kinds/temporal_choice.vp")),
    (QuestionKind::Temporal, false, "temporal_open.vp", include_str!("../prompts/kinds/temporal_open.vp")),
    (QuestionKind::Speech, true, "speech_choice.vp", include_str!("../prompts/kinds/speech_choice.vp")),
    (QuestionKind::Speech, false, "speech_open.vp", include_str!("../prompts/kinds/speech_open.vp")),
    (QuestionKind::OnScreenText, true, "on_screen_text_choice.vp", include_str!("../prompts/kinds/on_screen_text_choice.vp")),
    (QuestionKind::OnScreenText, false, "on_screen_text_open.vp", include_str!("../prompts/kinds/on_screen_text_open.vp")),
    (QuestionKind::Descriptive, true, "descriptive_choice.vp", include_str!("../prompts/kinds/descriptive_choice.vp")),
    (QuestionKind::Descriptive, false, "descriptive_open.vp", include_str!("../prompts/kinds/descriptive_open.vp")),
];

/// Parameters left out of the catalog: every language-model module takes a
/// `model` whose default is the right choice, and listing catalog ids costs
/// tokens in every prompt. The checker still accepts them.
const HIDDEN_PARAMS: [&str; 1] = ["model"];

/// What the planner knows about the video when it plans.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct VideoFacts {
    /// Length in seconds.
    pub duration: Option<f64>,
    /// Whether it has a subtitle track or sidecar file.
    pub subtitles: Option<bool>,
    /// Whether it has an audio track.
    pub audio: Option<bool>,
    /// Width and height of its pictures, in pixels.
    pub size: Option<(u32, u32)>,
}

impl VideoFacts {
    /// The facts of an opened video: its length, size, and whether it has
    /// subtitles and audio.
    pub fn of(video: &vprog_runtime::value::VideoRef) -> VideoFacts {
        let has = |kind: &str| video.info.streams.iter().any(|s| s.kind == kind);
        VideoFacts {
            duration: (video.info.duration > 0.0).then_some(video.info.duration),
            subtitles: Some(video.subtitles.is_some() || has("subtitle")),
            audio: Some(has("audio")),
            size: (video.info.width > 0 && video.info.height > 0).then_some((video.info.width, video.info.height)),
        }
    }
}

/// A question to plan for.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Question {
    /// The question.
    pub text: String,
    /// Answer options; empty for an open question.
    pub options: Vec<String>,
    /// What is known about the video.
    pub video: VideoFacts,
}

impl Question {
    /// An open question about an unknown video.
    pub fn new(text: impl Into<String>) -> Question {
        Question { text: text.into(), options: Vec::new(), video: VideoFacts::default() }
    }

    /// The same question with answer options.
    pub fn with_options(mut self, options: Vec<String>) -> Question {
        self.options = options;
        self
    }

    /// A question as a user asked it, refused when it cannot be planned for:
    /// an empty question or one over [`MAX_QUESTION_CHARS`]; an empty
    /// option or one over [`MAX_OPTION_CHARS`]; one option (a choice needs
    /// two, or none for an open question); more than [`MAX_OPTIONS`]. A
    /// question in another language is planned as written (the prompt and
    /// its examples are English, so programs for it are less reliable).
    pub fn asked(text: String, options: Vec<String>, video: VideoFacts) -> Result<Question, BadQuestion> {
        let chars = text.trim().chars().count();
        if chars == 0 {
            return Err(BadQuestion("the question is empty".into()));
        }
        if chars > MAX_QUESTION_CHARS {
            return Err(BadQuestion(format!("the question is {chars} characters long; at most {MAX_QUESTION_CHARS} are planned for")));
        }
        if let Some(i) = options.iter().position(|o| o.trim().is_empty()) {
            return Err(BadQuestion(format!("answer option {} of {} is empty", i + 1, options.len())));
        }
        if let Some(i) = options.iter().position(|o| o.chars().count() > MAX_OPTION_CHARS) {
            return Err(BadQuestion(format!("answer option {} is over {MAX_OPTION_CHARS} characters long", i + 1)));
        }
        match options.len() {
            1 => return Err(BadQuestion("one answer option is no choice: give two or more, or none for an open question".into())),
            n if n > MAX_OPTIONS => return Err(BadQuestion(format!("{n} answer options; at most {MAX_OPTIONS} are supported"))),
            _ => {}
        }
        Ok(Question { text, options, video })
    }
}

/// The longest question planned for, in characters (NExT-QA's longest is
/// under 200; longer text is most likely a pasted document).
pub const MAX_QUESTION_CHARS: usize = 2_000;
/// The longest answer option, in characters.
pub const MAX_OPTION_CHARS: usize = 500;
/// The most answer options (one per letter, A to Z).
pub const MAX_OPTIONS: usize = 26;

/// Why a question cannot be planned for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadQuestion(pub String);

/// One example, split into its question, options and program.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The `# Q:` line.
    pub question: String,
    /// The `# Options:` line, split at `|`.
    pub options: Vec<String>,
    /// The program (comment lines removed).
    pub program: String,
}

/// Splits an example file; `None` when it has no `# Q:` line.
pub fn parse_example(text: &str) -> Option<Example> {
    let mut question = None;
    let mut options = Vec::new();
    let mut program = String::new();
    for line in text.lines() {
        if let Some(q) = line.strip_prefix("# Q:") {
            question = Some(q.trim().to_string());
        } else if let Some(o) = line.strip_prefix("# Options:") {
            options = o.split('|').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        } else if !line.trim_start().starts_with('#') && !line.trim().is_empty() {
            program.push_str(line.trim_end());
            program.push('\n');
        }
    }
    Some(Example { question: question?, options, program })
}

/// Whether `name` is the module an operator is lowered to (`add` for `+`):
/// such modules are written as operators, so the catalog leaves them out.
pub fn is_operator_module(name: &str) -> bool {
    use BinaryOp::*;
    [Or, And, Eq, Ne, Lt, Le, Gt, Ge, Add, Sub, Mul, Div].iter().any(|op| op.module_name() == name)
        || [UnaryOp::Not, UnaryOp::Neg].iter().any(|op| op.module_name() == name)
}

/// One catalog line: `name(params) -> Result: summary`.
pub fn catalog_line(module: &dyn Module) -> String {
    let sig = module.signature();
    format!("{}: {}", sig.display_with(|p| !HIDDEN_PARAMS.contains(&p.name)), sig.summary())
}

/// The module catalog of `registry`, one line per module, operators and
/// modules whose model is not installed left out.
pub fn catalog(registry: &Registry) -> String {
    let mut out = String::new();
    for m in registry.iter().filter(|m| !is_operator_module(m.signature().name) && m.missing_model().is_none()) {
        out.push_str(&catalog_line(m.as_ref()));
        out.push('\n');
    }
    out
}

/// The question as the user message writes it (also used for examples).
pub fn question_block(text: &str, options: &[String], video: &VideoFacts) -> String {
    let mut s = format!("Question: {}\n", text.trim());
    if !options.is_empty() {
        let _ = writeln!(s, "Options: {}", options.iter().map(|o| o.trim()).collect::<Vec<_>>().join(" | "));
    }
    let mut facts = Vec::new();
    if let Some(d) = video.duration {
        facts.push(format!("{d:.0} s long"));
    }
    match video.subtitles {
        Some(true) => facts.push("has subtitles".to_string()),
        Some(false) => facts.push("no subtitles".to_string()),
        None => {}
    }
    match video.audio {
        Some(true) => facts.push("has audio".to_string()),
        Some(false) => facts.push("no audio".to_string()),
        None => {}
    }
    if !facts.is_empty() {
        let _ = writeln!(s, "Video: {}", facts.join(", "));
    }
    s
}

/// The system message: language, catalog, examples. It depends only on the
/// registry, so its keys and values are reused across questions by the local
/// backend's prefix cache.
pub fn system_prompt(registry: &Registry) -> String {
    let mut s = String::new();
    s.push_str(LANGUAGE.trim());
    s.push_str("\n\nModules, as name(parameters) -> result: what it does:\n");
    s.push_str(&catalog(registry));
    s.push_str("\nExamples:\n");
    for (_, text) in EXAMPLES {
        if let Some(ex) = parse_example(text) {
            s.push('\n');
            s.push_str(&question_block(&ex.question, &ex.options, &VideoFacts::default()));
            s.push_str("Program:\n");
            s.push_str(&ex.program);
        }
    }
    s
}

/// The conversation asking for a program answering `question`: the system
/// message, then `example` (a kind example, [`KIND_EXAMPLES`]) as an earlier
/// exchange when given, then the question.
pub fn messages(system: &str, example: Option<&Example>, question: &Question) -> Vec<Message> {
    let ask =
        |text: &str, options: &[String], video: &VideoFacts| Message::user(format!("{}Program:", question_block(text, options, video)));
    let mut out = vec![Message::system(system)];
    if let Some(ex) = example {
        out.push(ask(&ex.question, &ex.options, &VideoFacts::default()));
        out.push(Message::assistant(ex.program.trim_end()));
    }
    out.push(ask(&question.text, &question.options, &question.video));
    out
}

/// The user message asking to revise a valid program the usefulness judge
/// found wanting ([`crate::usefulness`]): what it lacks, in words.
pub fn revision_message(judgement: &Judgement, question: &str) -> Message {
    let mut lacks = Vec::new();
    if !judgement.evidence {
        lacks.push("- The answer does not look at the video: take evidence from it.".to_string());
    }
    if !judgement.relevant && !judgement.relevant_modules.is_empty() {
        let about = match judgement.kind {
            QuestionKind::Counting => "A counting question",
            QuestionKind::Temporal => "A question about order in time (before, after, when, first, last)",
            QuestionKind::Speech => "A question about what is said",
            QuestionKind::OnScreenText => "A question about text on screen",
            QuestionKind::Descriptive => "A question about what is seen",
        };
        lacks.push(format!("- {about} needs evidence from one of: {}.", judgement.relevant_modules.join(", ")));
    }
    if !judgement.entities {
        let words = entities(question);
        let named = if words.is_empty() { String::new() } else { format!(", or look for {}", words.join(", ")) };
        lacks.push(format!("- It ignores what the question is about: give `question` to the module that answers{named}."));
    }
    Message::user(format!(
        "That program is valid but weak:\n{}\nWrite a better program: one statement per line, ending with an `answer` line.\nProgram:",
        lacks.join("\n")
    ))
}

/// The user message asking for a repaired program, given the checker's
/// findings on the previous one.
pub fn repair_message(findings: &str) -> Message {
    Message::user(format!("That program has errors:\n{findings}\nWrite the corrected program: one statement per line, ending with an `answer` line.\nProgram:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_questions_are_refused_with_the_reason() {
        let ask = |q: &str, options: Vec<String>| Question::asked(q.to_string(), options, VideoFacts::default()).map_err(|e| e.0);
        let opts = |n: usize| (0..n).map(|i| format!("option {i}")).collect::<Vec<_>>();
        assert_eq!(ask("  ", vec![]).err().as_deref(), Some("the question is empty"));
        assert!(ask(&"why ".repeat(2_500), vec![]).err().is_some_and(|e| e.contains("9999 characters long")));
        assert!(ask("why?", vec!["a".into(), " ".into()]).err().is_some_and(|e| e.contains("option 2 of 2 is empty")));
        assert!(ask("why?", opts(1)).err().is_some_and(|e| e.contains("one answer option is no choice")));
        assert!(ask("why?", opts(26)).is_ok(), "26 options, A to Z");
        assert!(ask("why?", opts(27)).err().is_some_and(|e| e.contains("27 answer options")));
        assert!(ask("¿Por qué ladra el perro?", opts(2)).is_ok(), "another language is planned as written");
        assert!(ask("why?", vec![]).is_ok(), "an open question");
    }
}
