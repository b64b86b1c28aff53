//! Viable-prefix checking for constrained decoding.
//!
//! A language model writing a vprog program token by token asks, for each
//! candidate continuation, whether the text so far can still grow into a
//! program that parses and calls only registered modules the right way.
//! [`PrefixChecker::check`] answers with a [`PrefixVerdict`]: a hand-written
//! lexer and recursive-descent parser run over the prefix (from scratch each
//! call; a 400-byte prefix takes 4 to 6 µs in release), and the end of the
//! text anywhere, even inside a lexeme, means "viable so far".
//!
//! # What makes a prefix non-viable
//!
//! The error offset is always the byte offset of the *first character at
//! which no continuation exists*: `text[..offset]` is viable and the text up
//! to and including the character at `offset` is not.
//!
//! 1. **Syntax** (the grammar in `grammar/src/vprog.pest`, plus what
//!    [`vprog_grammar::parse`] checks on top of it): an incomplete last
//!    lexeme is fine (`00:1`, `2m` before `2ms`, an unterminated string, `=`
//!    before `==`). Literals must be in range (`00:60` fails at the `6`, an
//!    integer that overflows `i64` fails at the character ending it, a fourth
//!    decimal of a timestamp fails), string escapes must be valid, brackets
//!    may nest at most [`vprog_grammar::MAX_NESTING`] deep and an expression
//!    may have at most [`vprog_grammar::MAX_OPERATORS`] operators.
//! 2. **Names**: an identifier in expression position must be a prefix of a
//!    binding of an earlier statement, an implicit input (`video`,
//!    `question`, `options`), a module, or `not`/`true`/`false`; it fails at
//!    its first character that no such name continues with (`peple` while
//!    only `people` is bound fails at the second `p`). Once complete (the
//!    next character ends it) it must be one of them exactly, else it fails
//!    at that next character; then a `(` after it needs a module, anything
//!    else a value (the `(` or that character fails). In the head of a
//!    bracket, which may turn out to be a comprehension, an unknown name is
//!    accepted if some `for` can still bind it: each open comprehension head
//!    binds one name, so the set of unknown names must stay within the
//!    number of enclosing heads; a `,` or `]` that makes the bracket a list,
//!    or a `for x` that leaves names unbound, fails. A new binding's name may
//!    be any identifier except keywords, modules, inputs and names already
//!    bound (it fails at the character after the name). `answer` comes once,
//!    last: after its expression only operators continuing it may follow
//!    (a second `answer` fails at its `s`, where it stops being `and`).
//! 3. **Arguments**: a named argument must name a parameter of the module,
//!    not one already given (variadic ones may repeat) and not one excluded
//!    by an `AtMostOneOf` constraint with a given one; positional arguments
//!    come before named ones and not more than the module takes (unless the
//!    last is variadic); `)` fails when a required argument is missing.
//! 4. **Types**: an argument whose first operand is a literal, a variable
//!    of known type (a binding typed by the real checker, or an input), a
//!    call of a module with a fixed return type (checked at its name), or
//!    starts with `not` or a minus, fails as soon as no expression starting
//!    that way can have a type the parameter accepts (following the
//!    registered operator modules: `"five"` can become a Bool through `==`,
//!    never a Number), so `sample(video, fps: "five")` fails at the `"`. An
//!    argument that is just that literal or variable must itself fit: the
//!    `,` or `)` after it fails otherwise. As in the checker's
//!    `match_param`, `Is`/`OneOf` parameters are constrained even when
//!    generic; parameters of type `T` (`SameAsT`), comprehension variables
//!    and values whose type mentions `Any` are not.
//!
//! Everything else (return types of calls, operator operand types, ranges,
//! a nested comprehension reusing an outer one's variable) is left to the
//! full checker. Stricter than the real parser and checker: a module's name
//! cannot be bound, and a `\u` escape needs its braces.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use vprog_grammar::{MAX_NESTING, MAX_OPERATORS, MAX_SOURCE_BYTES};

use crate::module::{Constraint, ParamType, Returns};
use crate::plan::Input;
use crate::registry::Registry;
use crate::types::Type;

/// Words the grammar reserves.
const KEYWORDS: [&str; 9] = ["answer", "for", "in", "if", "and", "or", "not", "true", "false"];
/// Binary operators, as module names (see `BinaryOp::module_name`).
const BINARY_OPS: [&str; 12] = ["or", "and", "eq", "ne", "lt", "le", "gt", "ge", "add", "sub", "mul", "div"];
/// Distinct texts of finished statements whose binding types are kept.
const MEMO_LIMIT: usize = 4096;

/// Checks prefixes of vprog programs against a registry. Build it once and
/// share it: it is `Send + Sync`, and remembers the binding types of the
/// statements it has seen.
pub struct PrefixChecker {
    registry: Registry,
    /// Callable modules (keywords such as `and` excluded), sorted by name.
    modules: Vec<ModuleInfo>,
    /// For each ASCII byte, the range of `modules` whose names start with it.
    by_first: [(u16, u16); 128],
    ops: OpTable,
    /// Each binary operator: its symbol, its module, and its left and right
    /// parameters.
    infix: Vec<(&'static str, &'static str, ParamType, ParamInfo)>,
    /// Binding types by the text of the finished statements.
    memo: Mutex<HashMap<String, Arc<HashMap<String, Type>>>>,
}

/// The verdict on one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixVerdict {
    /// Some continuation of the text is a program passing the prefix rules.
    pub viable: bool,
    /// The text itself is a whole program: [`vprog_grammar::parse`] accepts
    /// it and its last statement is `answer` (implies `viable`). Decided by
    /// this module's parser, which applies the grammar and the parser's
    /// literal, nesting and operator limits (calling the real parser would
    /// cost ten times a check); it differs only in refusing a `\u` escape
    /// without braces, which the real parser lets through.
    pub complete: bool,
    /// Statements finished before the end of the text: those followed by the
    /// start of another statement, plus the `answer` when `complete`.
    pub statements: usize,
    /// Why the text is not viable (`None` when it is).
    pub error: Option<PrefixError>,
}

/// Where and why a prefix stopped being viable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixError {
    /// Byte offset of the first character no continuation can follow from.
    pub offset: usize,
    /// A short reason, e.g. "no module or name in scope starts with `smaple`".
    pub reason: String,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

struct ModuleInfo {
    name: &'static str,
    /// The return type, when it does not depend on the arguments.
    returns: Option<Type>,
    params: Vec<ParamInfo>,
    /// `AtMostOneOf` groups, as parameter indices.
    groups: Vec<Vec<usize>>,
}

struct ParamInfo {
    name: &'static str,
    ty: ParamType,
    variadic: bool,
    /// Leaving it out is a `missing_argument` error.
    required: bool,
}

/// What the registered operators can turn a value into, for the type rule.
struct OpTable {
    /// Every type an operator returns (at most 64).
    universe: Vec<Type>,
    /// Binary operators: the left parameter and what they return.
    rules: Vec<(ParamType, Ret)>,
    /// Per universe type: the types reachable from it (itself included).
    closure: Vec<u64>,
    /// Per universe type: whether a generic return is reachable from it.
    closure_wild: Vec<bool>,
}

/// An operator's return type, as a mask over [`OpTable::universe`].
#[derive(Clone, Copy)]
enum Ret {
    Fixed(u64),
    /// `Returns::Numeric`: Int when the left operand is an Int (and the right
    /// one too), Number otherwise. The masks are Int and Number.
    Numeric(u64, u64),
    /// Generic (`T`, `List<T>`, ...): anything.
    Wild,
}

impl Ret {
    /// What it returns when the left operand has type `lhs`: a mask, and
    /// whether the type is generic.
    fn apply(self, lhs: &Type) -> (u64, bool) {
        match self {
            Ret::Fixed(m) => (m, false),
            Ret::Numeric(int, number) => (if *lhs == Type::Int { int | number } else { number }, false),
            Ret::Wild => (0, true),
        }
    }
}

impl OpTable {
    fn new(registry: &Registry) -> OpTable {
        let mut universe: Vec<Type> = Vec::new();
        let mut rules = Vec::new();
        let index = |t: Type, universe: &mut Vec<Type>| -> Option<u64> {
            match universe.iter().position(|u| *u == t) {
                Some(i) => Some(1 << i),
                None if universe.len() < 64 => {
                    universe.push(t);
                    Some(1 << (universe.len() - 1))
                }
                None => None,
            }
        };
        for name in BINARY_OPS {
            let Some(m) = registry.get(name) else { continue };
            let sig = m.signature();
            let Some(lhs) = sig.params.first() else { continue };
            let ret = match &sig.returns {
                Returns::Is(t) => index(t.clone(), &mut universe).map_or(Ret::Wild, Ret::Fixed),
                Returns::Numeric => match (index(Type::Int, &mut universe), index(Type::Number, &mut universe)) {
                    (Some(a), Some(b)) => Ret::Numeric(a, b),
                    _ => Ret::Wild,
                },
                Returns::T | Returns::ListOfT | Returns::ElementOfT => Ret::Wild,
            };
            rules.push((lhs.ty.clone(), ret));
        }
        let n = universe.len();
        let mut closure: Vec<u64> = (0..n).map(|i| 1u64 << i).collect();
        let mut closure_wild = vec![false; n];
        for i in 0..n {
            loop {
                let (mut next, mut wild) = (closure[i], closure_wild[i]);
                for (j, t) in universe.iter().enumerate() {
                    if closure[i] & (1 << j) != 0 {
                        for (lhs, ret) in &rules {
                            if accepts(lhs, t) {
                                let (m, w) = ret.apply(t);
                                next |= m;
                                wild |= w;
                            }
                        }
                    }
                }
                if next == closure[i] && wild == closure_wild[i] {
                    break;
                }
                closure[i] = next;
                closure_wild[i] = wild;
            }
        }
        OpTable { universe, rules, closure, closure_wild }
    }

    /// Whether an expression whose leftmost operand has type `ty` can have a
    /// type `expected` accepts.
    fn fits(&self, ty: &Type, expected: &ParamType) -> bool {
        if mentions_any(ty) || accepts(expected, ty) {
            return true;
        }
        let (mut mask, mut wild) = (0u64, false);
        for (lhs, ret) in &self.rules {
            if accepts(lhs, ty) {
                let (m, w) = ret.apply(ty);
                mask |= m;
                wild |= w;
            }
        }
        let mut reach = 0u64;
        for i in 0..self.universe.len() {
            if mask & (1 << i) != 0 {
                reach |= self.closure[i];
                wild |= self.closure_wild[i];
            }
        }
        wild || self.universe.iter().enumerate().any(|(i, t)| reach & (1 << i) != 0 && accepts(expected, t))
    }
}

/// Whether a value of type `ty` may be passed for a parameter of type `p`
/// (as the checker's `match_param` decides; `T` accepts anything here).
fn accepts(p: &ParamType, ty: &Type) -> bool {
    match p {
        ParamType::Is(t) => ty.is_assignable_to(t),
        ParamType::OneOf(ts) => ts.iter().any(|t| ty.is_assignable_to(t)),
        ParamType::SameAsT => true,
    }
}

fn mentions_any(ty: &Type) -> bool {
    match ty {
        Type::Any => true,
        Type::List(t) => mentions_any(t),
        _ => false,
    }
}

impl PrefixChecker {
    /// A checker for programs calling the modules of `registry`.
    pub fn new(registry: &Registry) -> PrefixChecker {
        let mut modules: Vec<ModuleInfo> = registry
            .iter()
            .map(|m| m.signature())
            .filter(|s| is_identifier(s.name) && !KEYWORDS.contains(&s.name))
            .map(|s| ModuleInfo {
                name: s.name,
                returns: match &s.returns {
                    Returns::Is(t) => Some(t.clone()),
                    _ => None,
                },
                params: s
                    .params
                    .iter()
                    .map(|p| ParamInfo {
                        name: p.name,
                        ty: p.ty.clone(),
                        variadic: p.variadic,
                        required: p.is_required() || (p.variadic && p.default.is_none() && !p.optional),
                    })
                    .collect(),
                groups: s
                    .constraints
                    .iter()
                    .map(|c| {
                        let Constraint::AtMostOneOf(names) = c;
                        names.iter().filter_map(|n| s.params.iter().position(|p| p.name == *n)).collect()
                    })
                    .collect(),
            })
            .collect();
        modules.sort_by_key(|m| m.name);
        modules.truncate(usize::from(u16::MAX));
        let mut by_first = [(0u16, 0u16); 128];
        for (c, range) in by_first.iter_mut().enumerate() {
            let start = modules.partition_point(|m| m.name.bytes().next().unwrap_or(0) < c as u8);
            let end = modules.partition_point(|m| m.name.bytes().next().unwrap_or(0) <= c as u8);
            *range = (start as u16, end as u16);
        }
        let symbols = [
            ("or", "or"),
            ("and", "and"),
            ("==", "eq"),
            ("!=", "ne"),
            ("<", "lt"),
            ("<=", "le"),
            (">", "gt"),
            (">=", "ge"),
            ("+", "add"),
            ("-", "sub"),
            ("*", "mul"),
            ("/", "div"),
        ];
        let infix = symbols
            .iter()
            .filter_map(|(sym, name)| {
                let sig = registry.get(name)?.signature();
                let (lhs, rhs) = (sig.params.first()?, sig.params.get(1)?);
                let rhs = ParamInfo { name: rhs.name, ty: rhs.ty.clone(), variadic: false, required: true };
                Some((*sym, sig.name, lhs.ty.clone(), rhs))
            })
            .collect();
        PrefixChecker {
            registry: registry.clone(),
            modules,
            by_first,
            ops: OpTable::new(registry),
            infix,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// Checks `text`, the program written so far.
    pub fn check(&self, text: &str) -> PrefixVerdict {
        // Longer sources are refused by the parser: the character crossing
        // the limit is the first that cannot be continued.
        let mut cut = text.len().min(MAX_SOURCE_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut p = Parser::new(self, &text[..cut]);
        let stop = match p.program() {
            Err(Stop::Eof { .. }) if cut < text.len() => Stop::Fail(cut, format!("a program may be at most {MAX_SOURCE_BYTES} bytes")),
            Err(stop) => stop,
            Ok(never) => match never {},
        };
        match stop {
            Stop::Eof { complete } => {
                PrefixVerdict { viable: true, complete, statements: p.statements + usize::from(complete), error: None }
            }
            Stop::Fail(offset, reason) => {
                PrefixVerdict { viable: false, complete: false, statements: p.statements, error: Some(PrefixError { offset, reason }) }
            }
        }
    }

    /// The modules whose names start with the first byte of `word`.
    fn bucket(&self, word: &str) -> &[ModuleInfo] {
        let Some(&c) = word.as_bytes().first() else { return &self.modules };
        let (start, end) = self.by_first.get(usize::from(c)).copied().unwrap_or((0, 0));
        self.modules.get(usize::from(start)..usize::from(end)).unwrap_or(&[])
    }

    fn module(&self, name: &str) -> Option<&ModuleInfo> {
        self.bucket(name).iter().find(|m| m.name == name)
    }

    /// Whether a call of `m` can start an expression the parameter accepts:
    /// its return type (when fixed), or what operators make of it, fits.
    fn module_fits(&self, m: &ModuleInfo, expect: Option<Expect<'_>>) -> bool {
        match (&m.returns, expect) {
            (Some(t), Some(e)) => self.ops.fits(t, &e.param.ty),
            _ => true,
        }
    }

    /// Whether some module whose call can fit `expect` starts with `prefix`.
    fn module_prefix_fits(&self, prefix: &str, expect: Option<Expect<'_>>) -> bool {
        self.bucket(prefix).iter().any(|m| m.name.starts_with(prefix) && self.module_fits(m, expect))
    }

    /// Types of the bindings of `text` (whole finished statements), from the
    /// real checker; bindings that do not check are left out.
    fn binding_types(&self, text: &str) -> Arc<HashMap<String, Type>> {
        if let Some(t) = self.memo.lock().unwrap_or_else(|p| p.into_inner()).get(text) {
            return t.clone();
        }
        let types: HashMap<String, Type> = match vprog_grammar::parse(text) {
            Ok(program) => super::binding_types(&program, &self.registry).into_iter().collect(),
            Err(_) => HashMap::new(),
        };
        let types = Arc::new(types);
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() >= MEMO_LIMIT {
            memo.clear();
        }
        memo.insert(text.to_string(), types.clone());
        types
    }
}

fn is_identifier(s: &str) -> bool {
    s.bytes().next().is_some_and(is_ident_start) && s.bytes().all(is_ident_char)
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Length of the common prefix of `a` and `b` (ASCII words).
fn lcp(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// Why parsing stopped. `Ok` is never returned by the top level.
enum Stop {
    /// The text ended with everything so far acceptable; `complete` when it
    /// ended where a whole program may end.
    Eof { complete: bool },
    /// No continuation exists from this byte offset on.
    Fail(usize, String),
}

type R<T> = Result<T, Stop>;

fn fail<T>(at: usize, reason: impl Into<String>) -> R<T> {
    Err(Stop::Fail(at, reason.into()))
}

fn eof<T>(complete: bool) -> R<T> {
    Err(Stop::Eof { complete })
}

enum Never {}

/// Where an expression sits, which decides what may end it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The value of `name = ...`: a new statement may follow.
    TopBind,
    /// The `answer` expression: only the end of the text may follow.
    TopAnswer,
    /// A call argument: `,` or `)`.
    Arg,
    /// Inside `( )`.
    Paren,
    /// A list item after the first: `,` or `]`.
    Item,
    /// The first element of a bracket: `,`, `]` or `for`.
    Head,
    /// A comprehension's source: `if` or `]`.
    Source,
    /// A comprehension's condition: `]`.
    Cond,
}

impl Ctx {
    /// Words that may end an expression here (besides the operators).
    fn end_word(self) -> Option<&'static str> {
        match self {
            Ctx::Head => Some("for"),
            Ctx::Source => Some("if"),
            _ => None,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Ctx::TopBind => "expected an operator or a new statement",
            Ctx::TopAnswer => "only operators continuing the answer may follow it",
            Ctx::Arg => "expected an operator, `,` or `)`",
            Ctx::Paren => "expected an operator or `)`",
            Ctx::Item => "expected an operator, `,` or `]`",
            Ctx::Head => "expected an operator, `,`, `]` or `for`",
            Ctx::Source => "expected an operator, `if` or `]`",
            Ctx::Cond => "expected an operator or `]`",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before `,` / `for`: may be a comprehension head.
    Head,
    /// The source after `for x in`: `x` is not in scope.
    Source,
    /// The condition after `if`: `x` is in scope.
    Cond,
}

struct Bracket<'a> {
    phase: Phase,
    /// Unknown names used in the head, to be bound by a `for`.
    pending: Vec<&'a str>,
    var: &'a str,
}

/// The argument a value is for, when its type is constrained.
#[derive(Clone, Copy)]
struct Expect<'a> {
    module: &'static str,
    param: &'a ParamInfo,
}

impl Expect<'_> {
    /// "`fps` of `sample` expects Number"
    fn describe(&self) -> String {
        format!("`{}` of `{}` expects {}", self.param.name, self.module, self.param.ty)
    }

    /// "`fps` of `sample` (Number)"
    fn target(&self) -> String {
        format!("`{}` of `{}` ({})", self.param.name, self.module, self.param.ty)
    }
}

/// What a name in expression position may be.
enum Var {
    /// Bound by a finished statement.
    Root,
    /// An implicit input, of this type.
    Input(Type),
    /// A comprehension variable in scope (type not tracked).
    Element,
    /// Unknown, but an enclosing comprehension head may still bind it.
    Pending,
    /// None of these.
    Missing,
}

struct Parser<'a> {
    ck: &'a PrefixChecker,
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    /// End of the last lexeme consumed.
    last_end: usize,
    depth: usize,
    /// Names bound by finished statements.
    roots: Vec<&'a str>,
    /// End of the last finished statement.
    finished_end: usize,
    statements: usize,
    /// Types of `roots`, loaded on first need.
    types: Option<Arc<HashMap<String, Type>>>,
    brackets: Vec<Bracket<'a>>,
}

impl<'a> Parser<'a> {
    fn new(ck: &'a PrefixChecker, src: &'a str) -> Parser<'a> {
        Parser {
            ck,
            src,
            b: src.as_bytes(),
            pos: 0,
            last_end: 0,
            depth: 0,
            roots: Vec::new(),
            finished_end: 0,
            statements: 0,
            types: None,
            brackets: Vec::new(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn scan_word(&self, start: usize) -> usize {
        let mut end = start;
        while self.b.get(end).copied().is_some_and(is_ident_char) {
            end += 1;
        }
        end
    }

    fn word(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or("")
    }

    // -----------------------------------------------------------------------
    // Statements

    fn program(&mut self) -> R<Never> {
        loop {
            self.skip_ws();
            if self.peek().is_none() {
                return eof(false);
            }
            self.statement()?;
        }
    }

    /// One statement; returns once it is finished (the next one has started).
    fn statement(&mut self) -> R<()> {
        let start = self.pos;
        if !self.peek().is_some_and(is_ident_start) {
            return fail(start, "expected a statement: `name = ...` or `answer ...`");
        }
        let end = self.scan_word(start);
        if end == self.b.len() {
            // Any identifier may still become a fresh name (or `answer`).
            return eof(false);
        }
        let w = self.word(start, end);
        self.pos = end;
        self.last_end = end;
        if w == "answer" {
            self.expr(Ctx::TopAnswer, None)?;
            return fail(self.pos, Ctx::TopAnswer.expected());
        }
        if KEYWORDS.contains(&w) {
            return fail(end, format!("`{w}` is a keyword and cannot be bound"));
        }
        if Input::ALL.iter().any(|i| i.name() == w) {
            return fail(end, format!("`{w}` is an implicit input and cannot be rebound"));
        }
        if self.ck.module(w).is_some() {
            return fail(end, format!("`{w}` is a module and cannot be bound"));
        }
        if self.roots.contains(&w) {
            return fail(end, format!("`{w}` is already bound"));
        }
        self.skip_ws();
        match self.peek() {
            None => return eof(false),
            Some(b'=') => {}
            Some(_) => return fail(self.pos, "expected `=`"),
        }
        self.pos += 1;
        self.last_end = self.pos;
        self.expr(Ctx::TopBind, None)?;
        if !self.peek().is_some_and(is_ident_start) {
            return fail(self.pos, Ctx::TopBind.expected());
        }
        self.roots.push(w);
        self.finished_end = self.last_end;
        self.statements += 1;
        self.types = None;
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Expressions

    /// An expression; stops (without consuming) at the first significant
    /// character that does not continue it. Returns the type of the
    /// expression when it is a single literal or variable of known type.
    fn expr(&mut self, ctx: Ctx, expect: Option<Expect<'a>>) -> R<Option<Type>> {
        let mut ops = 0usize;
        let mut single = self.operand(ctx, expect, &mut ops)?;
        loop {
            self.skip_ws();
            let start = self.pos;
            let Some(c) = self.peek() else { return eof(ctx == Ctx::TopAnswer) };
            match c {
                b'=' | b'!' => match self.b.get(start + 1) {
                    None => return eof(false),
                    Some(b'=') => self.pos += 2,
                    Some(_) => return fail(start + 1, format!("expected `{}=`", c as char)),
                },
                b'<' | b'>' => {
                    self.pos += 1;
                    if self.peek() == Some(b'=') {
                        self.pos += 1;
                    }
                }
                b'+' | b'-' | b'*' | b'/' => self.pos += 1,
                c if is_ident_start(c) => {
                    let end = self.scan_word(start);
                    let w = self.word(start, end);
                    let partial = end == self.b.len();
                    if !partial && (w == "and" || w == "or") {
                        self.pos = end;
                    } else if ctx == Ctx::TopBind {
                        // The next statement, unless a partial `and`/`or`.
                        let op = partial && ["and", "or"].iter().any(|k| k.starts_with(w));
                        return if op { eof(false) } else { Ok(single) };
                    } else if !partial && ctx.end_word() == Some(w) {
                        return Ok(single);
                    } else {
                        let words = ["and", "or", ctx.end_word().unwrap_or("or")];
                        if partial && words.iter().any(|k| k.starts_with(w)) {
                            return eof(false);
                        }
                        let l = words.iter().map(|k| lcp(w, k)).max().unwrap_or(0);
                        return fail(if l < w.len() { start + l } else { end }, ctx.expected());
                    }
                }
                _ => return Ok(single),
            }
            // The first operand's type, when known, must suit the operator,
            // and the operand after it is held to its right parameter.
            let symbol = std::str::from_utf8(&self.b[start..self.pos]).unwrap_or("");
            let op = self.ck.infix.iter().find(|(s, ..)| *s == symbol);
            if let (Some(t), Some((_, _, lhs, _))) = (single.as_ref().filter(|t| **t != Type::Any), op) {
                if !accepts(lhs, t) {
                    return fail(start, format!("`{symbol}` does not apply to {t}"));
                }
            }
            let rhs = op.map(|(_, module, _, rhs)| Expect { module, param: rhs });
            self.last_end = self.pos;
            ops += 1;
            if ops > MAX_OPERATORS {
                return fail(start, format!("an expression may have at most {MAX_OPERATORS} operators"));
            }
            single = None;
            self.operand(ctx, rhs, &mut ops)?;
        }
    }

    /// Prefix operators and one primary.
    fn operand(&mut self, ctx: Ctx, mut expect: Option<Expect<'a>>, ops: &mut usize) -> R<Option<Type>> {
        let mut prefixed = false;
        loop {
            self.skip_ws();
            let start = self.pos;
            let Some(c) = self.peek() else { return eof(false) };
            let ty = match c {
                b'-' => {
                    self.check_fits(start, expect, &[Type::Int, Type::Number])?;
                    match self.b.get(start + 1) {
                        None => return eof(false),
                        Some(d) if d.is_ascii_digit() => {
                            self.pos += 1;
                            Some(self.number(ctx, start, true, expect)?)
                        }
                        Some(_) => {
                            self.pos += 1;
                            self.prefix_op(start, ops)?;
                            expect = None;
                            prefixed = true;
                            continue;
                        }
                    }
                }
                c if c.is_ascii_digit() => Some(self.number(ctx, start, false, expect)?),
                b'"' => {
                    self.check_fits(start, expect, &[Type::Text])?;
                    self.string()?;
                    Some(Type::Text)
                }
                b'(' => {
                    self.open(start)?;
                    self.expr(Ctx::Paren, None)?;
                    if self.peek() != Some(b')') {
                        return fail(self.pos, Ctx::Paren.expected());
                    }
                    self.close();
                    None
                }
                b'[' => {
                    self.open(start)?;
                    self.bracket()?;
                    // A list literal or comprehension: a list of something.
                    Some(Type::list(Type::Any))
                }
                c if is_ident_start(c) => match self.word_operand(ctx, expect)? {
                    Some(ty) => ty,
                    None => {
                        self.prefix_op(start, ops)?;
                        expect = None;
                        prefixed = true;
                        continue;
                    }
                },
                _ => return fail(start, "expected an expression"),
            };
            return Ok(if prefixed { None } else { ty });
        }
    }

    fn prefix_op(&mut self, start: usize, ops: &mut usize) -> R<()> {
        self.last_end = self.pos;
        *ops += 1;
        if *ops > MAX_OPERATORS {
            return fail(start, format!("an expression may have at most {MAX_OPERATORS} operators"));
        }
        Ok(())
    }

    /// Fails at `at` unless an expression starting with a value of one of
    /// `types` can fit the expected parameter.
    fn check_fits(&self, at: usize, expect: Option<Expect<'a>>, types: &[Type]) -> R<()> {
        match expect {
            Some(e) if !types.iter().any(|t| self.ck.ops.fits(t, &e.param.ty)) => {
                let what: Vec<String> = types.iter().map(Type::to_string).collect();
                fail(at, format!("{}, not {}", e.describe(), what.join(" or ")))
            }
            _ => Ok(()),
        }
    }

    fn open(&mut self, at: usize) -> R<()> {
        if self.depth >= MAX_NESTING {
            return fail(at, format!("brackets may nest at most {MAX_NESTING} deep"));
        }
        self.depth += 1;
        self.pos = at + 1;
        self.last_end = self.pos;
        Ok(())
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.pos += 1;
        self.last_end = self.pos;
    }

    // -----------------------------------------------------------------------
    // Names

    fn load_types(&mut self) {
        if self.types.is_none() {
            let text = self.src.get(..self.finished_end).unwrap_or("");
            self.types = Some(self.ck.binding_types(text));
        }
    }

    fn fits(&self, ty: Option<&Type>, expect: Option<Expect<'a>>) -> bool {
        match (ty, expect) {
            (Some(t), Some(e)) => self.ck.ops.fits(t, &e.param.ty),
            _ => true,
        }
    }

    fn root_fits(&mut self, name: &str, expect: Option<Expect<'a>>) -> bool {
        if expect.is_none() {
            return true;
        }
        self.load_types();
        let ty = self.types.as_ref().and_then(|t| t.get(name)).cloned();
        self.fits(ty.as_ref(), expect)
    }

    fn heads(&self) -> usize {
        self.brackets.iter().filter(|b| b.phase == Phase::Head).count()
    }

    /// Distinct pending names of the heads among `brackets`.
    fn pending_union(brackets: &[Bracket<'a>]) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = Vec::new();
        for b in brackets.iter().filter(|b| b.phase == Phase::Head) {
            for n in &b.pending {
                if !names.contains(n) {
                    names.push(n);
                }
            }
        }
        names
    }

    /// Whether `name` (or a fresh name, for `None`) may be left for an
    /// enclosing comprehension head to bind: each head binds one name.
    fn pending_ok(&self, name: Option<&str>) -> bool {
        let k = self.heads();
        if k == 0 {
            return false;
        }
        let union = Self::pending_union(&self.brackets);
        name.is_some_and(|n| union.contains(&n)) || union.len() < k
    }

    fn lookup(&self, w: &str) -> Var {
        if self.roots.contains(&w) {
            return Var::Root;
        }
        if let Some(i) = Input::ALL.iter().find(|i| i.name() == w) {
            return Var::Input(i.ty());
        }
        if self.brackets.iter().any(|b| b.phase == Phase::Cond && b.var == w) {
            return Var::Element;
        }
        if self.pending_ok(Some(w)) {
            return Var::Pending;
        }
        Var::Missing
    }

    /// Whether a value named `w` exists here and may fit `expect`.
    fn var_fits(&mut self, w: &str, expect: Option<Expect<'a>>) -> bool {
        match self.lookup(w) {
            Var::Root => self.root_fits(w, expect),
            Var::Input(t) => self.fits(Some(&t), expect),
            Var::Element | Var::Pending => true,
            Var::Missing => false,
        }
    }

    /// `None` when some name valid in expression position (and fitting
    /// `expect`) starts with `w`; else the length of the longest prefix of
    /// `w` that one does.
    fn operand_prefix(&mut self, w: &str, expect: Option<Expect<'a>>) -> Option<usize> {
        if self.operand_prefix_ok(w, expect) {
            None
        } else {
            Some(self.operand_lcp(w, expect))
        }
    }

    fn operand_prefix_ok(&mut self, w: &str, expect: Option<Expect<'a>>) -> bool {
        if self.ck.module_prefix_fits(w, expect) {
            return true;
        }
        if ["not", "true", "false"].iter().any(|k| k.starts_with(w)) && self.fits(Some(&Type::Bool), expect) {
            return true;
        }
        if Input::ALL.iter().any(|i| i.name().starts_with(w) && self.fits(Some(&i.ty()), expect)) {
            return true;
        }
        for i in 0..self.roots.len() {
            let r = self.roots[i];
            if r.starts_with(w) && self.root_fits(r, expect) {
                return true;
            }
        }
        let in_brackets = self.brackets.iter().any(|b| match b.phase {
            Phase::Cond => b.var.starts_with(w),
            Phase::Head => b.pending.iter().any(|p| p.starts_with(w)),
            Phase::Source => false,
        });
        in_brackets || self.pending_ok(None)
    }

    /// The longest prefix of `w` that a valid name starts with.
    fn operand_lcp(&mut self, w: &str, expect: Option<Expect<'a>>) -> usize {
        let mut best = self.ck.modules.iter().filter(|m| self.ck.module_fits(m, expect)).map(|m| lcp(w, m.name)).max().unwrap_or(0);
        if self.fits(Some(&Type::Bool), expect) {
            best = ["not", "true", "false"].iter().map(|k| lcp(w, k)).fold(best, usize::max);
        }
        for i in Input::ALL {
            if self.fits(Some(&i.ty()), expect) {
                best = best.max(lcp(w, i.name()));
            }
        }
        for i in 0..self.roots.len() {
            let r = self.roots[i];
            if lcp(w, r) > best && self.root_fits(r, expect) {
                best = lcp(w, r);
            }
        }
        for b in &self.brackets {
            match b.phase {
                Phase::Cond => best = best.max(lcp(w, b.var)),
                Phase::Head => best = b.pending.iter().map(|p| lcp(w, p)).fold(best, usize::max),
                Phase::Source => {}
            }
        }
        best
    }

    /// Whether the complete word `w` may stand in expression position.
    fn operand_word_ok(&mut self, w: &str, expect: Option<Expect<'a>>) -> bool {
        match w {
            "not" | "true" | "false" => self.fits(Some(&Type::Bool), expect),
            _ if KEYWORDS.contains(&w) => false,
            _ => self.ck.module(w).is_some_and(|m| self.ck.module_fits(m, expect)) || self.var_fits(w, expect),
        }
    }

    /// An identifier in operand position: `Ok(None)` for the prefix `not`,
    /// else the type of a literal or variable (`Some(None)` when unknown or
    /// a call).
    fn word_operand(&mut self, ctx: Ctx, expect: Option<Expect<'a>>) -> R<Option<Option<Type>>> {
        let start = self.pos;
        let end = self.scan_word(start);
        let w = self.word(start, end);
        if let Some(l) = self.operand_prefix(w, expect) {
            let reason = match expect {
                Some(e) => format!("no module, or name fitting {}, starts with `{w}`", e.target()),
                None => format!("no module or name in scope starts with `{w}`"),
            };
            return fail(start + l, reason);
        }
        if end == self.b.len() {
            return eof(ctx == Ctx::TopAnswer && self.value_here(w));
        }
        self.pos = end;
        self.last_end = end;
        match w {
            "not" | "true" | "false" if !self.fits(Some(&Type::Bool), expect) => {
                return fail(end, format!("`{w}` is Bool: {}", expect.map(|e| e.describe()).unwrap_or_default()))
            }
            "not" => return Ok(None),
            "true" | "false" => return Ok(Some(Some(Type::Bool))),
            _ if KEYWORDS.contains(&w) => return fail(end, format!("`{w}` cannot start an expression")),
            _ => {}
        }
        let module = self.ck.module(w).filter(|m| self.ck.module_fits(m, expect));
        let var = self.lookup(w);
        let var_ok = match &var {
            Var::Root => self.root_fits(w, expect),
            Var::Input(t) => self.fits(Some(t), expect),
            Var::Element | Var::Pending => true,
            Var::Missing => false,
        };
        if module.is_none() && !var_ok {
            let reason = match (&var, expect) {
                (Var::Missing, _) | (_, None) => format!("`{w}` is not defined"),
                (_, Some(e)) => format!("`{w}` does not fit: {}", e.describe()),
            };
            return fail(end, reason);
        }
        self.skip_ws();
        match (self.peek(), module) {
            (None, _) => eof(ctx == Ctx::TopAnswer && var_ok && !matches!(var, Var::Pending)),
            (Some(b'('), Some(m)) => {
                self.call(m)?;
                Ok(Some(None))
            }
            (Some(b'('), None) => fail(self.pos, format!("`{w}` is not a module")),
            (Some(_), _) if !var_ok => fail(self.pos, format!("`{w}` is a module; expected `(`")),
            (Some(_), _) => {
                let ty = match var {
                    Var::Root => self.types_of(w),
                    Var::Input(t) => Some(t),
                    Var::Pending => {
                        if let Some(b) = self.brackets.iter_mut().rev().find(|b| b.phase == Phase::Head) {
                            if !b.pending.contains(&w) {
                                b.pending.push(w);
                            }
                        }
                        None
                    }
                    Var::Element | Var::Missing => None,
                };
                Ok(Some(ty))
            }
        }
    }

    /// Whether `w`, ending the text, is a whole value at the top level.
    fn value_here(&self, w: &str) -> bool {
        matches!(w, "true" | "false") || self.roots.contains(&w) || Input::ALL.iter().any(|i| i.name() == w)
    }

    fn types_of(&mut self, w: &str) -> Option<Type> {
        self.load_types();
        self.types.as_ref().and_then(|t| t.get(w)).cloned()
    }

    // -----------------------------------------------------------------------
    // Calls

    fn call(&mut self, m: &'a ModuleInfo) -> R<()> {
        self.open(self.pos)?;
        let n = m.params.len();
        let mut given = vec![false; n];
        let mut next = 0usize;
        let mut named = false;
        let conflicts = |given: &[bool], i: usize| {
            m.groups.iter().any(|g| g.contains(&i) && g.iter().any(|&j| j != i && given.get(j).copied().unwrap_or(false)))
        };
        let available = |given: &[bool], i: usize| {
            (!given.get(i).copied().unwrap_or(true) || m.params.get(i).is_some_and(|p| p.variadic)) && !conflicts(given, i)
        };
        loop {
            self.skip_ws();
            let s = self.pos;
            let Some(c) = self.peek() else { return eof(false) };
            if c == b')' {
                if let Some(p) = m.params.iter().zip(&given).find(|(p, g)| p.required && !**g).map(|(p, _)| p) {
                    return fail(s, format!("`{}` is missing argument `{}` ({})", m.name, p.name, p.ty));
                }
                self.close();
                return Ok(());
            }
            let positional = !named && next < n && !conflicts(&given, next);
            let pos_expect = if positional { m.params.get(next).and_then(|p| expect_for(m, p)) } else { None };
            let mut target = None;
            if is_ident_start(c) {
                let end = self.scan_word(s);
                let w = self.word(s, end);
                let named_prefix = (0..n).any(|i| available(&given, i) && m.params[i].name.starts_with(w));
                let pos_prefix = if positional { self.operand_prefix(w, pos_expect) } else { Some(0) };
                if !named_prefix {
                    if let Some(l) = pos_prefix {
                        let l = (0..n).filter(|&i| available(&given, i)).map(|i| lcp(w, m.params[i].name)).fold(l, usize::max);
                        return fail(s + l, self.arg_reason(m, w, positional, pos_expect, named, &given));
                    }
                }
                if end == self.b.len() {
                    return eof(false);
                }
                let named_exact = (0..n).find(|&i| available(&given, i) && m.params[i].name == w);
                let pos_exact = positional && self.operand_word_ok(w, pos_expect);
                if named_exact.is_none() && !pos_exact {
                    return fail(end, self.arg_reason(m, w, positional, pos_expect, named, &given));
                }
                self.pos = end;
                self.skip_ws();
                match (self.peek(), named_exact) {
                    (None, _) => return eof(false),
                    (Some(b':'), Some(i)) => {
                        self.pos += 1;
                        self.last_end = self.pos;
                        given[i] = true;
                        named = true;
                        target = Some(i);
                    }
                    (Some(b':'), None) => return fail(self.pos, self.arg_reason(m, w, false, None, named, &given)),
                    (Some(_), _) if !pos_exact => return fail(self.pos, "expected `:`"),
                    (Some(_), _) => self.pos = s,
                }
            } else if !positional {
                let reason = if named {
                    "positional argument after a named one".to_string()
                } else {
                    format!("`{}` takes {n} positional argument{}", m.name, if n == 1 { "" } else { "s" })
                };
                return fail(s, reason);
            }
            let idx = match target {
                Some(i) => i,
                None => {
                    let i = next;
                    if let Some(g) = given.get_mut(i) {
                        *g = true;
                    }
                    if !m.params.get(i).is_some_and(|p| p.variadic) {
                        next += 1;
                    }
                    i
                }
            };
            let expect = m.params.get(idx).and_then(|p| expect_for(m, p));
            let single = self.expr(Ctx::Arg, expect)?;
            let e = self.pos;
            match self.peek() {
                Some(b',' | b')') => {
                    if let (Some(t), Some(x)) = (&single, expect) {
                        if !mentions_any(t) && !accepts(&x.param.ty, t) {
                            return fail(e, format!("{}, found {t}", x.describe()));
                        }
                    }
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                        self.last_end = self.pos;
                    }
                }
                _ => return fail(e, Ctx::Arg.expected()),
            }
        }
    }

    fn arg_reason(&self, m: &ModuleInfo, w: &str, positional: bool, pos_expect: Option<Expect<'a>>, named: bool, given: &[bool]) -> String {
        if let Some((p, _)) = m.params.iter().zip(given).find(|(p, g)| **g && !p.variadic && p.name == w) {
            return format!("`{}` is already given", p.name);
        }
        if m.params.iter().any(|p| p.name == w) {
            return format!("`{w}` conflicts with an argument already given to `{}`", m.name);
        }
        if positional {
            match pos_expect {
                Some(e) => format!("no parameter of `{}`, module, or name fitting {}, starts with `{w}`", m.name, e.target()),
                None => format!("no parameter of `{}` and no name in scope starts with `{w}`", m.name),
            }
        } else if named || m.params.is_empty() {
            format!("`{}` has no parameter starting with `{w}`", m.name)
        } else {
            format!("`{}` has no parameter starting with `{w}` and takes no more positional arguments", m.name)
        }
    }

    // -----------------------------------------------------------------------
    // Brackets and comprehensions

    /// After `[`: a list or a comprehension, through its `]`.
    fn bracket(&mut self) -> R<()> {
        self.skip_ws();
        match self.peek() {
            None => return eof(false),
            Some(b']') => {
                self.close();
                return Ok(());
            }
            Some(_) => {}
        }
        self.brackets.push(Bracket { phase: Phase::Head, pending: Vec::new(), var: "" });
        self.expr(Ctx::Head, None)?;
        let at = self.pos;
        match self.peek() {
            Some(b',' | b']') => {
                self.leave_head(at, None)?;
                self.brackets.pop();
                while self.peek() == Some(b',') {
                    self.pos += 1;
                    self.last_end = self.pos;
                    self.skip_ws();
                    match self.peek() {
                        None => return eof(false),
                        Some(b']') => break,
                        Some(_) => {}
                    }
                    self.expr(Ctx::Item, None)?;
                    if !matches!(self.peek(), Some(b',' | b']')) {
                        return fail(self.pos, Ctx::Item.expected());
                    }
                }
                self.close();
                Ok(())
            }
            Some(c) if is_ident_start(c) => {
                // `for`, checked by `expr`.
                self.pos = at + 3;
                self.last_end = self.pos;
                self.comprehension()
            }
            _ => fail(at, Ctx::Head.expected()),
        }
    }

    /// Ends the head phase of the innermost bracket, `bound` being the name
    /// its `for` binds: its other pending names pass to the enclosing head.
    fn leave_head(&mut self, at: usize, bound: Option<&str>) -> R<()> {
        let Some((last, outer)) = self.brackets.split_last_mut() else { return Ok(()) };
        let left: Vec<&'a str> = last.pending.iter().copied().filter(|p| Some(*p) != bound).collect();
        last.pending.clear();
        let k = outer.iter().filter(|b| b.phase == Phase::Head).count();
        let mut union = Self::pending_union(outer);
        for n in &left {
            if !union.contains(n) {
                union.push(n);
            }
        }
        if union.len() > k {
            let name = left.iter().find(|n| !Self::pending_union(outer).contains(n)).or(left.first()).copied().unwrap_or("");
            return fail(at, format!("`{name}` is not defined (no comprehension binds it)"));
        }
        if let Some(b) = outer.iter_mut().rev().find(|b| b.phase == Phase::Head) {
            for n in left {
                if !b.pending.contains(&n) {
                    b.pending.push(n);
                }
            }
        }
        Ok(())
    }

    /// Whether binding `bound` (or a fresh name) would leave the innermost
    /// head's other names bindable by enclosing heads.
    fn bind_ok(&self, bound: Option<&str>) -> bool {
        let Some((last, outer)) = self.brackets.split_last() else { return true };
        let k = outer.iter().filter(|b| b.phase == Phase::Head).count();
        let mut union = Self::pending_union(outer);
        for n in last.pending.iter().filter(|p| Some(**p) != bound) {
            if !union.contains(n) {
                union.push(n);
            }
        }
        union.len() <= k
    }

    /// After `for`: `x in source (if cond)? ]`.
    fn comprehension(&mut self) -> R<()> {
        self.skip_ws();
        let s = self.pos;
        let Some(c) = self.peek() else { return eof(false) };
        if !is_ident_start(c) {
            return fail(s, "expected the name of the element variable");
        }
        let end = self.scan_word(s);
        let w = self.word(s, end);
        if !self.bind_ok(None) {
            // The variable must be one of the pending names.
            let pending: Vec<&'a str> = self.brackets.last().map(|b| b.pending.clone()).unwrap_or_default();
            let ok: Vec<&str> = pending.into_iter().filter(|p| self.bind_ok(Some(p))).collect();
            if !ok.iter().any(|p| p.starts_with(w)) {
                let l = ok.iter().map(|p| lcp(w, p)).max().unwrap_or(0);
                return fail(s + l, format!("`{}` is not defined (no comprehension binds it)", ok.first().copied().unwrap_or(w)));
            }
        }
        if end == self.b.len() {
            return eof(false);
        }
        if KEYWORDS.contains(&w) {
            return fail(end, format!("`{w}` is a keyword"));
        }
        let defined = self.roots.contains(&w)
            || Input::ALL.iter().any(|i| i.name() == w)
            || self.brackets.iter().any(|b| b.phase == Phase::Cond && b.var == w);
        if defined {
            return fail(end, format!("`{w}` is already defined; the element variable needs a name of its own"));
        }
        if !self.bind_ok(Some(w)) {
            return fail(end, "names used before `for` are left unbound");
        }
        self.leave_head(end, Some(w))?;
        if let Some(b) = self.brackets.last_mut() {
            b.phase = Phase::Source;
            b.var = w;
        }
        self.pos = end;
        self.last_end = end;
        self.keyword("in")?;
        self.expr(Ctx::Source, None)?;
        if self.peek() != Some(b']') {
            if !self.peek().is_some_and(is_ident_start) {
                return fail(self.pos, Ctx::Source.expected());
            }
            // `if`, checked by `expr`.
            self.pos += 2;
            self.last_end = self.pos;
            if let Some(b) = self.brackets.last_mut() {
                b.phase = Phase::Cond;
            }
            self.expr(Ctx::Cond, None)?;
            if self.peek() != Some(b']') {
                return fail(self.pos, Ctx::Cond.expected());
            }
        }
        self.brackets.pop();
        self.close();
        Ok(())
    }

    fn keyword(&mut self, kw: &str) -> R<()> {
        self.skip_ws();
        let s = self.pos;
        if !self.peek().is_some_and(is_ident_start) {
            return match self.peek() {
                None => eof(false),
                Some(_) => fail(s, format!("expected `{kw}`")),
            };
        }
        let end = self.scan_word(s);
        let w = self.word(s, end);
        if !kw.starts_with(w) {
            return fail(s + lcp(w, kw), format!("expected `{kw}`"));
        }
        if end == self.b.len() {
            return eof(false);
        }
        if w != kw {
            return fail(end, format!("expected `{kw}`"));
        }
        self.pos = end;
        self.last_end = end;
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Literals

    /// A number literal; `self.pos` is at its first digit, `start` at its
    /// first character (the `-` of a negative number).
    fn number(&mut self, ctx: Ctx, start: usize, neg: bool, expect: Option<Expect<'a>>) -> R<Type> {
        let top = ctx == Ctx::TopAnswer;
        let digits = self.pos;
        if !neg {
            self.check_fits(digits, expect, &[Type::Int, Type::Number, Type::Duration, Type::Timestamp])?;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            if self.pos - digits > 300 && !self.src[start..self.pos].parse::<f64>().is_ok_and(f64::is_finite) {
                return fail(self.pos - 1, "number is too large");
            }
        }
        let int_end = self.pos;
        let Some(c) = self.peek() else { return eof(top && self.src[start..int_end].parse::<i64>().is_ok()) };
        match c {
            b':' if !neg => self.timestamp(ctx, digits, expect),
            b'.' => {
                let types: &[Type] = if neg { &[Type::Number] } else { &[Type::Number, Type::Duration] };
                self.check_fits(self.pos, expect, types)?;
                self.pos += 1;
                match self.peek() {
                    None => return eof(false),
                    Some(d) if d.is_ascii_digit() => {}
                    Some(_) => return fail(self.pos, "expected a digit"),
                }
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let num_end = self.pos;
                let finite = self.src[start..num_end].parse::<f64>().is_ok_and(f64::is_finite);
                match self.peek() {
                    None => eof(top && finite),
                    Some(u @ (b'm' | b's' | b'h')) if !neg => {
                        let _ = u;
                        self.duration(ctx, start, num_end, expect)
                    }
                    Some(u) if is_ident_char(u) => fail(self.pos, "expected the end of the number"),
                    Some(_) if !finite => fail(self.pos, "number is out of range"),
                    Some(_) => {
                        self.check_fits(self.pos, expect, &[Type::Number])?;
                        self.last_end = self.pos;
                        Ok(Type::Number)
                    }
                }
            }
            b'm' | b's' | b'h' if !neg => self.duration(ctx, start, int_end, expect),
            c if is_ident_char(c) => fail(self.pos, "expected the end of the number"),
            _ => {
                if self.src[start..int_end].parse::<i64>().is_err() {
                    return fail(self.pos, "integer is out of range");
                }
                self.check_fits(self.pos, expect, &[Type::Int])?;
                self.last_end = self.pos;
                Ok(Type::Int)
            }
        }
    }

    /// The unit of a duration, at `self.pos`; the number is `start..num_end`.
    fn duration(&mut self, ctx: Ctx, start: usize, num_end: usize, expect: Option<Expect<'a>>) -> R<Type> {
        self.check_fits(self.pos, expect, &[Type::Duration])?;
        let value: f64 = self.src[start..num_end].parse().unwrap_or(f64::INFINITY);
        let in_range = |unit_ms: f64| {
            let ms = (value * unit_ms).round();
            ms.is_finite() && ms <= 1e15
        };
        let too_long = "duration is out of range (at most about 30,000 years)";
        let at = self.pos;
        let unit = self.peek().unwrap_or(b's');
        self.pos += 1;
        match unit {
            // `m` may still become `ms`, the smallest unit.
            b'm' if !in_range(1.0) => return fail(at, too_long),
            b'm' => match self.peek() {
                Some(b's') => self.pos += 1,
                None => return eof(ctx == Ctx::TopAnswer && in_range(60_000.0)),
                Some(c) if !is_ident_char(c) && !in_range(60_000.0) => return fail(self.pos, too_long),
                Some(_) => {}
            },
            b'h' if !in_range(3_600_000.0) => return fail(at, too_long),
            b'h' => {}
            _ if !in_range(1000.0) => return fail(at, too_long),
            _ => {}
        }
        match self.peek() {
            None => eof(ctx == Ctx::TopAnswer),
            Some(c) if is_ident_char(c) => fail(self.pos, "expected the end of the duration"),
            Some(_) => {
                self.last_end = self.pos;
                Ok(Type::Duration)
            }
        }
    }

    /// A timestamp: `self.pos` is at the first `:`, `digits` where its first
    /// field started.
    fn timestamp(&mut self, ctx: Ctx, digits: usize, expect: Option<Expect<'a>>) -> R<Type> {
        let top = ctx == Ctx::TopAnswer;
        self.check_fits(self.pos, expect, &[Type::Timestamp])?;
        let range = "timestamp is out of range";
        let Ok(first) = self.src[digits..self.pos].parse::<u64>() else { return fail(self.pos, range) };
        if millis(0, first, 0, 0).is_none() {
            return fail(self.pos, range);
        }
        self.pos += 1;
        let second = self.two_digits()?;
        let (mut h, mut m, mut s) = (0, first, second);
        if millis(h, m, s, 0).is_none() {
            return fail(self.pos - 1, range);
        }
        if self.peek() == Some(b':') {
            (h, m, s) = (first, second, 0);
            if millis(h, m, s, 0).is_none() {
                return fail(self.pos, range);
            }
            self.pos += 1;
            s = self.two_digits()?;
            if millis(h, m, s, 0).is_none() {
                return fail(self.pos - 1, range);
            }
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let frac = self.pos;
            match self.peek() {
                None => return eof(false),
                Some(d) if d.is_ascii_digit() => {}
                Some(_) => return fail(self.pos, "expected a digit"),
            }
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                if self.pos - frac == 3 {
                    return fail(self.pos, "timestamps are precise to the millisecond (3 decimals)");
                }
                self.pos += 1;
                let text = &self.src[frac..self.pos];
                let ms = text.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
                if millis(h, m, s, ms).is_none() {
                    return fail(self.pos - 1, range);
                }
            }
        }
        if self.peek().is_none() {
            return eof(top);
        }
        self.last_end = self.pos;
        Ok(Type::Timestamp)
    }

    /// Two digits of a timestamp field (00 to 59).
    fn two_digits(&mut self) -> R<u64> {
        let mut v = 0;
        for i in 0..2 {
            match self.peek() {
                None => return eof(false),
                Some(d) if d.is_ascii_digit() => {
                    if i == 0 && d > b'5' {
                        return fail(self.pos, "minutes and seconds run from 00 to 59");
                    }
                    v = v * 10 + u64::from(d - b'0');
                    self.pos += 1;
                }
                Some(_) => return fail(self.pos, "expected a digit (timestamps are written `MM:SS` or `H:MM:SS`)"),
            }
        }
        Ok(v)
    }

    /// A string literal, from its opening quote through the closing one.
    fn string(&mut self) -> R<()> {
        self.pos += 1;
        loop {
            let Some(c) = self.peek() else { return eof(false) };
            match c {
                b'"' => {
                    self.pos += 1;
                    self.last_end = self.pos;
                    return Ok(());
                }
                b'\n' => return fail(self.pos, "a string ends on the line it starts; write `\\n` for a line break"),
                b'\\' => {
                    self.pos += 1;
                    match self.peek() {
                        None => return eof(false),
                        Some(b'n' | b't' | b'r' | b'\\' | b'"') => self.pos += 1,
                        Some(b'u') => {
                            self.pos += 1;
                            self.unicode_escape()?;
                        }
                        Some(_) => return fail(self.pos, r#"invalid escape; valid ones are \n, \t, \r, \\, \" and \u{XXXX}"#),
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    /// `{XXXX}` after `\u`.
    fn unicode_escape(&mut self) -> R<()> {
        match self.peek() {
            None => return eof(false),
            Some(b'{') => self.pos += 1,
            Some(_) => return fail(self.pos, "expected `{` (unicode escapes are written `\\u{XXXX}`)"),
        }
        let (mut n, mut v) = (0u32, 0u32);
        loop {
            let Some(c) = self.peek() else { return eof(false) };
            if let Some(d) = (c as char).to_digit(16) {
                if n == 6 {
                    return fail(self.pos, "a unicode escape has at most 6 hex digits");
                }
                n += 1;
                v = v * 16 + d;
                if v > 0x10FFFF {
                    return fail(self.pos, "not a Unicode character");
                }
                self.pos += 1;
            } else if c == b'}' {
                if n == 0 {
                    return fail(self.pos, "expected a hex digit");
                }
                if char::from_u32(v).is_none() {
                    return fail(self.pos, "not a Unicode character");
                }
                self.pos += 1;
                return Ok(());
            } else {
                return fail(self.pos, "expected a hex digit or `}`");
            }
        }
    }
}

/// The timestamp's milliseconds as the parser computes them, if in range.
fn millis(h: u64, m: u64, s: u64, frac_ms: u64) -> Option<u64> {
    h.checked_mul(3_600_000)
        .and_then(|v| v.checked_add(m.checked_mul(60_000)?))
        .and_then(|v| v.checked_add(s * 1000 + frac_ms))
        .filter(|v| *v < 1_000_000_000_000_000)
}

/// The constraint an argument for `p` is checked against, if any.
fn expect_for<'a>(m: &'a ModuleInfo, p: &'a ParamInfo) -> Option<Expect<'a>> {
    match p.ty {
        ParamType::Is(_) | ParamType::OneOf(_) => Some(Expect { module: m.name, param: p }),
        ParamType::SameAsT => None,
    }
}
