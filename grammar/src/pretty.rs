//! The canonical printer: one statement per line, minimal parentheses,
//! normalised literals. `parse(print(p))` equals `p` up to spans; comments
//! are not kept.

use std::fmt::Write;

use crate::ast::*;

/// Prints a program in canonical form (ends with a newline).
pub fn print_program(program: &Program) -> String {
    let mut out = String::new();
    for s in &program.statements {
        match &s.kind {
            StatementKind::Bind { name, value } => {
                let _ = writeln!(out, "{} = {}", name.name, print_expr(value));
            }
            StatementKind::Answer(e) => {
                let _ = writeln!(out, "answer {}", print_expr(e));
            }
        }
    }
    out
}

/// Prints one expression in canonical form.
pub fn print_expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e, 0);
    out
}

fn write_expr(out: &mut String, e: &Expr, min_prec: u8) {
    match &e.kind {
        ExprKind::Literal(l) => write_literal(out, l),
        ExprKind::Var(v) => out.push_str(v),
        ExprKind::Call { callee, args } => {
            out.push_str(&callee.name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if let Some(n) = &a.name {
                    out.push_str(&n.name);
                    out.push_str(": ");
                }
                write_expr(out, &a.value, 0);
            }
            out.push(')');
        }
        ExprKind::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, item, 0);
            }
            out.push(']');
        }
        ExprKind::Comprehension { body, var, source, filter } => {
            out.push('[');
            write_expr(out, body, 0);
            out.push_str(" for ");
            out.push_str(&var.name);
            out.push_str(" in ");
            write_expr(out, source, 0);
            if let Some(f) = filter {
                out.push_str(" if ");
                write_expr(out, f, 0);
            }
            out.push(']');
        }
        ExprKind::Unary { op: UnaryOp::Not, operand } => {
            // `not` extends over comparisons to its right, so inside any operator
            // that binds at least as tightly it needs parentheses.
            let parens = min_prec >= NOT_PRECEDENCE;
            if parens {
                out.push('(');
            }
            out.push_str("not ");
            write_expr(out, operand, NOT_PRECEDENCE);
            if parens {
                out.push(')');
            }
        }
        ExprKind::Unary { op: UnaryOp::Neg, operand } => {
            out.push('-');
            let digit_first = matches!(
                &operand.kind,
                ExprKind::Literal(Literal::Int(v)) if *v >= 0
            ) || matches!(
                &operand.kind,
                ExprKind::Literal(Literal::Float(v)) if v.is_sign_positive()
            ) || matches!(&operand.kind, ExprKind::Literal(Literal::Duration { .. } | Literal::Timestamp { .. }));
            if digit_first {
                out.push('(');
                write_expr(out, operand, 0);
                out.push(')');
            } else {
                write_expr(out, operand, NEG_PRECEDENCE);
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let prec = op.precedence();
            let parens = prec < min_prec;
            if parens {
                out.push('(');
            }
            write_expr(out, lhs, prec);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            write_expr(out, rhs, prec + 1);
            if parens {
                out.push(')');
            }
        }
    }
}

fn write_literal(out: &mut String, l: &Literal) {
    match l {
        Literal::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Literal::Float(v) => out.push_str(&format_float(*v)),
        Literal::Str(s) => write_string(out, s),
        Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Literal::Duration { millis, unit } => {
            let per = unit.millis();
            if millis % per == 0 {
                let _ = write!(out, "{}{}", millis / per, unit.suffix());
            } else {
                let _ = write!(out, "{}{}", format_float(*millis as f64 / per as f64), unit.suffix());
            }
        }
        Literal::Timestamp { millis } => out.push_str(&format_timestamp(*millis)),
    }
}

/// A float that always has a decimal point and never an exponent, so it reads
/// back as the same float (not as an integer).
pub fn format_float(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('.') || !v.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

/// `MM:SS[.mmm]`, or `H:MM:SS[.mmm]` from one hour on.
pub fn format_timestamp(millis: u64) -> String {
    let (h, rem) = (millis / 3_600_000, millis % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, ms) = (rem / 1000, rem % 1000);
    let mut out = if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m:02}:{s:02}") };
    if ms > 0 {
        let frac = format!("{ms:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn roundtrip(src: &str) -> String {
        let p = parse(src).expect("parses");
        let printed = print_program(&p);
        let again = parse(&printed).unwrap_or_else(|e| panic!("reparse of {printed:?}: {e:?}"));
        assert_eq!(p.without_spans(), again.without_spans(), "{printed}");
        printed
    }

    #[test]
    fn canonical_form() {
        assert_eq!(
            roundtrip("# c\nframes=sample( video,fps:2 )\nanswer   count( [f for f in frames if not exists(f)] )"),
            "frames = sample(video, fps: 2)\nanswer count([f for f in frames if not exists(f)])\n"
        );
        assert_eq!(roundtrip("answer (not a) == b"), "answer (not a) == b\n");
        assert_eq!(roundtrip("answer -(1) - (a - b)"), "answer -(1) - (a - b)\n");
        assert_eq!(
            roundtrip("answer [1.0, 1.5m, 90s, 01:02.50, 1:00:00, \"q\\\"\\n\"]"),
            "answer [1.0, 1.5m, 90s, 01:02.5, 1:00:00, \"q\\\"\\n\"]\n"
        );
    }
}
