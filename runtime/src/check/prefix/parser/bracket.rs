//! Brackets: a list, or a comprehension whose head may use names that only
//! its `for` binds.

use super::{eof, fail, Bracket, Ctx, Parser, Phase, R};
use crate::check::prefix::{is_ident_start, lcp, KEYWORDS};
use crate::dataflow::Input;

impl<'a> Parser<'a> {
    /// After `[`: a list or a comprehension, through its `]`.
    pub(super) fn bracket(&mut self) -> R<()> {
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
    pub(super) fn leave_head(&mut self, at: usize, bound: Option<&str>) -> R<()> {
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
    pub(super) fn bind_ok(&self, bound: Option<&str>) -> bool {
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
    pub(super) fn comprehension(&mut self) -> R<()> {
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
}
