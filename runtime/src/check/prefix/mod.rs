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
//!
//! # Layout
//!
//! - this file: [`PrefixChecker`], the registry as the parser reads it, and
//!   the verdict;
//! - `ops`: the operator table behind the type rule;
//! - `parser`: statements, expressions, names and keywords, with
//!   `parser/call` (arguments matched to parameters), `parser/bracket`
//!   (lists and comprehensions) and `parser/literal` (literals as they are
//!   typed, on the grammar's value rules in [`vprog_grammar::literal`]).

mod ops;
mod parser;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use vprog_grammar::{BinaryOp, MAX_SOURCE_BYTES};

use crate::module::{Constraint, ParamType, Returns};
use crate::registry::Registry;
use crate::types::Type;
use ops::OpTable;
use parser::{Expect, Parser, Stop};

/// Words the grammar reserves.
const KEYWORDS: [&str; 9] = ["answer", "for", "in", "if", "and", "or", "not", "true", "false"];
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
    /// When the text ends inside a string literal for a parameter with
    /// declared values ([`crate::Param::values`]): those values and what is
    /// typed, so a decoder can judge its candidate tokens cheaply.
    pub literal: Option<ValueLiteral>,
}

/// Whether `text` is the start of one of `values` (sorted): a binary
/// search.
fn starts_some(values: &[String], text: &str) -> bool {
    let i = values.partition_point(|v| v.as_str() < text);
    values.get(i).is_some_and(|v| v.starts_with(text))
}

/// A string literal being typed for a parameter that accepts only some
/// values (`detect`'s label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueLiteral {
    /// The accepted values, normalised and sorted.
    pub values: Arc<[String]>,
    /// The literal's text so far, after its opening quote.
    pub typed: String,
}

impl ValueLiteral {
    /// Whether `more`, appended to the literal, can still lead to an
    /// accepted value as listed: the text up to a closing quote in `more`
    /// must be one, else the start of one. What follows a closing quote is
    /// not judged (the whole check is still needed then).
    pub fn may_continue(&self, more: &str) -> bool {
        let (part, closed) = match more.find('"') {
            Some(i) => (&more[..i], true),
            None => (more, false),
        };
        let text = format!("{}{part}", self.typed);
        if closed {
            self.values.binary_search(&text).is_ok()
        } else {
            starts_some(&self.values, &text)
        }
    }
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
    /// The text literals it accepts ([`crate::Param::values`]).
    values: Option<Arc<[String]>>,
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
                        values: p.values.clone(),
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
        let infix = BinaryOp::ALL
            .iter()
            .filter_map(|op| {
                let sig = registry.get(op.module_name())?.signature();
                let (lhs, rhs) = (sig.params.first()?, sig.params.get(1)?);
                let rhs = ParamInfo { name: rhs.name, ty: rhs.ty.clone(), variadic: false, required: true, values: None };
                Some((op.symbol(), sig.name, lhs.ty.clone(), rhs))
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
            Stop::Eof { complete } => PrefixVerdict {
                viable: true,
                complete,
                statements: p.statements + usize::from(complete),
                error: None,
                literal: p.literal.take(),
            },
            Stop::Fail(offset, reason) => PrefixVerdict {
                viable: false,
                complete: false,
                statements: p.statements,
                error: Some(PrefixError { offset, reason }),
                literal: None,
            },
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
