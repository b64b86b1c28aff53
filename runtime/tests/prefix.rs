//! The prefix checker on a synthetic registry: every prefix of valid
//! programs is viable, each rejection happens at the first character that
//! allows no continuation, and the verdicts agree with the real parser and
//! checker on generated programs.

use std::sync::Arc;

use async_trait::async_trait;
use vprog_grammar::StatementKind;
use vprog_runtime::check::prefix::PrefixChecker;
use vprog_runtime::module::{Constraint, Param, ParamType, Returns, Signature};
use vprog_runtime::{Args, Module, ModuleError, Registry, StepContext, Type, Value};

/// A module that only has a signature.
struct Stub(Signature);

#[async_trait]
impl Module for Stub {
    fn signature(&self) -> &Signature {
        &self.0
    }
    async fn call(&self, _args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        Err(ModuleError::Failed("stub".into()))
    }
}

fn sig(name: &'static str, returns: Returns) -> Signature {
    Signature::new(name, "1.0.0", returns, "A stub.")
}

fn one_of(ts: &[Type]) -> ParamType {
    ParamType::OneOf(ts.to_vec())
}

fn registry() -> Registry {
    let collection = [Type::Frames, Type::Detections, Type::Tracks, Type::TimedText, Type::Clip, Type::list(Type::Any)];
    let sigs = vec![
        sig("sample", Returns::Is(Type::Frames))
            .param(Param::of("clip", Type::Clip, ""))
            .param(Param::of("fps", Type::Number, "").optional())
            .param(Param::of("count", Type::Int, "").optional())
            .param(Param::of("scenes", Type::Number, "").optional())
            .constraint(Constraint::AtMostOneOf(&["fps", "count", "scenes"])),
        sig("detect", Returns::Is(Type::Detections))
            .param(Param::of("frames", Type::Frames, ""))
            .param(Param::of("label", Type::Text, "").default(Value::text("person")))
            .param(Param::of("min_score", Type::Number, "").default(Value::Number(0.25))),
        sig("track", Returns::Is(Type::Tracks))
            .param(Param::of("detections", Type::Detections, ""))
            .param(Param::of("min_travel", Type::Number, "").default(Value::Number(0.0))),
        sig("count", Returns::Is(Type::Int)).param(Param::required("items", one_of(&collection), "").generic()),
        sig("exists", Returns::Is(Type::Bool)).param(Param::required("items", one_of(&collection), "").generic()),
        sig("first", Returns::ElementOfT).param(Param::required("items", one_of(&collection), "").generic()),
        sig("subtitles", Returns::Is(Type::TimedText)).param(Param::of("video", Type::Clip, "")),
        sig("contains", Returns::Is(Type::Bool))
            .param(Param::required("text", one_of(&[Type::Text, Type::TimedText]), ""))
            .param(Param::of("pattern", Type::Text, ""))
            .param(Param::of("case_sensitive", Type::Bool, "").default(Value::Bool(false))),
        sig("trim_around", Returns::Is(Type::Clip))
            .param(Param::of("video", Type::Clip, ""))
            .param(Param::required("anchor", one_of(&[Type::Timestamp, Type::TimedText, Type::Frames, Type::Clip]), ""))
            .param(Param::of("pad", Type::Duration, "").default(Value::Duration(5.0))),
        sig("start", Returns::Is(Type::Timestamp)).param(Param::required("x", one_of(&collection), "")),
        sig("concat", Returns::T).param(Param::required("items", one_of(&[Type::TimedText, Type::Text]), "").generic().variadic()),
        sig("choose", Returns::Is(Type::Choice))
            .param(Param::of("question", Type::Text, ""))
            .param(Param::of("options", Type::list(Type::Text), ""))
            .param(Param::of("evidence", Type::Any, "").default(Value::List(Arc::new(Vec::new())))),
        // Operators.
        sig("eq", Returns::Is(Type::Bool)).param(Param::of("a", Type::Any, "").generic()).param(Param::required(
            "b",
            ParamType::SameAsT,
            "",
        )),
        sig("ne", Returns::Is(Type::Bool)).param(Param::of("a", Type::Any, "").generic()).param(Param::required(
            "b",
            ParamType::SameAsT,
            "",
        )),
        sig("lt", Returns::Is(Type::Bool))
            .param(Param::required("a", one_of(&[Type::Number, Type::Duration, Type::Timestamp, Type::Text]), "").generic())
            .param(Param::required("b", ParamType::SameAsT, "")),
        sig("gt", Returns::Is(Type::Bool))
            .param(Param::required("a", one_of(&[Type::Number, Type::Duration, Type::Timestamp, Type::Text]), "").generic())
            .param(Param::required("b", ParamType::SameAsT, "")),
        sig("add", Returns::Numeric).param(Param::of("a", Type::Number, "")).param(Param::of("b", Type::Number, "")),
        sig("sub", Returns::Numeric).param(Param::of("a", Type::Number, "")).param(Param::of("b", Type::Number, "")),
        sig("mul", Returns::Numeric).param(Param::of("a", Type::Number, "")).param(Param::of("b", Type::Number, "")),
        sig("neg", Returns::Numeric).param(Param::of("a", Type::Number, "")),
        sig("and", Returns::Is(Type::Bool)).param(Param::of("a", Type::Bool, "")).param(Param::of("b", Type::Bool, "")),
        sig("or", Returns::Is(Type::Bool)).param(Param::of("a", Type::Bool, "")).param(Param::of("b", Type::Bool, "")),
        sig("not", Returns::Is(Type::Bool)).param(Param::of("a", Type::Bool, "")),
    ];
    let mut r = Registry::new();
    for s in sigs {
        r.register(Arc::new(Stub(s))).expect("unique names");
    }
    r
}

fn checker() -> PrefixChecker {
    PrefixChecker::new(&registry())
}

/// Whether the real parser and checker accept `text` without errors.
fn checks(text: &str, registry: &Registry) -> bool {
    vprog_grammar::parse(text).is_ok_and(|p| !vprog_runtime::check::check(&p, registry).has_errors())
}

fn char_boundaries(text: &str) -> impl Iterator<Item = usize> + '_ {
    (0..=text.len()).filter(|i| text.is_char_boundary(*i))
}

/// Asserts that `text` is rejected at byte `offset`, that the text before
/// that character is viable, and returns the reason.
#[track_caller]
fn rejected_at(ck: &PrefixChecker, text: &str, offset: usize) -> String {
    let v = ck.check(text);
    let e = v.error.clone().unwrap_or_else(|| panic!("{text:?} should be rejected, got {v:?}"));
    assert!(!v.viable && !v.complete, "{text:?}: {v:?}");
    assert_eq!(e.offset, offset, "{text:?} rejected at {} ({}) instead of {offset}: {}", e.offset, &text[e.offset..], e.reason);
    assert!(ck.check(&text[..offset]).viable, "{:?} should be viable", &text[..offset]);
    let next = char_boundaries(text).find(|i| *i > offset).unwrap_or(text.len());
    assert!(!ck.check(&text[..next]).viable, "{:?} should not be viable", &text[..next]);
    e.reason
}

/// `text.find(needle) + plus`, for readable offsets.
#[track_caller]
fn at(text: &str, needle: &str, plus: usize) -> usize {
    text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in {text:?}")) + plus
}

#[track_caller]
fn all_prefixes_viable(ck: &PrefixChecker, text: &str) {
    for i in char_boundaries(text) {
        let v = ck.check(&text[..i]);
        assert!(v.viable, "prefix {:?} rejected: {:?}", &text[..i], v.error);
    }
}

const PEOPLE: &str = "# How many people?\n\
                      frames = sample(video, fps: 2)\n\
                      people = detect(frames, \"person\", min_score: 0.4)\n\
                      answer count(track(people, min_travel: 1))\n";

const SUBS: &str = "subs = subtitles(video)\n\
                    hits = [cue for cue in subs if contains(cue, \"luck\", case_sensitive: false)]\n\
                    clip = trim_around(video, hits, pad: 2s)\n\
                    when = start(hits)\n\
                    late = when > 01:30.250 and not exists(hits) or count(hits) == -3\n\
                    nested = [[count(detect(f, \"dog\")) + 1 for f in sample(w, count: 4)] for w in [clip, video]]\n\
                    texts = concat(\"a\\n\\u{e9}\", \"b\", question)\n\
                    answer choose(question, options, evidence: [subs, texts, late, nested])";

#[test]
fn valid_programs_are_viable_at_every_prefix_and_complete_at_the_end() {
    let ck = checker();
    let r = registry();
    for text in [PEOPLE, SUBS] {
        assert!(checks(text, &r), "the test program itself must check: {text}");
        all_prefixes_viable(&ck, text);
        let v = ck.check(text);
        assert!(v.complete, "{v:?}");
        assert_eq!(v.statements, text.matches(" = ").count() + 1);
        let answer = text.find("answer").expect("has an answer");
        for i in char_boundaries(text).filter(|i| *i <= answer + 6) {
            assert!(!ck.check(&text[..i]).complete, "{:?} is not a whole program", &text[..i]);
        }
    }
}

#[test]
fn complete_versus_viable() {
    let ck = checker();
    let base = "x = sample(video, fps: 1)\n";
    let v = ck.check(&format!("{base}answer count(x)"));
    assert!(v.viable && v.complete && v.statements == 2, "{v:?}");
    let v = ck.check(&format!("{base}answer count(x)  # done\n"));
    assert!(v.viable && v.complete, "{v:?}");
    for text in ["answer count(x", "answer count(x) +", "answer count(x) an", "answer count", "answer 1:0", "answer \"abc"] {
        let v = ck.check(&format!("{base}{text}"));
        assert!(v.viable && !v.complete, "{text}: {v:?}");
        assert_eq!(v.statements, 1);
    }
    for text in ["answer x", "answer 5", "answer 5m", "answer 1:00", "answer -2.5", "answer true", "answer not x == x", "answer \"a\""] {
        let v = ck.check(&format!("{base}{text}"));
        assert!(v.viable && v.complete, "{text}: {v:?}");
    }
    // A binding is finished once the next statement starts.
    assert_eq!(ck.check("a = 1\nb = a").statements, 1);
    assert_eq!(ck.check("a = 1\nb = a\n").statements, 1);
    assert_eq!(ck.check("a = 1\nb = a\nc").statements, 2);
    assert!(!ck.check("").complete && ck.check("").viable);
}

#[test]
fn rejections_happen_at_the_first_impossible_character() {
    let ck = checker();
    // Unknown module: nothing in scope starts with `sm`.
    let t = "x = smaple(video)";
    let reason = rejected_at(&ck, t, at(t, "maple", 0));
    assert!(reason.contains("smaple"), "{reason}");
    // Unknown named argument, where only named arguments may follow.
    let t = "frames = sample(video, fps: 1)\nd = detect(frames, label: \"dog\", thresh: 0.5)";
    let reason = rejected_at(&ck, t, at(t, "thresh", 0));
    assert!(reason.contains("`detect` has no parameter starting with `thresh`"), "{reason}");
    // ... and at its first letter when positionally: `track(` returns
    // Tracks, which cannot become the Text a `label` needs.
    let t = "frames = sample(video, fps: 1)\nd = detect(frames, thresh: 0.5)";
    rejected_at(&ck, t, at(t, "thresh", 0));
    // Duplicate named argument.
    let t = "frames = sample(video, fps: 1)\nd = detect(frames, min_score: 0.5, min_score: 0.6)";
    let reason = rejected_at(&ck, t, at(t, "min_score: 0.6", 0));
    assert!(reason.contains("already given"), "{reason}");
    // A parameter excluded by an `AtMostOneOf` constraint.
    let t = "frames = sample(video, fps: 1, count: 3)";
    rejected_at(&ck, t, at(t, "count", 0));
    // A positional argument filling the same parameter twice.
    let t = "frames = sample(video, clip: video)";
    rejected_at(&ck, t, at(t, "lip:", 0));
    // Too many positional arguments (the third could only be a named one).
    let t = "answer count(video, video)";
    rejected_at(&ck, t, at(t, " video)", 1));
    // Positional after named.
    let t = "frames = sample(video, fps: 1, 2)";
    let reason = rejected_at(&ck, t, at(t, "2)", 0));
    assert!(reason.contains("positional"), "{reason}");
    // Missing required argument.
    let t = "x = detect()";
    rejected_at(&ck, t, at(t, ")", 0));
    // Wrong literal type: a Text cannot become a Number, whatever follows.
    let t = "frames = sample(video, fps: \"five\")";
    let reason = rejected_at(&ck, t, at(t, "\"five", 0));
    assert!(reason.contains("`fps` of `sample` expects Number"), "{reason}");
    // An operator that does not apply to a call's result, known from the
    // module's return type: a Timestamp minus a number (the planner wrote
    // `duration(video) - 80` this way, and repairs repeated it).
    let t = "x = start(subtitles(video)) - 80";
    let reason = rejected_at(&ck, t, at(t, "- 80", 0));
    assert!(reason.contains("`-` does not apply to Timestamp"), "{reason}");
    assert!(!checks(t, &registry()), "the checker must reject it too");
    let t = "answer count(subtitles(video)) - 1";
    assert!(ck.check(t).complete && checks(t, &registry()), "an Int result takes `-`");
    // Literal kinds that narrow as they are written.
    let t = "c = trim_around(video, 00:10, pad: 5)";
    rejected_at(&ck, t, at(t, "5)", 1));
    let t = "c = trim_around(video, 00:10, pad: 5:00)";
    rejected_at(&ck, t, at(t, ":00)", 0));
    let t = "c = sample(video, fps: 2s)";
    rejected_at(&ck, t, at(t, "s)", 0));
    let t = "c = sample(video, count: 2.5)";
    rejected_at(&ck, t, at(t, ".5", 0));
    let t = "c = trim_around(video, 00:10, pad: -1)";
    rejected_at(&ck, t, at(t, "-1", 0));
    // A literal that fits through an operator is kept until the argument ends.
    let t = "subs = subtitles(video)\nx = contains(subs, \"a\", case_sensitive: \"yes\")";
    rejected_at(&ck, t, at(t, "\")", 1));
    assert!(ck.check("subs = subtitles(video)\nx = contains(subs, \"a\", case_sensitive: \"yes\" == \"no\")").viable);
    // A variable of the wrong type: `frames` is Frames, `clip` needs a Clip;
    // `f` may still be `first(`, `fr` no longer.
    let t = "frames = sample(video, fps: 1)\nagain = sample(frames, fps: 1)";
    let reason = rejected_at(&ck, t, at(t, "rames, fps: 1)", 0));
    assert!(reason.contains("`clip` of `sample` (Clip)"), "{reason}");
    // A variable whose type fits only after an operator: rejected at `)`.
    let t = "n = 3\nsubs = subtitles(video)\nx = contains(subs, \"a\", case_sensitive: n)";
    rejected_at(&ck, t, at(t, ")", t.rfind(')').unwrap_or(0) - t.find(')').unwrap_or(0)));
    // An input of the wrong type.
    let t = "frames = sample(question)";
    rejected_at(&ck, t, at(t, "question", 0));
    // Binding a name twice, an input, a module, a keyword.
    let t = "x = 1\nx = 2";
    rejected_at(&ck, t, at(t, " = 2", 0));
    let t = "video = 1";
    rejected_at(&ck, t, 5);
    let t = "count = 1";
    rejected_at(&ck, t, 5);
    let t = "for = 1";
    rejected_at(&ck, t, 3);
    // A second answer: `an` may still be `and`, `ans` not.
    let t = "answer 1\nanswer 2";
    rejected_at(&ck, t, at(t, "swer 2", 0));
    // Text after a complete answer.
    let t = "answer 1\nx = 2";
    rejected_at(&ck, t, at(t, "x =", 0));
    // Unbalanced `)`.
    let t = "x = sample(video, fps: 1)\nanswer count(x))";
    rejected_at(&ck, t, t.len() - 1);
    let t = "answer (1]";
    rejected_at(&ck, t, t.len() - 1);
    // An unbound name: `pe` may still be `people`, `pep` not.
    let t = "frames = sample(video, fps: 1)\npeople = detect(frames)\nanswer count(peple)";
    let reason = rejected_at(&ck, t, at(t, "ple)", 0));
    assert!(reason.contains("peple"), "{reason}");
    // A complete name that is nothing: `fo` is a prefix of nothing... but `f` of `first`.
    let t = "answer count(fo)";
    rejected_at(&ck, t, at(t, "o)", 0));
    // A value called like a module, a module used as a value.
    let t = "x = 1\nanswer x(2)";
    rejected_at(&ck, t, at(t, "(2)", 0));
    let t = "answer count + 1";
    rejected_at(&ck, t, at(t, "+", 0));
    // Garbage.
    let t = "x = 1\n@@@";
    rejected_at(&ck, t, at(t, "@", 0));
    let t = "x = é";
    rejected_at(&ck, t, 4);
    let t = "x = 1\u{0}";
    rejected_at(&ck, t, 5);
    let t = "x = 1 = 2";
    rejected_at(&ck, t, at(t, " 2", 0));
    let t = "x = 1x";
    rejected_at(&ck, t, 5);
    // Literals out of range.
    let t = "answer 00:61";
    rejected_at(&ck, t, at(t, "61", 0));
    let t = "answer 00:01.1234";
    rejected_at(&ck, t, at(t, "4", 0));
    let t = "answer 99999999999999999999 + 1";
    rejected_at(&ck, t, at(t, " +", 0));
    let t = "answer \"a\\qb\"";
    rejected_at(&ck, t, at(t, "qb", 0));
    let t = "answer \"a\\u{110000}\"";
    rejected_at(&ck, t, at(t, "0}", 0));
    let t = "answer \"two\nlines\"";
    rejected_at(&ck, t, at(t, "\n", 0));
    let t = "answer -5s";
    rejected_at(&ck, t, at(t, "5s", 1));
    // Comprehensions: the head may use the variable before `for` binds it.
    let t = "answer [x + 1, 2]";
    rejected_at(&ck, t, at(t, ",", 0));
    // One open head binds one name: a second unknown name fails at once...
    let t = "answer [x + y for x in [1]]";
    rejected_at(&ck, t, at(t, "y for", 0));
    // ... two nested heads bind two, and the inner `for` must take one.
    let t = "answer [[x + y for z in [1]] for y in [2]]";
    rejected_at(&ck, t, at(t, "z in", 0));
    let t = "answer [[x + y for y in [1]] for y in [2]]";
    rejected_at(&ck, t, at(t, "y in [2]", 0));
    all_prefixes_viable(&ck, "answer [[x + y for x in [1]] for y in [2]]");
    all_prefixes_viable(&ck, "answer [count([[a, b] for a in [1]]) + b for b in [2]]");
    let t = "answer [[[a, b] for a in [1]] == [c] for b in [2]]";
    rejected_at(&ck, t, at(t, "] for b", 0));
    // (`+` would fail earlier: a list does not add.)
    let t = "answer [[[a, b] for a in [1]] + [c] for b in [2]]";
    rejected_at(&ck, t, at(t, "+ [c]", 0));
    let t = "answer [x for video in [1]]";
    rejected_at(&ck, t, at(t, "video", 0));
    let t = "answer [1 for video in [1]]";
    rejected_at(&ck, t, at(t, " in", 0));
    let t = "answer [x for x on [1]]";
    rejected_at(&ck, t, at(t, "on", 0));
    let t = "answer [1 for x in [1] if x > 0 if x]";
    rejected_at(&ck, t, at(t, "if x]", 0));
    // The variable is not in scope in its own source.
    let t = "answer [x for x in x]";
    rejected_at(&ck, t, at(t, "x]", 0));
}

#[test]
fn deep_nesting_and_long_inputs_do_not_overflow() {
    let ck = checker();
    let t = format!("answer {}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let v = ck.check(&t);
    assert!(!v.viable);
    assert_eq!(v.error.map(|e| e.offset), Some(7 + vprog_grammar::MAX_NESTING));
    let t = format!("answer {}1{}", "[".repeat(vprog_grammar::MAX_NESTING), "]".repeat(vprog_grammar::MAX_NESTING));
    let v = ck.check(&t);
    assert!(v.complete, "{v:?}");
    let t = format!("answer {}1{}", "(".repeat(100), ")".repeat(100));
    assert!(!ck.check(&t).viable);
    let t = format!("answer {}true", "not ".repeat(100_000));
    let v = ck.check(&t);
    assert_eq!(v.error.map(|e| e.offset), Some(7 + 4 * vprog_grammar::MAX_OPERATORS));
    let t = format!("answer 1{}", " + 1".repeat(vprog_grammar::MAX_OPERATORS));
    assert!(ck.check(&t).complete);
    let t = format!("x = \"{}", "a".repeat(2 << 20));
    let v = ck.check(&t);
    assert_eq!(v.error.map(|e| e.offset), Some(vprog_grammar::MAX_SOURCE_BYTES));
}

#[test]
fn checker_is_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<PrefixChecker>();
    let ck = Arc::new(checker());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let ck = ck.clone();
            std::thread::spawn(move || ck.check(PEOPLE).complete)
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap_or(false));
    }
}

// ---------------------------------------------------------------------------
// Generated programs

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Writes random, mostly well-typed programs for the synthetic registry.
struct Gen {
    rng: Rng,
    /// Names in scope with their types.
    env: Vec<(String, Type)>,
    fresh: usize,
    out: String,
}

impl Gen {
    fn tok(&mut self, t: &str) {
        let last = self.out.as_bytes().last().copied();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let needs_space = last.is_some_and(word) && t.as_bytes().first().copied().is_some_and(word);
        let sep = match self.rng.below(12) {
            0 => "\n",
            1 => "  ",
            2 => " # note\n",
            3..=6 => " ",
            _ => "",
        };
        let sep = if sep.is_empty() && needs_space { " " } else { sep };
        if !self.out.is_empty() {
            self.out.push_str(sep);
        }
        self.out.push_str(t);
    }

    fn var_of(&mut self, ty: &Type) -> Option<String> {
        let names: Vec<String> = self.env.iter().filter(|(_, t)| t.is_assignable_to(ty)).map(|(n, _)| n.clone()).collect();
        (!names.is_empty()).then(|| self.rng.pick(&names).clone())
    }

    fn expr(&mut self, ty: &Type, depth: usize) {
        if self.rng.chance(35) {
            if let Some(v) = self.var_of(ty) {
                return self.tok(&v);
            }
        }
        let deep = depth > 3;
        match ty {
            Type::Int => match self.rng.below(if deep { 1 } else { 4 }) {
                0 => {
                    let n = self.rng.below(200) as i64 - 50;
                    self.tok(&n.to_string())
                }
                1 => self.call("count", &[Type::Frames], depth),
                2 => {
                    self.expr(&Type::Int, depth + 1);
                    let op = *self.rng.pick(&["+", "-", "*"]);
                    self.tok(op);
                    self.expr(&Type::Int, depth + 1);
                }
                _ => {
                    self.tok("(");
                    self.expr(&Type::Int, depth + 1);
                    self.tok(")");
                }
            },
            Type::Number => match self.rng.below(2) {
                0 => {
                    let f = format!("{}.{}", self.rng.below(10), self.rng.below(100));
                    self.tok(&f)
                }
                _ => self.expr(&Type::Int, depth + 1),
            },
            Type::Bool => match self.rng.below(if deep { 1 } else { 6 }) {
                0 => {
                    let b = *self.rng.pick(&["true", "false"]);
                    self.tok(b)
                }
                1 => {
                    self.tok("not");
                    self.expr(&Type::Bool, depth + 1);
                }
                2 => {
                    self.expr(&Type::Bool, depth + 1);
                    let op = *self.rng.pick(&["and", "or"]);
                    self.tok(op);
                    self.expr(&Type::Bool, depth + 1);
                }
                3 => {
                    self.expr(&Type::Int, depth + 1);
                    let op = *self.rng.pick(&["==", "!=", "<", ">"]);
                    self.tok(op);
                    self.expr(&Type::Int, depth + 1);
                }
                4 => {
                    self.tok("contains");
                    self.tok("(");
                    self.expr(&Type::TimedText, depth + 1);
                    self.tok(",");
                    self.expr(&Type::Text, depth + 1);
                    if self.rng.chance(50) {
                        self.tok(",");
                        self.tok("case_sensitive");
                        self.tok(":");
                        self.expr(&Type::Bool, depth + 1);
                    }
                    self.tok(")");
                }
                _ => self.call("exists", &[Type::Detections], depth),
            },
            Type::Text => {
                let s = *self.rng.pick(&["\"dog\"", "\"a \\\"b\\\" \\u{1F600}\"", "\"\"", "\"é\"", "question"]);
                self.tok(s)
            }
            Type::Duration => {
                let d = *self.rng.pick(&["2s", "500ms", "1.5m", "1h", "0s"]);
                self.tok(d)
            }
            Type::Timestamp => match self.rng.below(3) {
                0 => {
                    let t = *self.rng.pick(&["00:15", "1:02:03.5", "12:00.25", "0:00"]);
                    self.tok(t)
                }
                1 if !deep => self.call("start", &[Type::TimedText], depth),
                _ => self.tok("00:01"),
            },
            Type::Clip => match self.rng.below(if deep { 1 } else { 2 }) {
                0 => self.tok("video"),
                _ => {
                    self.tok("trim_around");
                    self.tok("(");
                    self.tok("video");
                    self.tok(",");
                    let anchor = self.rng.pick(&[Type::Timestamp, Type::TimedText]).clone();
                    self.expr(&anchor, depth + 1);
                    if self.rng.chance(50) {
                        self.tok(",");
                        self.tok("pad");
                        self.tok(":");
                        self.expr(&Type::Duration, depth + 1);
                    }
                    self.tok(")");
                }
            },
            Type::Frames => match self.rng.below(if deep { 1 } else { 2 }) {
                0 => {
                    self.tok("sample");
                    self.tok("(");
                    self.expr(&Type::Clip, depth + 1);
                    match self.rng.below(3) {
                        0 => {
                            self.tok(",");
                            self.tok("fps");
                            self.tok(":");
                            self.expr(&Type::Number, depth + 1);
                        }
                        1 => {
                            self.tok(",");
                            self.tok("count");
                            self.tok(":");
                            self.expr(&Type::Int, depth + 1);
                        }
                        _ => {}
                    }
                    self.tok(")");
                }
                _ => {
                    // A filter: `[f for f in frames if cond]`.
                    let v = format!("f{}", self.fresh);
                    self.fresh += 1;
                    self.tok("[");
                    self.tok(&v);
                    self.tok("for");
                    self.tok(&v);
                    self.tok("in");
                    self.expr(&Type::Frames, depth + 1);
                    self.tok("if");
                    self.env.push((v.clone(), Type::Frame));
                    self.tok("exists");
                    self.tok("(");
                    self.tok("detect");
                    self.tok("(");
                    self.tok(&v);
                    self.tok(")");
                    self.tok(")");
                    self.env.pop();
                    self.tok("]");
                }
            },
            Type::Detections => {
                self.tok("detect");
                self.tok("(");
                self.expr(&Type::Frames, depth + 1);
                if self.rng.chance(50) {
                    self.tok(",");
                    self.expr(&Type::Text, depth + 1);
                }
                if self.rng.chance(50) {
                    self.tok(",");
                    self.tok("min_score");
                    self.tok(":");
                    self.expr(&Type::Number, depth + 1);
                }
                if self.rng.chance(20) {
                    self.tok(",");
                }
                self.tok(")");
            }
            Type::Tracks => self.call("track", &[Type::Detections], depth),
            Type::TimedText => match self.rng.below(if deep { 1 } else { 2 }) {
                0 => self.call("subtitles", &[Type::Clip], depth),
                _ => {
                    self.tok("concat");
                    self.tok("(");
                    self.expr(&Type::TimedText, depth + 1);
                    self.tok(",");
                    self.expr(&Type::TimedText, depth + 1);
                    self.tok(")");
                }
            },
            Type::List(inner) => {
                if **inner == Type::Int && !deep && self.rng.chance(50) {
                    // `[count(detect(f)) for f in frames]`, maybe nested in another.
                    let v = format!("f{}", self.fresh);
                    self.fresh += 1;
                    self.tok("[");
                    self.tok("count");
                    self.tok("(");
                    self.tok("detect");
                    self.tok("(");
                    self.tok(&v);
                    self.tok(")");
                    self.tok(")");
                    self.tok("+");
                    let outer: Vec<String> = self.env.iter().filter(|(_, t)| *t == Type::Int).map(|(n, _)| n.clone()).collect();
                    match outer.first() {
                        Some(n) => self.tok(&n.clone()),
                        None => self.tok("1"),
                    }
                    self.tok("for");
                    self.tok(&v);
                    self.tok("in");
                    self.expr(&Type::Frames, depth + 1);
                    self.tok("]");
                } else {
                    self.tok("[");
                    for i in 0..1 + self.rng.below(3) {
                        if i > 0 {
                            self.tok(",");
                        }
                        self.expr(inner, depth + 1);
                    }
                    self.tok("]");
                }
            }
            _ => self.tok("video"),
        }
    }

    fn call(&mut self, name: &str, args: &[Type], depth: usize) {
        self.tok(name);
        self.tok("(");
        for (i, t) in args.iter().enumerate() {
            if i > 0 {
                self.tok(",");
            }
            self.expr(t, depth + 1);
        }
        self.tok(")");
    }

    fn program(&mut self) -> String {
        let types =
            [Type::Int, Type::Bool, Type::Frames, Type::Detections, Type::Tracks, Type::TimedText, Type::Clip, Type::list(Type::Int)];
        let n = 1 + self.rng.below(5);
        for i in 0..n {
            let ty = self.rng.pick(&types).clone();
            let name = format!("v{i}");
            self.tok(&name);
            self.tok("=");
            self.expr(&ty, 0);
            self.env.push((name, ty));
        }
        self.tok("answer");
        let ty = self.rng.pick(&types).clone();
        self.expr(&ty, 0);
        if self.rng.chance(30) {
            self.out.push_str(if self.rng.chance(50) { "\n" } else { " # end" });
        }
        std::mem::take(&mut self.out)
    }
}

/// Checks the verdicts on every prefix of `text` against each other and the
/// real parser: viability is monotone, the first failure is reported at the
/// character that caused it, and `complete` means "parses, answer last".
fn consistent(ck: &PrefixChecker, ck_registry: &Registry, text: &str) -> Option<usize> {
    let mut first_bad: Option<(usize, usize)> = None;
    let mut prev = 0;
    for i in char_boundaries(text) {
        let prefix = &text[..i];
        let v = ck.check(prefix);
        // `complete` means the parser takes it as a whole program, and it is
        // whenever the parser and checker accept it.
        let parsed = vprog_grammar::parse(prefix);
        let whole = parsed.as_ref().is_ok_and(|p| matches!(p.statements.last().map(|s| &s.kind), Some(StatementKind::Answer(_))));
        assert!(!v.complete || whole, "{prefix:?}: complete, but the parser disagrees");
        if whole && parsed.is_ok_and(|p| !vprog_runtime::check::check(&p, ck_registry).has_errors()) {
            assert!(v.complete, "{prefix:?}: a whole program that checks is not complete: {v:?}");
        }
        match first_bad {
            None if !v.viable => {
                let e = v.error.clone().expect("an error when not viable");
                assert_eq!(e.offset, prev, "{prefix:?}: first failure reported at {} ({})", e.offset, e.reason);
                first_bad = Some((i, e.offset));
            }
            None => {}
            Some((_, offset)) => {
                assert!(!v.viable, "{prefix:?} viable after a failure");
                assert_eq!(v.error.map(|e| e.offset), Some(offset), "{prefix:?}");
            }
        }
        prev = i;
    }
    first_bad.map(|(_, o)| o)
}

#[test]
fn generated_programs_that_check_are_viable_everywhere() {
    let ck = checker();
    let r = registry();
    let mut gen = Gen { rng: Rng(0x9E37_79B9_7F4A_7C15), env: Vec::new(), fresh: 0, out: String::new() };
    let (mut valid, mut total) = (0, 0);
    for _ in 0..300 {
        gen.env.clear();
        let text = gen.program();
        total += 1;
        if !checks(&text, &r) {
            // Ill-typed by construction now and then: only consistency is required.
            consistent(&ck, &r, &text);
            continue;
        }
        valid += 1;
        assert_eq!(consistent(&ck, &r, &text), None, "a program that checks was rejected:\n{text}");
        assert!(ck.check(&text).complete, "{text}");
    }
    eprintln!("{valid} of {total} generated programs check");
    assert!(valid * 2 > total, "only {valid} of {total} generated programs check");
}

#[test]
fn mutated_programs_fail_at_a_consistent_place() {
    let ck = checker();
    let r = registry();
    let mut gen = Gen { rng: Rng(0x0123_4567_89AB_CDEF), env: Vec::new(), fresh: 0, out: String::new() };
    let pieces = [
        "(", ")", "[", "]", ",", ":", "=", "==", "!", "<", "\"", "\\", "\\u{", "}", "x", "1", "-", ".", "#", "\n", "\t", "\r", " ", "é",
        "🎉", "\u{0}", "for", "in", "if", "and", "not", "answer", "s", "m", "0", "9", "_",
    ];
    let mut rejected = 0;
    for _ in 0..300 {
        gen.env.clear();
        let mut text = gen.program();
        for _ in 0..1 + gen.rng.below(3) {
            let mut at = gen.rng.below(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            if gen.rng.chance(50) {
                let p = *gen.rng.pick(&pieces);
                text.insert_str(at, p);
            } else if at < text.len() {
                let mut end = at + 1;
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, "");
            }
        }
        if consistent(&ck, &r, &text).is_some() {
            rejected += 1;
        }
    }
    eprintln!("{rejected} of 300 mutants rejected");
    assert!(rejected > 100, "only {rejected} mutants rejected");
}

#[test]
fn random_text_is_handled_consistently() {
    let ck = checker();
    let r = registry();
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    let alphabet: Vec<char> = "abcdefnorstuvwxyz_0123456789 \t\n\r#\"\\(){}[],:=!<>+-*/.é€🎉\u{0}\u{7f}\u{a0}".chars().collect();
    let words = ["answer ", "x = ", "sample(", "video", "fps: ", "for ", " in ", "if ", "count(", "00:", "5s", "\\u{"];
    for _ in 0..300 {
        let mut text = String::new();
        for _ in 0..rng.below(40) {
            if rng.chance(25) {
                let w = words[rng.below(words.len())];
                text.push_str(w);
            } else {
                text.push(*rng.pick(&alphabet));
            }
        }
        consistent(&ck, &r, &text);
    }
}
