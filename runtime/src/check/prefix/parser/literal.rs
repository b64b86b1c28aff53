//! Literals as they are typed: numbers, durations, timestamps and strings.
//! An incomplete literal is viable; the value rules (ranges, escapes) are
//! the grammar's own ([`vprog_grammar::literal`]).

use super::{eof, fail, Ctx, Expect, Parser, R};
use vprog_grammar::literal::{duration_millis, simple_escape, timestamp_millis, unicode_scalar, ESCAPES};
use vprog_grammar::TimeUnit;

use std::sync::Arc;

use crate::check::prefix::{is_ident_char, starts_some, ValueLiteral};
use crate::types::Type;

impl<'a> Parser<'a> {
    /// A number literal; `self.pos` is at its first digit, `start` at its
    /// first character (the `-` of a negative number).
    pub(super) fn number(&mut self, ctx: Ctx, start: usize, neg: bool, expect: Option<Expect<'a>>) -> R<Type> {
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
    pub(super) fn duration(&mut self, ctx: Ctx, start: usize, num_end: usize, expect: Option<Expect<'a>>) -> R<Type> {
        self.check_fits(self.pos, expect, &[Type::Duration])?;
        let value: f64 = self.src[start..num_end].parse().unwrap_or(f64::INFINITY);
        let in_range = |unit: TimeUnit| duration_millis(value, unit).is_some();
        let too_long = "duration is out of range (at most about 30,000 years)";
        let at = self.pos;
        let unit = self.peek().unwrap_or(b's');
        self.pos += 1;
        match unit {
            // `m` may still become `ms`, the smallest unit.
            b'm' if !in_range(TimeUnit::Millis) => return fail(at, too_long),
            b'm' => match self.peek() {
                Some(b's') => self.pos += 1,
                None => return eof(ctx == Ctx::TopAnswer && in_range(TimeUnit::Minutes)),
                Some(c) if !is_ident_char(c) && !in_range(TimeUnit::Minutes) => return fail(self.pos, too_long),
                Some(_) => {}
            },
            b'h' if !in_range(TimeUnit::Hours) => return fail(at, too_long),
            b'h' => {}
            _ if !in_range(TimeUnit::Seconds) => return fail(at, too_long),
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
    pub(super) fn timestamp(&mut self, ctx: Ctx, digits: usize, expect: Option<Expect<'a>>) -> R<Type> {
        let top = ctx == Ctx::TopAnswer;
        self.check_fits(self.pos, expect, &[Type::Timestamp])?;
        let range = "timestamp is out of range";
        let Ok(first) = self.src[digits..self.pos].parse::<u64>() else { return fail(self.pos, range) };
        if timestamp_millis(0, first, 0, 0).is_none() {
            return fail(self.pos, range);
        }
        self.pos += 1;
        let second = self.two_digits()?;
        let (mut h, mut m, mut s) = (0, first, second);
        if timestamp_millis(h, m, s, 0).is_none() {
            return fail(self.pos - 1, range);
        }
        if self.peek() == Some(b':') {
            (h, m, s) = (first, second, 0);
            if timestamp_millis(h, m, s, 0).is_none() {
                return fail(self.pos, range);
            }
            self.pos += 1;
            s = self.two_digits()?;
            if timestamp_millis(h, m, s, 0).is_none() {
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
                if timestamp_millis(h, m, s, ms).is_none() {
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
    pub(super) fn two_digits(&mut self) -> R<u64> {
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
    pub(super) fn string(&mut self) -> R<()> {
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
                        Some(c) if simple_escape(char::from(c)).is_some() => self.pos += 1,
                        Some(b'u') => {
                            self.pos += 1;
                            self.unicode_escape()?;
                        }
                        Some(_) => return fail(self.pos, format!("invalid escape; valid ones are {ESCAPES}")),
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    /// A string literal for a parameter accepting only `values` (sorted,
    /// normalised: [`crate::module::normalise_text_value`]), written as
    /// listed: each character must keep the text a prefix of one of them,
    /// and the closing quote must complete one. (The full check also takes
    /// other spellings, `"Dining_Table"`; a decoder is held to one, so it
    /// cannot wander among case and separator variants.)
    pub(super) fn string_among(&mut self, e: Expect<'a>, values: Arc<[String]>) -> R<()> {
        let open = self.pos + 1;
        self.pos = open;
        loop {
            let Some(c) = self.peek() else {
                let typed = String::from_utf8_lossy(&self.b[open..]).into_owned();
                self.literal = Some(ValueLiteral { values, typed });
                return eof(false);
            };
            if c == b'"' {
                let text = String::from_utf8_lossy(&self.b[open..self.pos]);
                if values.binary_search_by(|v| v.as_str().cmp(&text)).is_err() {
                    return fail(self.pos, format!("`{}` of `{}` accepts no value \"{text}\"", e.param.name, e.module));
                }
                self.pos += 1;
                self.last_end = self.pos;
                return Ok(());
            }
            // Judged once the character is complete (a byte inside a
            // multi-byte character is not valid UTF-8 yet).
            if let Ok(text) = std::str::from_utf8(&self.b[open..=self.pos]) {
                if !starts_some(&values, text) {
                    return fail(self.pos, format!("no value of `{}` of `{}` starts with \"{text}\"", e.param.name, e.module));
                }
            }
            self.pos += 1;
        }
    }

    /// `{XXXX}` after `\u`.
    pub(super) fn unicode_escape(&mut self) -> R<()> {
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
                if unicode_scalar(v).is_err() {
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
