//! Parameter search: variants of a program over the numeric parameters its
//! modules declare searchable ([`vprog_runtime::Param::searchable`]: `k`,
//! `fps`, `count`, `pad`, `min_score`, ...).
//!
//! Each variant changes one parameter of one call (coordinate search): the
//! value written in the program, or the module's default when the argument
//! is omitted, is halved and doubled (moved by 0.2 for parameters in
//! `[0, 1]`), clamped to the searchable range and rounded for `Int`s. A
//! variant is printed canonically and checked like any program; one that no
//! longer checks (say `fps` added to a `sample` that already has `count`) is
//! dropped. [`crate::reason`] runs the variants through the shared step
//! cache, so the steps a variant does not change are never recomputed, and
//! keeps the most confident answer.

use serde::Serialize;
use vprog_grammar::{parse, print_program, Arg, Expr, ExprKind, Ident, Literal, Span, StatementKind, TimeUnit};
use vprog_runtime::module::Range;
use vprog_runtime::{ParamType, Registry, Type, Value};

use crate::validate::check_program;

/// One searchable parameter of one call in a program.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Knob {
    /// The call's position among the program's calls, in source order.
    pub call: usize,
    /// The module.
    pub module: String,
    /// The parameter.
    pub param: String,
    /// Its value in the program (or the module's default).
    pub current: f64,
    /// Whether the value was written in the program (else it is the default).
    pub written: bool,
    /// The range the search may explore.
    pub range: (f64, f64),
    /// What kind of literal it takes.
    #[serde(skip)]
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Number,
    Duration,
}

/// A program with one parameter changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// What changed, e.g. `retrieve_subtitles.k: 4 -> 8`.
    pub change: String,
    /// The program, printed canonically.
    pub source: String,
}

/// The searchable parameters of `program`'s calls, in source order.
pub fn knobs(source: &str, registry: &Registry) -> Vec<Knob> {
    let Ok(program) = parse(source) else { return Vec::new() };
    let mut out = Vec::new();
    let mut call = 0;
    for s in &program.statements {
        let e = match &s.kind {
            StatementKind::Bind { value, .. } => value,
            StatementKind::Answer(e) => e,
        };
        visit(e, &mut |e| {
            if let ExprKind::Call { callee, args } = &e.kind {
                out.extend(call_knobs(call, callee, args, registry));
                call += 1;
            }
        });
    }
    out
}

fn call_knobs(call: usize, callee: &Ident, args: &[Arg], registry: &Registry) -> Vec<Knob> {
    let Some(module) = registry.get(&callee.name) else { return Vec::new() };
    let sig = module.signature();
    let mut out = Vec::new();
    for (position, p) in sig.params.iter().enumerate() {
        let Some(Range { min, max }) = p.search else { continue };
        let kind = match &p.ty {
            ParamType::Is(Type::Int) => Kind::Int,
            ParamType::Is(Type::Number) => Kind::Number,
            ParamType::Is(Type::Duration) => Kind::Duration,
            _ => continue,
        };
        // Positional arguments map to parameters in order, up to a variadic one.
        let positional = !sig.params[..=position].iter().any(|q| q.variadic);
        let arg = args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == p.name))
            .or_else(|| positional.then(|| args.iter().filter(|a| a.name.is_none()).nth(position)).flatten());
        let (current, written) = match arg {
            Some(a) => match literal_number(&a.value) {
                Some(v) => (v, true),
                // A variable or an expression: not a constant to vary.
                None => continue,
            },
            None => match &p.default {
                Some(Value::Int(v)) => (*v as f64, false),
                Some(Value::Number(v)) | Some(Value::Duration(v)) => (*v, false),
                _ => continue,
            },
        };
        out.push(Knob { call, module: callee.name.clone(), param: p.name.to_string(), current, written, range: (min, max), kind });
    }
    out
}

fn literal_number(e: &Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Literal(Literal::Int(v)) => Some(*v as f64),
        ExprKind::Literal(Literal::Float(v)) => Some(*v),
        ExprKind::Literal(Literal::Duration { millis, .. }) => Some(*millis as f64 / 1000.0),
        _ => None,
    }
}

/// The values a knob is tried at: halved and doubled (±0.2 for parameters
/// in `[0, 1]`), clamped to the searchable range, rounded for `Int`s,
/// without the current value or repeats.
pub fn candidates(knob: &Knob) -> Vec<f64> {
    let (lo, hi) = knob.range;
    let v = knob.current;
    let raw = if hi <= 1.0 {
        vec![v - 0.2, v + 0.2]
    } else if v == 0.0 {
        vec![lo + (hi - lo) / 4.0]
    } else {
        vec![v / 2.0, v * 2.0]
    };
    let mut out: Vec<f64> = Vec::new();
    for c in raw {
        let mut c = c.clamp(lo, hi);
        if knob.kind == Kind::Int {
            c = c.round();
        } else {
            // Two decimals: readable programs, no float noise in cache keys.
            c = (c * 100.0).round() / 100.0;
        }
        if (c - v).abs() > 1e-9 && !out.iter().any(|o| (o - c).abs() < 1e-9) {
            out.push(c);
        }
    }
    out
}

/// Up to `max` variants of `source`, each with one searchable parameter
/// changed; every variant checks (parse, types, `options` meaning the
/// answer must be a `Choice`). Knobs are taken in source order, each
/// lowered then raised, round-robin over the knobs so a small `max` still
/// covers several parameters.
pub fn variants(source: &str, registry: &Registry, options: bool, max: usize) -> Vec<Variant> {
    let Ok(program) = parse(source) else { return Vec::new() };
    let knobs = knobs(source, registry);
    let per_knob: Vec<Vec<f64>> = knobs.iter().map(candidates).collect();
    let rounds = per_knob.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for round in 0..rounds {
        for (knob, values) in knobs.iter().zip(&per_knob) {
            if out.len() >= max {
                return out;
            }
            let Some(&value) = values.get(round) else { continue };
            let mut changed = program.clone();
            let mut call = 0;
            for s in &mut changed.statements {
                let e = match &mut s.kind {
                    StatementKind::Bind { value, .. } => value,
                    StatementKind::Answer(e) => e,
                };
                visit_mut(e, &mut |e| {
                    if let ExprKind::Call { args, .. } = &mut e.kind {
                        if call == knob.call {
                            set_arg(args, knob, value, registry);
                        }
                        call += 1;
                    }
                });
            }
            let text = print_program(&changed);
            if check_program(&text, registry, options).is_valid() {
                out.push(Variant {
                    change: format!("{}.{}: {} -> {}", knob.module, knob.param, show(knob, knob.current), show(knob, value)),
                    source: text,
                });
            }
        }
    }
    out
}

fn show(knob: &Knob, v: f64) -> String {
    match knob.kind {
        Kind::Int => format!("{}", v as i64),
        Kind::Number => vprog_grammar::format_float(v),
        Kind::Duration => format!("{}s", vprog_grammar::format_float(v)),
    }
}

fn literal(knob: &Knob, v: f64) -> Literal {
    match knob.kind {
        Kind::Int => Literal::Int(v as i64),
        Kind::Number => Literal::Float(v),
        Kind::Duration => {
            let millis = (v * 1000.0).round() as u64;
            let unit = if millis % 1000 == 0 { TimeUnit::Seconds } else { TimeUnit::Millis };
            Literal::Duration { millis, unit }
        }
    }
}

/// Sets the knob's argument of a call to `value`: in place where it was
/// written (by name or position), else as a new named argument.
fn set_arg(args: &mut Vec<Arg>, knob: &Knob, value: f64, registry: &Registry) {
    let expr = Expr { kind: ExprKind::Literal(literal(knob, value)), span: Span::new(0, 0) };
    if let Some(a) = args.iter_mut().find(|a| a.name.as_ref().is_some_and(|n| n.name == knob.param)) {
        a.value = expr;
        return;
    }
    let position =
        registry.get(&knob.module).and_then(|m| m.signature().params.iter().position(|p| p.name == knob.param)).filter(|_| knob.written);
    if let Some(a) = position.and_then(|i| args.iter_mut().filter(|a| a.name.is_none()).nth(i)) {
        a.value = expr;
        return;
    }
    let name = Ident { name: knob.param.clone(), span: Span::new(0, 0) };
    args.push(Arg { name: Some(name), value: expr, span: Span::new(0, 0) });
}

/// Calls `f` on `e` and every expression inside it, outer first, in source order.
fn visit(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match &e.kind {
        ExprKind::Literal(_) | ExprKind::Var(_) => {}
        ExprKind::Call { args, .. } => args.iter().for_each(|a| visit(&a.value, f)),
        ExprKind::List(items) => items.iter().for_each(|i| visit(i, f)),
        ExprKind::Comprehension { body, source, filter, .. } => {
            // Source order: `[body for x in source if filter]`.
            visit(body, f);
            visit(source, f);
            if let Some(c) = filter {
                visit(c, f);
            }
        }
        ExprKind::Unary { operand, .. } => visit(operand, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit(lhs, f);
            visit(rhs, f);
        }
    }
}

/// [`visit`] with mutable access, in the same order.
fn visit_mut(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    f(e);
    match &mut e.kind {
        ExprKind::Literal(_) | ExprKind::Var(_) => {}
        ExprKind::Call { args, .. } => args.iter_mut().for_each(|a| visit_mut(&mut a.value, f)),
        ExprKind::List(items) => items.iter_mut().for_each(|i| visit_mut(i, f)),
        ExprKind::Comprehension { body, source, filter, .. } => {
            visit_mut(body, f);
            visit_mut(source, f);
            if let Some(c) = filter {
                visit_mut(c, f);
            }
        }
        ExprKind::Unary { operand, .. } => visit_mut(operand, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit_mut(lhs, f);
            visit_mut(rhs, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        vprog_modules::registry()
    }

    #[test]
    fn written_and_default_parameters_are_found() {
        let src = "cues = retrieve_subtitles(subtitles(video), question, k: 4)\nanswer choose(question, options, evidence: cues)\n";
        let k = knobs(src, &registry());
        let names: Vec<String> = k.iter().map(|k| format!("{}.{}", k.module, k.param)).collect();
        assert!(names.contains(&"retrieve_subtitles.k".to_string()), "{names:?}");
        assert!(names.contains(&"retrieve_subtitles.alpha".to_string()), "{names:?}");
        let kk = k.iter().find(|k| k.param == "k").expect("k");
        assert_eq!((kk.current, kk.written), (4.0, true));
        assert_eq!(candidates(kk), vec![2.0, 8.0]);
    }

    #[test]
    fn variants_change_one_parameter_and_check() {
        let src = "cues = retrieve_subtitles(subtitles(video), question, k: 4)\nanswer choose(question, options, evidence: cues)\n";
        let reg = registry();
        let vs = variants(src, &reg, true, 20);
        assert!(vs.iter().any(|v| v.change == "retrieve_subtitles.k: 4 -> 8" && v.source.contains("k: 8")), "{vs:?}");
        assert!(vs.iter().any(|v| v.change == "retrieve_subtitles.k: 4 -> 2" && v.source.contains("k: 2")), "{vs:?}");
        for v in &vs {
            assert!(check_program(&v.source, &reg, true).is_valid(), "{}", v.source);
            assert_ne!(v.source, print_program(&parse(src).expect("parses")));
        }
        assert_eq!(variants(src, &reg, true, 1).len(), 1);
    }

    #[test]
    fn positional_durations_and_conflicts() {
        let reg = registry();
        // `pad` positional as a duration; `sample` with `count` must not gain `fps`.
        let src = "frames = sample(trim_around(video, 00:10, 4s), count: 8)\nanswer count(frames)\n";
        let vs = variants(src, &reg, false, 50);
        assert!(vs.iter().any(|v| v.source.contains("8s")), "{vs:?}");
        assert!(vs.iter().any(|v| v.source.contains("count: 16")), "{vs:?}");
        assert!(!vs.iter().any(|v| v.source.contains("fps:")), "{vs:?}");
        // A non-literal argument is not varied; a program that does not parse has none.
        assert!(knobs("n = 4\nanswer count(retrieve_subtitles(subtitles(video), question, k: n))\n", &reg).iter().all(|k| k.param != "k"));
        assert!(variants("answer (", &reg, false, 5).is_empty());
    }
}
