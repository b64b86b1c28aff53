//! A module call: its arguments matched to the module's parameters (named
//! or positional, required, variadic, `AtMostOneOf` groups), each argument
//! checked against its parameter's type.

use super::{eof, fail, Ctx, Expect, Parser, R};
use crate::check::prefix::ops::{accepts, mentions_any};
use crate::check::prefix::{is_ident_start, lcp, ModuleInfo, ParamInfo};
use crate::module::ParamType;

impl<'a> Parser<'a> {
    pub(super) fn call(&mut self, m: &'a ModuleInfo) -> R<()> {
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

    pub(super) fn arg_reason(
        &self,
        m: &ModuleInfo,
        w: &str,
        positional: bool,
        pos_expect: Option<Expect<'a>>,
        named: bool,
        given: &[bool],
    ) -> String {
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
}

/// The constraint an argument for `p` is checked against, if any.
fn expect_for<'a>(m: &'a ModuleInfo, p: &'a ParamInfo) -> Option<Expect<'a>> {
    match p.ty {
        ParamType::Is(_) | ParamType::OneOf(_) => Some(Expect { module: m.name, param: p }),
        ParamType::SameAsT => None,
    }
}
