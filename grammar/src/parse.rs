//! Source text to [`Program`]: pest does the syntax, this file builds the AST
//! and turns pest's errors into plain-worded [`Diagnostic`]s.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::literal;
use crate::span::Span;

#[derive(pest_derive::Parser)]
#[grammar = "vprog.pest"]
struct VprogParser;

/// Deepest bracket nesting accepted; deeper input is rejected before parsing
/// so that no recursive stage can exhaust the stack.
pub const MAX_NESTING: usize = 64;
/// Longest operator chain in one expression.
pub const MAX_OPERATORS: usize = 256;
/// Largest program source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;

/// Parses a program. The error is the first syntax error, with its span.
pub fn parse(source: &str) -> Result<Program, Box<Diagnostic>> {
    check_limits(source)?;
    let mut pairs = VprogParser::parse(Rule::program, source).map_err(|e| Box::new(syntax_error(source, e)))?;
    let program = pairs.next().ok_or_else(|| internal("empty parse"))?;
    let mut statements = Vec::new();
    for pair in program.into_inner() {
        match pair.as_rule() {
            Rule::binding | Rule::answer_stmt => statements.push(build_statement(pair)?),
            Rule::EOI => {}
            other => return Err(internal(&format!("unexpected rule {other:?} at top level"))),
        }
    }
    Ok(Program { statements })
}

fn internal(what: &str) -> Box<Diagnostic> {
    Box::new(Diagnostic::error("vprog::internal", format!("internal parser error: {what}"), Span::default(), ""))
}

fn check_limits(source: &str) -> Result<(), Box<Diagnostic>> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Box::new(
            Diagnostic::error(
                "vprog::too_large",
                format!("program is {} bytes; the limit is {MAX_SOURCE_BYTES}", source.len()),
                Span::new(0, 0),
                "program starts here",
            )
            .with_help("split the work into several programs"),
        ));
    }
    // Bracket depth, skipping strings and comments.
    let (mut depth, mut in_string, mut in_comment, mut escaped) = (0usize, false, false, false);
    for (i, c) in source.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' | '\n' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                '#' => in_comment = true,
                '"' => in_string = true,
                '(' | '[' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(Box::new(
                            Diagnostic::error(
                                "vprog::too_deep",
                                format!("brackets are nested more than {MAX_NESTING} deep"),
                                Span::new(i, i + 1),
                                "too deep here",
                            )
                            .with_help("bind inner expressions to names instead of nesting them"),
                        ));
                    }
                }
                ')' | ']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// AST construction

fn build_statement(pair: Pair<'_, Rule>) -> Result<Statement, Box<Diagnostic>> {
    let span = Span::from(pair.as_span());
    let rule = pair.as_rule();
    let mut inner = pair.into_inner().filter(|p| !matches!(p.as_rule(), Rule::assign | Rule::kw_answer));
    let kind = match rule {
        Rule::binding => {
            let name = ident(inner.next().ok_or_else(|| internal("binding without name"))?);
            let value = build_expr(inner.next().ok_or_else(|| internal("binding without value"))?)?;
            StatementKind::Bind { name, value }
        }
        _ => StatementKind::Answer(build_expr(inner.next().ok_or_else(|| internal("answer without value"))?)?),
    };
    Ok(Statement { kind, span })
}

fn ident(pair: Pair<'_, Rule>) -> Ident {
    Ident { name: pair.as_str().to_string(), span: pair.as_span().into() }
}

/// One element of an operator chain, before precedence is applied.
enum Tok<'i> {
    Prefix(UnaryOp, Span),
    Infix(BinaryOp),
    Operand(Pair<'i, Rule>),
}

fn build_expr(pair: Pair<'_, Rule>) -> Result<Expr, Box<Diagnostic>> {
    let span: Span = pair.as_span().into();
    let mut toks = Vec::new();
    let mut operators = 0usize;
    for p in pair.into_inner() {
        let s: Span = p.as_span().into();
        let tok = match p.as_rule() {
            Rule::op_not => Tok::Prefix(UnaryOp::Not, s),
            Rule::op_neg => Tok::Prefix(UnaryOp::Neg, s),
            Rule::op_or => Tok::Infix(BinaryOp::Or),
            Rule::op_and => Tok::Infix(BinaryOp::And),
            Rule::op_eq => Tok::Infix(BinaryOp::Eq),
            Rule::op_ne => Tok::Infix(BinaryOp::Ne),
            Rule::op_lt => Tok::Infix(BinaryOp::Lt),
            Rule::op_le => Tok::Infix(BinaryOp::Le),
            Rule::op_gt => Tok::Infix(BinaryOp::Gt),
            Rule::op_ge => Tok::Infix(BinaryOp::Ge),
            Rule::op_add => Tok::Infix(BinaryOp::Add),
            Rule::op_sub => Tok::Infix(BinaryOp::Sub),
            Rule::op_mul => Tok::Infix(BinaryOp::Mul),
            Rule::op_div => Tok::Infix(BinaryOp::Div),
            _ => Tok::Operand(p),
        };
        if !matches!(tok, Tok::Operand(_)) {
            operators += 1;
            if operators > MAX_OPERATORS {
                return Err(Box::new(
                    Diagnostic::error(
                        "vprog::too_complex",
                        format!("expression has more than {MAX_OPERATORS} operators"),
                        s,
                        "too many operators",
                    )
                    .with_help("bind parts of the expression to names"),
                ));
            }
        }
        toks.push(tok);
    }
    let mut pos = 0;
    let expr = climb(&mut toks.into_iter().map(Some).collect::<Vec<_>>(), &mut pos, 0)?;
    debug_assert!(expr.span.start >= span.start);
    Ok(expr)
}

/// Precedence climbing over the flat token list.
fn climb(toks: &mut [Option<Tok<'_>>], pos: &mut usize, min_prec: u8) -> Result<Expr, Box<Diagnostic>> {
    let mut lhs = prefix(toks, pos)?;
    while let Some(Some(Tok::Infix(op))) = toks.get(*pos) {
        let op = *op;
        if op.precedence() < min_prec {
            break;
        }
        *pos += 1;
        let rhs = climb(toks, pos, op.precedence() + 1)?;
        let span = lhs.span.to(rhs.span);
        lhs = Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span };
    }
    Ok(lhs)
}

fn prefix(toks: &mut [Option<Tok<'_>>], pos: &mut usize) -> Result<Expr, Box<Diagnostic>> {
    let tok = toks.get_mut(*pos).and_then(Option::take).ok_or_else(|| internal("operator without operand"))?;
    *pos += 1;
    match tok {
        Tok::Prefix(op, span) => {
            let prec = match op {
                UnaryOp::Not => NOT_PRECEDENCE,
                UnaryOp::Neg => NEG_PRECEDENCE,
            };
            let operand = climb(toks, pos, prec)?;
            let span = span.to(operand.span);
            Ok(Expr { kind: ExprKind::Unary { op, operand: Box::new(operand) }, span })
        }
        Tok::Operand(p) => build_primary(p),
        Tok::Infix(_) => Err(internal("infix operator in operand position")),
    }
}

fn build_primary(pair: Pair<'_, Rule>) -> Result<Expr, Box<Diagnostic>> {
    let span: Span = pair.as_span().into();
    let kind = match pair.as_rule() {
        Rule::paren => {
            let inner = pair.into_inner().find(|p| p.as_rule() == Rule::expr).ok_or_else(|| internal("empty parens"))?;
            // Parentheses only group: the expression keeps its own span.
            return build_expr(inner);
        }
        Rule::call_or_var => {
            let mut inner = pair.into_inner();
            let name = ident(inner.next().ok_or_else(|| internal("call without name"))?);
            match inner.next() {
                None => ExprKind::Var(name.name),
                Some(args) => ExprKind::Call { callee: name, args: build_args(args)? },
            }
        }
        Rule::bracket => build_bracket(pair)?,
        Rule::int => ExprKind::Literal(Literal::Int(pair.as_str().parse().map_err(|_| {
            Box::new(Diagnostic::error("vprog::bad_literal", "integer literal is out of range", span, "too large").with_help(format!(
                "integers range from {} to {}",
                i64::MIN,
                i64::MAX
            )))
        })?)),
        Rule::float => {
            let v: f64 = pair.as_str().parse().map_err(|_| bad_number(span))?;
            if !v.is_finite() {
                return Err(bad_number(span));
            }
            ExprKind::Literal(Literal::Float(v))
        }
        Rule::duration => ExprKind::Literal(duration(pair.as_str(), span)?),
        Rule::timestamp => ExprKind::Literal(timestamp(pair.as_str(), span)?),
        Rule::string => ExprKind::Literal(Literal::Str(unescape(pair, span)?)),
        Rule::boolean => ExprKind::Literal(Literal::Bool(pair.as_str() == "true")),
        other => return Err(internal(&format!("unexpected rule {other:?} in expression"))),
    };
    Ok(Expr { kind, span })
}

fn bad_number(span: Span) -> Box<Diagnostic> {
    Box::new(Diagnostic::error("vprog::bad_literal", "number literal is out of range", span, "not a finite number"))
}

fn build_args(pair: Pair<'_, Rule>) -> Result<Vec<Arg>, Box<Diagnostic>> {
    let mut args = Vec::new();
    for arg in pair.into_inner().filter(|p| p.as_rule() == Rule::arg) {
        let span: Span = arg.as_span().into();
        let inner = arg.into_inner().next().ok_or_else(|| internal("empty argument"))?;
        args.push(if inner.as_rule() == Rule::named_arg {
            let mut parts = inner.into_inner().filter(|p| p.as_rule() != Rule::colon);
            let name = ident(parts.next().ok_or_else(|| internal("named argument without name"))?);
            let value = build_expr(parts.next().ok_or_else(|| internal("named argument without value"))?)?;
            Arg { name: Some(name), value, span }
        } else {
            Arg { name: None, value: build_expr(inner)?, span }
        });
    }
    Ok(args)
}

fn build_bracket(pair: Pair<'_, Rule>) -> Result<ExprKind, Box<Diagnostic>> {
    let mut inner = pair.into_inner().filter(|p| !matches!(p.as_rule(), Rule::lbracket | Rule::rbracket));
    let Some(first) = inner.next() else {
        return Ok(ExprKind::List(Vec::new()));
    };
    let first = build_expr(first)?;
    let tail = inner.next().ok_or_else(|| internal("bracket without tail"))?;
    if tail.as_rule() == Rule::comp_tail {
        let mut parts = tail.into_inner().filter(|p| matches!(p.as_rule(), Rule::ident | Rule::expr));
        let var = ident(parts.next().ok_or_else(|| internal("comprehension without variable"))?);
        let source = build_expr(parts.next().ok_or_else(|| internal("comprehension without source"))?)?;
        let filter = parts.next().map(build_expr).transpose()?.map(Box::new);
        Ok(ExprKind::Comprehension { body: Box::new(first), var, source: Box::new(source), filter })
    } else {
        let mut items = vec![first];
        for p in tail.into_inner().filter(|p| p.as_rule() == Rule::expr) {
            items.push(build_expr(p)?);
        }
        Ok(ExprKind::List(items))
    }
}

fn duration(text: &str, span: Span) -> Result<Literal, Box<Diagnostic>> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let unit = literal::time_unit(suffix).ok_or_else(|| bad_number(span))?;
    let value: f64 = number.parse().map_err(|_| bad_number(span))?;
    let Some(millis) = literal::duration_millis(value, unit) else {
        return Err(Box::new(
            Diagnostic::error("vprog::bad_literal", "duration is out of range", span, "too long")
                .with_help("durations must be shorter than about 30,000 years"),
        ));
    };
    Ok(Literal::Duration { millis, unit })
}

fn timestamp(text: &str, span: Span) -> Result<Literal, Box<Diagnostic>> {
    let (clock, frac) = match text.split_once('.') {
        Some((c, f)) => (c, f),
        None => (text, ""),
    };
    if frac.len() > 3 {
        return Err(Box::new(
            Diagnostic::error("vprog::bad_literal", "timestamp has more than 3 decimal places", span, "too precise")
                .with_help("timestamps are precise to the millisecond, as in `01:02.345`"),
        ));
    }
    let parts: Vec<u64> = clock.split(':').map(|p| p.parse::<u64>()).collect::<Result<_, _>>().map_err(|_| bad_number(span))?;
    let (h, m, s) = match parts.as_slice() {
        [m, s] => (0, *m, *s),
        [h, m, s] => (*h, *m, *s),
        _ => return Err(bad_number(span)),
    };
    if s >= 60 || (parts.len() == 3 && m >= 60) {
        return Err(Box::new(
            Diagnostic::error("vprog::bad_literal", "timestamp field out of range", span, "seconds and minutes run from 00 to 59")
                .with_help("write `MM:SS`, `MM:SS.mmm` or `H:MM:SS`, as in `01:02.5`"),
        ));
    }
    let frac_ms = if frac.is_empty() { 0 } else { format!("{frac:0<3}").parse::<u64>().map_err(|_| bad_number(span))? };
    let millis = literal::timestamp_millis(h, m, s, frac_ms).ok_or_else(|| bad_number(span))?;
    Ok(Literal::Timestamp { millis })
}

fn unescape(pair: Pair<'_, Rule>, span: Span) -> Result<String, Box<Diagnostic>> {
    let raw = pair.into_inner().next().map(|p| p.as_str()).unwrap_or("");
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let esc_start = span.start + 1 + i;
        let bad = |len: usize, what: &str| {
            Box::new(
                Diagnostic::error("vprog::bad_escape", format!("invalid escape {what}"), Span::new(esc_start, esc_start + len), "here")
                    .with_help(format!("valid escapes are {}", literal::ESCAPES)),
            )
        };
        match chars.next() {
            Some((_, c)) if literal::simple_escape(c).is_some() => out.extend(literal::simple_escape(c)),
            Some((j, 'u')) => {
                let rest = &raw[j + 1..];
                let close = rest.find('}').ok_or_else(|| bad(2, "`\\u` without `{...}`"))?;
                let hex = &rest[1..close];
                let code =
                    u32::from_str_radix(hex, 16).map_err(|_| bad(close + 3, &format!("`\\u{{{hex}}}`: expected 1 to 6 hex digits")))?;
                let ch = literal::unicode_scalar(code).map_err(|why| bad(close + 3, &format!("`\\u{{{hex}}}`: U+{code:04X} {why}")))?;
                out.push(ch);
                for _ in 0..close + 1 {
                    chars.next();
                }
            }
            Some((_, other)) => return Err(bad(1 + other.len_utf8(), &format!("`\\{other}`"))),
            None => return Err(bad(1, "at end of string")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Syntax errors

fn syntax_error(source: &str, err: pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (found, found_len) = describe_found(source, pos);
    let mut expected: Vec<&'static str> = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.iter().filter_map(|r| rule_words(*r)).collect(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    expected.sort();
    expected.dedup();
    let label = if expected.is_empty() { "unexpected here".to_string() } else { format!("expected {}", join_or(&expected)) };
    let mut d = Diagnostic::error("vprog::syntax", format!("unexpected {found}"), Span::new(pos, pos + found_len), label);
    if let Some(help) = syntax_help(source, pos, &expected) {
        d = d.with_help(help);
    }
    d
}

fn describe_found(source: &str, pos: usize) -> (String, usize) {
    let rest = source.get(pos..).unwrap_or("");
    let Some(c) = rest.chars().next() else {
        return ("end of input".into(), 0);
    };
    if c.is_ascii_alphanumeric() || c == '_' {
        let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.').collect();
        let len = word.len();
        if c.is_ascii_digit() {
            return (format!("number `{word}`"), len);
        }
        return (format!("`{word}`"), len);
    }
    if c == '"' {
        return ("string".into(), 1);
    }
    if c == '\n' {
        return ("end of line".into(), 1);
    }
    if c.is_ascii_graphic() {
        return (format!("`{c}`"), 1);
    }
    // Invisible or look-alike characters are named by code point: a
    // no-break space shown as "unexpected ` `" looks like a space.
    let name = match c {
        '\u{A0}' => " (no-break space)",
        '\u{FEFF}' => " (byte-order mark / zero-width no-break space)",
        '\u{200B}' => " (zero-width space)",
        '\u{2028}' | '\u{2029}' => " (line/paragraph separator)",
        '\u{201C}' | '\u{201D}' => " (curly quote; strings use `\"`)",
        c if c.is_whitespace() => " (a Unicode space; use an ASCII space)",
        c if c.is_control() => " (a control character)",
        _ => "",
    };
    let shown = if c.is_control() || c.is_whitespace() || c == '\u{FEFF}' || c == '\u{200B}' { String::new() } else { format!("`{c}` ") };
    (format!("{shown}U+{:04X}{name}", c as u32), c.len_utf8())
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Plain words for a grammar rule, or `None` for rules never worth naming.
fn rule_words(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::expr => "an expression",
        Rule::ident => "a name",
        Rule::binding | Rule::answer_stmt | Rule::kw_answer => "a statement",
        Rule::assign => "`=`",
        Rule::colon => "`:`",
        Rule::comma => "`,`",
        Rule::lparen | Rule::call_args => "`(`",
        Rule::rparen => "`)`",
        Rule::lbracket | Rule::bracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::comp_tail | Rule::kw_for => "`for`",
        Rule::kw_in => "`in`",
        Rule::kw_if => "`if`",
        Rule::EOI => "end of input",
        Rule::timestamp | Rule::duration | Rule::float | Rule::int | Rule::string | Rule::boolean => "a literal",
        Rule::time_unit => "a time unit (ms, s, m, h)",
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div => "an operator",
        Rule::string_inner | Rule::escape => "the closing `\"`",
        _ => return None,
    })
}

fn syntax_help(source: &str, pos: usize, expected: &[&str]) -> Option<String> {
    let rest = source.get(pos..).unwrap_or("");
    let line_start = source[..pos.min(source.len())].rfind('\n').map_or(0, |i| i + 1);
    let line_before = &source[line_start..pos.min(source.len())];
    if rest.starts_with('=') && !rest.starts_with("==") && expected.contains(&"`)`") {
        return Some("named arguments use `:`, as in `sample(video, fps: 2)`".into());
    }
    if rest.starts_with('"') || line_before.matches('"').count() % 2 == 1 {
        return Some("a string starts and ends with `\"` on the same line; write `\\\"` for a quote inside it".into());
    }
    if expected.contains(&"`=`") {
        return Some("each statement is `name = expression` or `answer expression`".into());
    }
    if expected.contains(&"a time unit (ms, s, m, h)")
        || rest.starts_with(|c: char| c.is_ascii_alphabetic()) && line_before.ends_with(|c: char| c.is_ascii_digit())
    {
        return Some("durations are written `500ms`, `5s`, `1.5m` or `2h`".into());
    }
    if rest.starts_with([')', ']']) {
        return Some("this bracket closes nothing that is open".into());
    }
    if rest.is_empty() && (expected.contains(&"`)`") || expected.contains(&"`]`")) {
        return Some("a bracket opened earlier is never closed".into());
    }
    if line_before.trim().is_empty() && (expected.contains(&"`)`") || expected.contains(&"`]`")) {
        return Some("a bracket opened on an earlier line is not closed before this one".into());
    }
    if expected.contains(&"end of input") || expected.contains(&"a statement") {
        return Some("each statement is `name = expression` or `answer expression`, one per line".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(src: &str) -> Expr {
        parse(src).expect("parses").answer().expect("has answer").without_spans()
    }

    #[test]
    fn parses_the_issue_examples() {
        let p = parse(
            "# How many people walk through the scene?\n\
             frames = sample(video, fps: 2)\n\
             people = detect(frames, \"person\", min_score: 0.4)\n\
             answer count(track(people))\n",
        )
        .expect("parses");
        assert_eq!(p.statements.len(), 3);
        let p = parse(
            "subs = retrieve_subtitles(video, question, k: 3)\n\
             clip = trim_around(video, subs, pad: 5s)\n\
             answer choose(question, options, evidence: [subs, read_text(sample(clip, fps: 1))])",
        )
        .expect("parses");
        assert_eq!(p.statements.len(), 3);
    }

    #[test]
    fn literals() {
        assert_eq!(answer("answer 01:02.5").kind, ExprKind::Literal(Literal::Timestamp { millis: 62_500 }));
        assert_eq!(answer("answer 1:02:03").kind, ExprKind::Literal(Literal::Timestamp { millis: 3_723_000 }));
        assert_eq!(answer("answer 1.5m").kind, ExprKind::Literal(Literal::Duration { millis: 90_000, unit: TimeUnit::Minutes }));
        assert_eq!(answer("answer 250ms").kind, ExprKind::Literal(Literal::Duration { millis: 250, unit: TimeUnit::Millis }));
        assert_eq!(answer("answer -3").kind, ExprKind::Literal(Literal::Int(-3)));
        assert_eq!(answer(r#"answer "a\"b\u{e9}""#).kind, ExprKind::Literal(Literal::Str("a\"bé".into())));
    }

    #[test]
    fn precedence_and_prefixes() {
        let e = answer("answer not a == b and c");
        let ExprKind::Binary { op: BinaryOp::And, lhs, .. } = e.kind else { panic!("and at the top") };
        assert!(matches!(lhs.kind, ExprKind::Unary { op: UnaryOp::Not, .. }));
        let e = answer("answer 1 + 2 * 3 - 4");
        let ExprKind::Binary { op: BinaryOp::Sub, lhs, .. } = e.kind else { panic!("sub at the top") };
        assert!(matches!(lhs.kind, ExprKind::Binary { op: BinaryOp::Add, .. }));
        let e = answer("answer a - -1");
        assert!(matches!(e.kind, ExprKind::Binary { op: BinaryOp::Sub, .. }));
    }

    #[test]
    fn comprehension_with_filter() {
        let e = answer("answer [count(detect(f, \"dog\")) for f in frames if exists(detect(f, \"dog\"))]");
        let ExprKind::Comprehension { var, filter, .. } = e.kind else { panic!("comprehension") };
        assert_eq!(var.name, "f");
        assert!(filter.is_some());
    }

    #[test]
    fn deep_nesting_is_rejected_quickly() {
        let src = format!("answer {}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = parse(&src).expect_err("too deep");
        assert_eq!(e.code, "vprog::too_deep");
        let src = format!("answer {}", "not ".repeat(100_000) + "x");
        assert!(parse(&src).is_err());
        // Nested lists at the limit parse in linear time (no backtracking blow-up).
        let src = format!("answer {}1{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(parse(&src).is_ok());
    }

    #[test]
    fn syntax_errors_name_what_was_expected() {
        let e = parse("x = sample(video, fps = 2)\nanswer x").expect_err("syntax error");
        assert_eq!(e.code, "vprog::syntax");
        assert!(e.help.as_deref().unwrap_or("").contains("named arguments use `:`"), "{e:?}");
        let e = parse("x = \"unterminated\nanswer x").expect_err("syntax error");
        assert!(e.help.as_deref().unwrap_or("").contains("string"), "{e:?}");
    }
}
