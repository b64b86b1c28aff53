//! Checking a module call: binding arguments to parameters, types, ranges and
//! constraints, then lowering it to a `Call` node.

use std::sync::Arc;

use vprog_grammar::{print_expr, Arg, Diagnostic, Expr, Ident, Span};

use super::{Checker, Lowered, ParamMap};
use crate::dataflow::{Node, Op, Slot};
use crate::module::{Constraint, Module, Param, ParamType, Returns, Signature};
use crate::types::Type;
use crate::value::Value;

/// One argument after its expression was checked.
pub(crate) type CheckedArg<'a> = (Option<&'a Ident>, Option<Lowered>, Span);

/// The arguments bound to each parameter (several for a variadic one).
type BoundArgs = Vec<Vec<(Option<Lowered>, Span)>>;

impl Checker<'_> {
    pub(crate) fn call(&mut self, callee: &Ident, args: &[Arg], e: &Expr) -> Option<Lowered> {
        let checked: Vec<CheckedArg<'_>> = args.iter().map(|a| (a.name.as_ref(), self.expr(&a.value), a.value.span)).collect();
        if self.registry.get(&callee.name).is_none() {
            let mut d = Diagnostic::error(
                "vprog::unknown_module",
                format!("unknown module `{}`", callee.name),
                callee.span,
                "no module by this name",
            );
            if let Some(s) = vprog_grammar::closest(&callee.name, self.registry.names()) {
                let sig = self.registry.get(s).map(|m| m.signature().display()).unwrap_or_default();
                d = d.with_help(format!("did you mean `{s}`? ({sig})"));
            } else if self.scopes.resolve_quiet(&callee.name).is_some() {
                d = d.with_help(format!("`{}` is a value, not a module", callee.name));
            } else {
                d = d.with_help("run `vprog modules` to list every module");
            }
            self.diags.push(d);
            return None;
        }
        self.call_module(&callee.name, callee.span, checked, e, None)
    }

    /// Checks a call of module `name` (also used for operators, with `operator` set).
    pub(crate) fn call_module(
        &mut self,
        name: &str,
        name_span: Span,
        args: Vec<CheckedArg<'_>>,
        e: &Expr,
        operator: Option<&str>,
    ) -> Option<Lowered> {
        let Some(module) = self.registry.get(name).cloned() else {
            self.diags.push(Diagnostic::error(
                "vprog::unknown_module",
                format!("operator `{}` needs module `{name}`, which is not registered", operator.unwrap_or(name)),
                name_span,
                "unsupported here",
            ));
            return None;
        };
        let sig = module.signature().clone();
        let what = match operator {
            Some(op) => format!("operator `{op}`"),
            None => format!("`{}`", sig.name),
        };
        let bound = self.bind_args(&sig, &what, args, e.span)?;
        let ty = self.type_args(&sig, &what, &bound)?;
        Some(self.lower_call(module, &sig, bound, ty, e))
    }

    /// Assigns arguments to parameters. Returns, per parameter, its arguments
    /// (several for a variadic parameter).
    fn bind_args(&mut self, sig: &Signature, what: &str, args: Vec<CheckedArg<'_>>, call_span: Span) -> Option<BoundArgs> {
        let mut slots: BoundArgs = vec![Vec::new(); sig.params.len()];
        let mut ok = true;
        let mut next_positional = 0usize;
        let mut seen_named: Option<Span> = None;
        let positional_given = args.iter().filter(|(name, _, _)| name.is_none()).count();
        let mut arity_reported = false;
        for (name, lowered, span) in args {
            match name {
                None => {
                    if let Some(named_span) = seen_named {
                        self.diags.push(
                            Diagnostic::error("vprog::positional_after_named", "positional argument after a named one", span, "positional")
                                .with_label(named_span, "named argument before it")
                                .with_help("put positional arguments first, or name this one"),
                        );
                        ok = false;
                        continue;
                    }
                    match sig.params.get(next_positional) {
                        Some(p) if p.variadic => slots[next_positional].push((lowered, span)),
                        Some(_) => {
                            slots[next_positional].push((lowered, span));
                            next_positional += 1;
                        }
                        None => {
                            ok = false;
                            if !arity_reported {
                                arity_reported = true;
                                let n = sig.params.len();
                                self.diags.push(
                                    Diagnostic::error(
                                        "vprog::arity",
                                        format!(
                                            "{what} takes {n} positional argument{} but {positional_given} were given",
                                            if n == 1 { "" } else { "s" }
                                        ),
                                        span,
                                        "unexpected argument",
                                    )
                                    .with_help(format!("signature: {}", sig.display())),
                                );
                            }
                        }
                    }
                }
                Some(ident) => {
                    seen_named = Some(ident.span);
                    let Some(idx) = sig.params.iter().position(|p| p.name == ident.name) else {
                        let mut d = Diagnostic::error(
                            "vprog::unknown_argument",
                            format!("{what} has no parameter `{}`", ident.name),
                            ident.span,
                            "unknown parameter",
                        );
                        d = match vprog_grammar::closest(&ident.name, sig.params.iter().map(|p| p.name)) {
                            Some(s) => d.with_help(format!("did you mean `{s}`? signature: {}", sig.display())),
                            None => d.with_help(format!("signature: {}", sig.display())),
                        };
                        self.diags.push(d);
                        ok = false;
                        continue;
                    };
                    if !slots[idx].is_empty() && !sig.params[idx].variadic {
                        self.diags.push(
                            Diagnostic::error(
                                "vprog::duplicate_argument",
                                format!("`{}` is given twice", ident.name),
                                ident.span,
                                "given again",
                            )
                            .with_label(slots[idx][0].1, "first given here")
                            .with_help("give each argument once"),
                        );
                        ok = false;
                        continue;
                    }
                    slots[idx].push((lowered, span));
                }
            }
        }
        for (p, given) in sig.params.iter().zip(&slots) {
            if given.is_empty() && (p.is_required() || (p.variadic && p.default.is_none() && !p.optional)) {
                self.diags.push(
                    Diagnostic::error(
                        "vprog::missing_argument",
                        format!("{what} is missing argument `{}` ({})", p.name, p.ty),
                        call_span,
                        format!("`{}` not given", p.name),
                    )
                    .with_help(format!("signature: {}", sig.display())),
                );
                ok = false;
            }
        }
        for c in &sig.constraints {
            let Constraint::AtMostOneOf(names) = c;
            let given: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| sig.params.iter().position(|p| p.name == *n).is_some_and(|i| !slots[i].is_empty()))
                .collect();
            if given.len() > 1 {
                self.diags.push(
                    Diagnostic::error(
                        "vprog::conflicting_arguments",
                        format!("{what} takes at most one of {}", names.join(", ")),
                        call_span,
                        format!("both {} given", given.join(" and ")),
                    )
                    .with_help(format!("signature: {}", sig.display())),
                );
                ok = false;
            }
        }
        // Arguments whose own expression failed: stay quiet, but do not lower.
        if slots.iter().flatten().any(|(l, _)| l.is_none()) {
            return None;
        }
        ok.then_some(slots)
    }

    /// Checks argument types, binds `T`, checks constant ranges; returns the call's type.
    fn type_args(&mut self, sig: &Signature, what: &str, bound: &[Vec<(Option<Lowered>, Span)>]) -> Option<Type> {
        let mut t: Option<Type> = None;
        let mut ok = true;
        let mut all_int = true;
        for (p, given) in sig.params.iter().zip(bound) {
            for (lowered, span) in given {
                let Some(l) = lowered else { continue };
                let actual = l.ty();
                if actual.is_numeric() && *actual != Type::Int {
                    all_int = false;
                }
                match match_param(p, actual, t.as_ref()) {
                    Ok(Some(binding)) => {
                        if p.generic {
                            match &t {
                                None => t = Some(binding),
                                Some(prev) if p.variadic && !binding.is_assignable_to(prev) && !prev.is_assignable_to(&binding) => {
                                    self.diags.push(
                                        Diagnostic::error(
                                            "vprog::type_mismatch",
                                            format!("all arguments of {what} must have one type; found {prev} and {binding}"),
                                            *span,
                                            format!("this is {actual}"),
                                        )
                                        .with_help(format!("signature: {}", sig.display())),
                                    );
                                    ok = false;
                                }
                                Some(prev) => t = Some(Type::join(prev, &binding)),
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(expected) => {
                        let param_desc = if p.variadic { format!("arguments of {what}") } else { format!("`{}` of {what}", p.name) };
                        self.diags.push(
                            Diagnostic::error(
                                "vprog::type_mismatch",
                                format!("mismatched types: {param_desc} expects {expected}, found {actual}"),
                                *span,
                                format!("this is {actual}"),
                            )
                            .with_help(type_help(p, actual, sig)),
                        );
                        ok = false;
                    }
                }
                if let (Some(range), Lowered::Const(v, _)) = (&p.range, l) {
                    let x = match v {
                        Value::Int(i) => Some(*i as f64),
                        Value::Number(n) | Value::Duration(n) | Value::Timestamp(n) => Some(*n),
                        _ => None,
                    };
                    if let Some(x) = x.filter(|x| *x < range.min || *x > range.max) {
                        let unit = if matches!(v, Value::Duration(_)) { " seconds" } else { "" };
                        self.diags.push(
                            Diagnostic::error(
                                "vprog::out_of_range",
                                format!("`{}` must be between {} and {}{unit}", p.name, range.min, range.max),
                                *span,
                                format!("{x} is out of range"),
                            )
                            .with_help(p.doc.to_string()),
                        );
                        ok = false;
                    }
                }
                if let (Some(values), Lowered::Const(Value::Text(t), _)) = (&p.values, l) {
                    let norm = crate::module::normalise_text_value(t);
                    if values.binary_search(&norm).is_err() {
                        let near = vprog_grammar::closest(&norm, values.iter().map(String::as_str));
                        let help = match near {
                            Some(n) => format!("did you mean \"{n}\"? {}", p.doc),
                            None => p.doc.to_string(),
                        };
                        self.diags.push(
                            Diagnostic::error(
                                "vprog::unknown_value",
                                format!("`{}` of {what} has no value \"{t}\"", p.name),
                                *span,
                                "not one of the accepted values",
                            )
                            .with_help(help),
                        );
                        ok = false;
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        let ty = match &sig.returns {
            Returns::Is(ty) => ty.clone(),
            Returns::Numeric => {
                if all_int {
                    Type::Int
                } else {
                    Type::Number
                }
            }
            Returns::T => t?,
            Returns::ListOfT => Type::list(t?),
            Returns::ElementOfT => t?.element()?,
        };
        Some(ty)
    }

    fn lower_call(
        &mut self,
        module: Arc<dyn Module>,
        sig: &Signature,
        bound: Vec<Vec<(Option<Lowered>, Span)>>,
        ty: Type,
        e: &Expr,
    ) -> Lowered {
        let mut params = ParamMap::new();
        let mut variadic: Vec<Option<Value>> = Vec::new();
        let mut edges: Vec<(petgraph::stable_graph::NodeIndex, Slot)> = Vec::new();
        for (p, given) in sig.params.iter().zip(bound) {
            if given.is_empty() {
                if let Some(d) = &p.default {
                    if p.variadic {
                        variadic.push(Some(d.clone()));
                    } else {
                        params.insert(p.name.to_string(), d.clone());
                    }
                }
                continue;
            }
            for (lowered, _) in given {
                match (lowered, p.variadic) {
                    (Some(Lowered::Const(v, _)), false) => {
                        params.insert(p.name.to_string(), v);
                    }
                    (Some(Lowered::Node(n, _)), false) => edges.push((n, Slot::Arg(p.name.to_string()))),
                    (Some(Lowered::Const(v, _)), true) => variadic.push(Some(v)),
                    (Some(Lowered::Node(n, _)), true) => {
                        edges.push((n, Slot::Variadic(variadic.len())));
                        variadic.push(None);
                    }
                    (None, _) => {}
                }
            }
        }
        let node = self.scopes.add_node(Node {
            op: Op::Call { module, params, variadic },
            ty: ty.clone(),
            span: e.span,
            text: print_expr(e),
            bindings: vec![],
            merged: vec![],
        });
        for (src, slot) in edges {
            self.scopes.add_edge(src, node, slot);
        }
        Lowered::Node(node, ty)
    }
}

/// Whether `actual` fits parameter `p`. `Ok(Some(t))`: fits and `t` is what
/// binds `T` for generic parameters. `Err(expected)`: does not fit.
fn match_param(p: &Param, actual: &Type, t: Option<&Type>) -> Result<Option<Type>, String> {
    match &p.ty {
        ParamType::Is(ty) => {
            if actual.is_assignable_to(ty) {
                // Bind the actual type when it fits as is (or the parameter is
                // generic over `Any`); bind the parameter's type after a coercion.
                Ok(Some(if actual == ty || ty.to_string().contains("Any") { actual.clone() } else { ty.clone() }))
            } else {
                Err(ty.to_string())
            }
        }
        ParamType::OneOf(options) => options
            .iter()
            .find(|o| actual.is_assignable_to(o))
            .map(|o| Some(if actual == o || o.to_string().contains("Any") { actual.clone() } else { o.clone() }))
            .ok_or_else(|| p.ty.to_string()),
        ParamType::SameAsT => match t {
            None => Ok(None),
            Some(t) if (t.is_numeric() && actual.is_numeric()) || actual.is_assignable_to(t) || t.is_assignable_to(actual) => Ok(None),
            Some(t) => Err(format!("{t} (the type of the first argument)")),
        },
    }
}

fn type_help(p: &Param, actual: &Type, sig: &Signature) -> String {
    let accepts_frames = matches!(&p.ty, ParamType::Is(Type::Frames)) || matches!(&p.ty, ParamType::OneOf(o) if o.contains(&Type::Frames));
    if accepts_frames && matches!(actual, Type::Video | Type::Clip) {
        return "sample frames first, e.g. `sample(video, fps: 1)`".into();
    }
    if matches!(&p.ty, ParamType::Is(Type::Duration)) && actual.is_numeric() {
        return "write durations with a unit, e.g. `5s` or `1.5m`".into();
    }
    if matches!(&p.ty, ParamType::Is(Type::Timestamp)) && actual.is_numeric() {
        return "write timestamps as `MM:SS`, e.g. `01:30`".into();
    }
    format!("signature: {}", sig.display())
}
