//! The recursive-descent parser over a prefix: statements, expressions,
//! names and keywords. Calls and their arguments, brackets and
//! comprehensions, and literals are in the submodules.

mod bracket;
mod call;
mod literal;

use std::collections::HashMap;
use std::sync::Arc;

use vprog_grammar::{MAX_NESTING, MAX_OPERATORS};

use super::ops::accepts;
use super::{is_ident_char, is_ident_start, lcp, ParamInfo, PrefixChecker, KEYWORDS};
use crate::dataflow::Input;
use crate::types::Type;

/// Why parsing stopped. `Ok` is never returned by the top level.
pub(super) enum Stop {
    /// The text ended with everything so far acceptable; `complete` when it
    /// ended where a whole program may end.
    Eof { complete: bool },
    /// No continuation exists from this byte offset on.
    Fail(usize, String),
}

pub(super) type R<T> = Result<T, Stop>;

pub(super) fn fail<T>(at: usize, reason: impl Into<String>) -> R<T> {
    Err(Stop::Fail(at, reason.into()))
}

pub(super) fn eof<T>(complete: bool) -> R<T> {
    Err(Stop::Eof { complete })
}

pub(super) enum Never {}

/// Where an expression sits, which decides what may end it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
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
pub(super) enum Phase {
    /// Before `,` / `for`: may be a comprehension head.
    Head,
    /// The source after `for x in`: `x` is not in scope.
    Source,
    /// The condition after `if`: `x` is in scope.
    Cond,
}

pub(super) struct Bracket<'a> {
    phase: Phase,
    /// Unknown names used in the head, to be bound by a `for`.
    pending: Vec<&'a str>,
    var: &'a str,
}

/// The argument a value is for, when its type is constrained.
#[derive(Clone, Copy)]
pub(super) struct Expect<'a> {
    module: &'static str,
    pub(super) param: &'a ParamInfo,
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
pub(super) enum Var {
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

pub(super) struct Parser<'a> {
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
    pub(super) statements: usize,
    /// Types of `roots`, loaded on first need.
    types: Option<Arc<HashMap<String, Type>>>,
    brackets: Vec<Bracket<'a>>,
    /// Set when the text ends inside a string literal with declared values.
    pub(super) literal: Option<super::ValueLiteral>,
}

impl<'a> Parser<'a> {
    pub(super) fn new(ck: &'a PrefixChecker, src: &'a str) -> Parser<'a> {
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
            literal: None,
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

    pub(super) fn program(&mut self) -> R<Never> {
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
                    match expect.and_then(|e| e.param.values.clone().map(|v| (e, v))) {
                        Some((e, values)) => self.string_among(e, values)?,
                        None => self.string()?,
                    }
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
                // A fixed return type holds an operator after the call to
                // it (`duration(video) - 80` stops at `-`); a generic one
                // is unknown here.
                Ok(Some(m.returns.clone()))
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
}
