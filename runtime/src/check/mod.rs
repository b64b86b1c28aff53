//! Static checking: a parsed program is type-checked against module
//! signatures and lowered to a [`Dataflow`] in one walk (as a SQL planner
//! resolves names and types while it builds its logical plan).
//!
//! Every error is reported, not just the first: each expression that fails
//! to check yields no type, and expressions depending on it stay quiet so one
//! mistake gives one diagnostic.

mod call;
pub mod prefix;
mod scope;

use std::collections::BTreeMap;
use std::sync::Arc;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use vprog_grammar::{print_expr, Diagnostic, Expr, ExprKind, Literal, Program, Span, StatementKind, UnaryOp};

use crate::dataflow::{Dataflow, Input, MapOutput, Node, Op, Slot};
use crate::registry::Registry;
use crate::types::Type;
use crate::value::Value;
use scope::Scopes;

/// The result of checking: a plan when there are no errors, and every
/// diagnostic (errors and warnings) in source order.
pub struct CheckOutput {
    /// The lowered program; `None` when any error was found.
    pub plan: Option<Dataflow>,
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl CheckOutput {
    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A program's text, parsed and checked.
pub struct CheckedSource {
    /// The program, when it parses.
    pub program: Option<Program>,
    /// The syntax error, or every error and warning of the check.
    pub diagnostics: Vec<Diagnostic>,
    /// The lowered program, when there is no error.
    pub plan: Option<Dataflow>,
}

/// Parses `source` and checks it against `registry`: a syntax error comes
/// back as the only diagnostic.
pub fn check_source(source: &str, registry: &Registry) -> CheckedSource {
    match vprog_grammar::parse(source) {
        Err(d) => CheckedSource { program: None, diagnostics: vec![*d], plan: None },
        Ok(program) => {
            let out = check(&program, registry);
            CheckedSource { program: Some(program), diagnostics: out.diagnostics, plan: out.plan }
        }
    }
}

/// Checks `program` against the modules in `registry`.
pub fn check(program: &Program, registry: &Registry) -> CheckOutput {
    let mut c = Checker { registry, scopes: Scopes::new(), diags: Vec::new(), suggestions_left: MAX_SUGGESTIONS };
    let output = c.program(program);
    let mut diagnostics = c.diags;
    diagnostics.sort_by_key(|d| (d.span().start, d.severity != vprog_grammar::Severity::Error));
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    let plan = match (failed, output) {
        (false, Some(output)) => Some(Dataflow { graph: c.scopes.into_root_graph(), output, filter: None }),
        _ => None,
    };
    CheckOutput { plan, diagnostics }
}

/// The type of each binding of `program` whose value checks, in source
/// order (for [`prefix::PrefixChecker`], which constrains arguments by the
/// types of earlier bindings). Bindings with errors are left out.
pub(crate) fn binding_types(program: &Program, registry: &Registry) -> Vec<(String, Type)> {
    let mut c = Checker { registry, scopes: Scopes::new(), diags: Vec::new(), suggestions_left: MAX_SUGGESTIONS };
    let _ = c.program(program);
    let mut types: Vec<(String, Type)> = Vec::new();
    for stmt in &program.statements {
        let StatementKind::Bind { name, .. } = &stmt.kind else { continue };
        if Input::ALL.iter().any(|i| i.name() == name.name) || types.iter().any(|(n, _)| *n == name.name) {
            continue;
        }
        if let Some(l) = c.scopes.resolve(&name.name) {
            types.push((name.name.clone(), l.ty().clone()));
        }
    }
    types
}

/// A checked expression: a constant (kept as a parameter where possible) or a node.
#[derive(Clone)]
pub(crate) enum Lowered {
    Const(Value, Type),
    Node(NodeIndex, Type),
}

impl Lowered {
    fn ty(&self) -> &Type {
        match self {
            Lowered::Const(_, t) | Lowered::Node(_, t) => t,
        }
    }
}

pub(crate) struct Checker<'r> {
    pub(crate) registry: &'r Registry,
    pub(crate) scopes: Scopes,
    pub(crate) diags: Vec<Diagnostic>,
    /// How many more undefined names get a "did you mean" suggestion.
    pub(crate) suggestions_left: usize,
}

/// Undefined names that get a "did you mean" suggestion, per program.
const MAX_SUGGESTIONS: usize = 100;

impl Checker<'_> {
    fn program(&mut self, program: &Program) -> Option<NodeIndex> {
        let mut answer: Option<(Option<Lowered>, Span, Span)> = None;
        for stmt in &program.statements {
            if let Some((_, first_span, _)) = &answer {
                let (code, msg, label) = match stmt.kind {
                    StatementKind::Answer(_) => ("vprog::multiple_answers", "a program has exactly one `answer`", "second `answer`"),
                    StatementKind::Bind { .. } => ("vprog::after_answer", "statement after `answer` never runs", "unreachable"),
                };
                self.diags.push(
                    Diagnostic::error(code, msg, stmt.span, label)
                        .with_label(*first_span, "the program ends here")
                        .with_help("`answer` must be the last statement"),
                );
                continue;
            }
            match &stmt.kind {
                StatementKind::Bind { name, value } => {
                    if let Some(input) = Input::ALL.iter().find(|i| i.name() == name.name) {
                        self.diags.push(
                            Diagnostic::error(
                                "vprog::reserved_name",
                                format!("`{}` is an implicit input and cannot be rebound", name.name),
                                name.span,
                                "reserved",
                            )
                            .with_help(format!(
                                "`{}` always holds the {}; pick another name",
                                input.name(),
                                describe_input(*input)
                            )),
                        );
                        let _ = self.expr(value);
                        continue;
                    }
                    if let Some(prev) = self.scopes.binding_span(&name.name) {
                        self.diags.push(
                            Diagnostic::error(
                                "vprog::duplicate_binding",
                                format!("`{}` is already bound", name.name),
                                name.span,
                                "bound again here",
                            )
                            .with_label(prev, "first bound here")
                            .with_help("each name is bound once; choose a new name"),
                        );
                        let _ = self.expr(value);
                        continue;
                    }
                    let lowered = self.expr(value);
                    if let Some(Lowered::Node(n, _)) = &lowered {
                        self.scopes.name_node(*n, &name.name);
                    }
                    self.scopes.bind(&name.name, name.span, lowered);
                }
                StatementKind::Answer(e) => {
                    let lowered = self.expr(e);
                    answer = Some((lowered, stmt.span, e.span));
                }
            }
        }
        for (name, span) in self.scopes.unused_bindings() {
            self.diags.push(
                Diagnostic::warning("vprog::unused_binding", format!("`{name}` is never used"), span, "unused")
                    .with_help("use it in the answer or remove it; unused steps do not run"),
            );
        }
        match answer {
            None => {
                let end = program.statements.last().map_or(0, |s| s.span.end);
                self.diags.push(
                    Diagnostic::error(
                        "vprog::missing_answer",
                        "program has no `answer`",
                        Span::new(end, end),
                        "expected `answer <expression>` here",
                    )
                    .with_help("end the program with `answer <expression>`, e.g. `answer count(frames)`"),
                );
                None
            }
            Some((Some(lowered), _, span)) => Some(self.materialize(lowered, span, "answer")),
            Some((None, _, _)) => None,
        }
    }

    /// Turns a constant into a node (for answers, list items and sources).
    pub(crate) fn materialize(&mut self, lowered: Lowered, span: Span, text: &str) -> NodeIndex {
        match lowered {
            Lowered::Node(n, _) => n,
            Lowered::Const(v, ty) => {
                self.scopes.add_node(Node { op: Op::Const(v), ty, span, text: text.to_string(), bindings: vec![], merged: vec![] })
            }
        }
    }

    pub(crate) fn expr(&mut self, e: &Expr) -> Option<Lowered> {
        match &e.kind {
            ExprKind::Literal(l) => Some(literal(l)),
            ExprKind::Var(name) => self.var(name, e.span),
            ExprKind::List(items) => self.list(items, e),
            ExprKind::Call { callee, args } => self.call(callee, args, e),
            ExprKind::Comprehension { body, var, source, filter } => self.comprehension(body, var, source, filter.as_deref(), e),
            ExprKind::Unary { op, operand } => {
                let name = op.module_name();
                let arg = (None, self.expr(operand), operand.span);
                self.call_module(name, e.span, vec![arg], e, Some(unary_symbol(*op)))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let l = (None, self.expr(lhs), lhs.span);
                let r = (None, self.expr(rhs), rhs.span);
                self.call_module(op.module_name(), e.span, vec![l, r], e, Some(op.symbol()))
            }
        }
    }

    fn var(&mut self, name: &str, span: Span) -> Option<Lowered> {
        if let Some(l) = self.scopes.resolve(name) {
            return Some(l);
        }
        if self.scopes.resolve_quiet(name).is_some() {
            // Defined, but its definition had errors that were already reported.
            return None;
        }
        let mut d = Diagnostic::error("vprog::undefined", format!("`{name}` is not defined"), span, "not defined");
        // Each suggestion compares against every name in scope: past the
        // first few, suggestions would make checking quadratic.
        let suggestion = if self.suggestions_left > 0 {
            self.suggestions_left -= 1;
            vprog_grammar::closest(name, self.scopes.visible_names()).map(str::to_string)
        } else {
            None
        };
        if let Some(s) = suggestion {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else if self.registry.get(name).is_some() {
            d = d.with_help(format!("`{name}` is a module; call it with arguments, e.g. `{name}(...)`"));
        } else {
            d = d.with_help("bind it first (`name = ...`), or use an implicit input: `video`, `question`, `options`");
        }
        self.diags.push(d);
        None
    }

    fn list(&mut self, items: &[Expr], e: &Expr) -> Option<Lowered> {
        let lowered: Vec<(Option<Lowered>, Span)> = items.iter().map(|i| (self.expr(i), i.span)).collect();
        if lowered.iter().any(|(l, _)| l.is_none()) {
            return None;
        }
        let mut elem = Type::Any;
        for (i, (l, _)) in lowered.iter().enumerate() {
            let t = l.as_ref().map(|l| l.ty().clone()).unwrap_or(Type::Any);
            elem = if i == 0 { t } else { Type::join(&elem, &t) };
        }
        let ty = Type::list(elem);
        if lowered.iter().all(|(l, _)| matches!(l, Some(Lowered::Const(..)))) {
            let values = lowered.into_iter().filter_map(|(l, _)| match l {
                Some(Lowered::Const(v, _)) => Some(v),
                _ => None,
            });
            return Some(Lowered::Const(Value::List(Arc::new(values.collect())), ty));
        }
        let items: Vec<NodeIndex> = lowered
            .into_iter()
            .zip(items)
            .filter_map(|((l, span), item)| l.map(|l| self.materialize(l, span, &print_expr(item))))
            .collect();
        let node = self.scopes.add_node(Node {
            op: Op::List,
            ty: ty.clone(),
            span: e.span,
            text: print_expr(e),
            bindings: vec![],
            merged: vec![],
        });
        for (i, item) in items.into_iter().enumerate() {
            self.scopes.add_edge(item, node, Slot::Item(i));
        }
        Some(Lowered::Node(node, ty))
    }

    fn comprehension(
        &mut self,
        body: &Expr,
        var: &vprog_grammar::Ident,
        source: &Expr,
        filter: Option<&Expr>,
        e: &Expr,
    ) -> Option<Lowered> {
        let src = self.expr(source);
        let src_ty = src.as_ref().map(|s| s.ty().clone());
        let elem = match &src_ty {
            Some(t) => match t.element() {
                Some(el) => Some(el),
                None => {
                    self.diags.push(
                        Diagnostic::error("vprog::not_iterable", format!("cannot iterate over {t}"), source.span, format!("this is {t}"))
                            .with_help("comprehensions iterate over a List, Frames, TimedText, Detections, Tracks, Masks or a Clip"),
                    );
                    None
                }
            },
            None => None,
        };
        if self.scopes.resolve_quiet(&var.name).is_some() {
            self.diags.push(
                Diagnostic::error("vprog::shadowed", format!("`{}` is already defined", var.name), var.span, "shadows an existing name")
                    .with_help("give the element variable a name of its own"),
            );
            return None;
        }
        // The body and filter live in their own graph, with the element as a leaf.
        self.scopes.push_body(&var.name, var.span, elem.clone().unwrap_or(Type::Any));
        let body_l = self.expr(body);
        let filter_l = filter.map(|f| (self.expr(f), f.span));
        let var_used = self.scopes.element_used();
        let body_identity = matches!(&body.kind, ExprKind::Var(v) if *v == var.name);
        if let Some((Some(fl), span)) = &filter_l {
            if fl.ty() != &Type::Bool {
                self.diags.push(
                    Diagnostic::error(
                        "vprog::type_mismatch",
                        format!("a filter must be Bool, found {}", fl.ty()),
                        *span,
                        format!("this is {}", fl.ty()),
                    )
                    .with_help("filter with a condition such as `exists(...)` or `count(...) > 2`"),
                );
            }
        }
        if !var_used && elem.is_some() {
            self.diags.push(
                Diagnostic::warning(
                    "vprog::unused_element",
                    format!("`{}` is not used in the comprehension", var.name),
                    var.span,
                    "unused",
                )
                .with_help("the body computes the same value for every element"),
            );
        }
        let (Some(src), Some(_), Some(body_l)) = (src, elem, body_l) else {
            self.scopes.pop_body();
            return None;
        };
        if matches!(&filter_l, Some((None, _))) {
            self.scopes.pop_body();
            return None;
        }
        let body_ty = body_l.ty().clone();
        let body_out = self.materialize(body_l, body.span, &print_expr(body));
        let filter_node = filter_l.and_then(|(l, span)| l.map(|l| (l, span))).map(|(l, span)| self.materialize(l, span, "filter"));
        let (body_graph, captures) = self.scopes.pop_body();
        let src_ty = src_ty.unwrap_or(Type::Any);
        let (output, ty) = if body_identity && !matches!(src_ty, Type::List(_)) {
            let t = if src_ty == Type::Video { Type::Clip } else { src_ty.clone() };
            (MapOutput::Filtered(t.clone()), t)
        } else {
            (MapOutput::List, Type::list(body_ty))
        };
        let body_plan = Dataflow { graph: body_graph, output: body_out, filter: filter_node };
        let src_node = self.materialize(src, source.span, &print_expr(source));
        let node = self.scopes.add_node(Node {
            op: Op::Map { body: Box::new(body_plan), output },
            ty: ty.clone(),
            span: e.span,
            text: print_expr(e),
            bindings: vec![],
            merged: vec![],
        });
        self.scopes.add_edge(src_node, node, Slot::Source);
        for (i, outer) in captures.into_iter().enumerate() {
            self.scopes.add_edge(outer, node, Slot::Capture(i));
        }
        Some(Lowered::Node(node, ty))
    }
}

fn describe_input(i: Input) -> &'static str {
    match i {
        Input::Video => "video being asked about",
        Input::Question => "question text",
        Input::Options => "answer options",
    }
}

fn unary_symbol(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Not => "not",
        UnaryOp::Neg => "-",
    }
}

/// The value and type of a literal.
pub(crate) fn literal(l: &Literal) -> Lowered {
    match l {
        Literal::Int(v) => Lowered::Const(Value::Int(*v), Type::Int),
        Literal::Float(v) => Lowered::Const(Value::Number(*v), Type::Number),
        Literal::Str(s) => Lowered::Const(Value::text(s), Type::Text),
        Literal::Bool(b) => Lowered::Const(Value::Bool(*b), Type::Bool),
        Literal::Duration { millis, .. } => Lowered::Const(Value::Duration(*millis as f64 / 1000.0), Type::Duration),
        Literal::Timestamp { millis } => Lowered::Const(Value::Timestamp(*millis as f64 / 1000.0), Type::Timestamp),
    }
}

/// A root graph with nothing in it (used by scopes).
pub(crate) fn empty_graph() -> StableDiGraph<Node, Slot> {
    StableDiGraph::new()
}

/// Named-argument map type used while binding calls.
pub(crate) type ParamMap = BTreeMap<String, Value>;
