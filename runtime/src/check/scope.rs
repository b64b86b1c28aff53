//! Name resolution while checking: program bindings, implicit inputs and the
//! element variables of (nested) comprehensions. A map body is lowered into a
//! graph of its own; outer values it uses become numbered captures.

use std::collections::HashMap;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use vprog_grammar::Span;

use super::{empty_graph, Lowered};
use crate::dataflow::{Input, Node, Op, Slot};
use crate::types::Type;

struct Binding {
    value: Option<Lowered>,
    span: Span,
    used: bool,
}

struct Root {
    bindings: HashMap<String, Binding>,
    order: Vec<String>,
    inputs: HashMap<Input, NodeIndex>,
}

struct Body {
    var: String,
    elem_ty: Type,
    span: Span,
    element: Option<NodeIndex>,
    used: bool,
    captures: Vec<NodeIndex>,
    memo: HashMap<NodeIndex, NodeIndex>,
}

enum Kind {
    Root(Root),
    Body(Body),
}

struct Level {
    graph: StableDiGraph<Node, Slot>,
    kind: Kind,
}

/// The stack of scopes: the program at the bottom, one level per enclosing comprehension.
pub(crate) struct Scopes {
    levels: Vec<Level>,
}

impl Scopes {
    pub(crate) fn new() -> Scopes {
        Scopes {
            levels: vec![Level {
                graph: empty_graph(),
                kind: Kind::Root(Root { bindings: HashMap::new(), order: Vec::new(), inputs: HashMap::new() }),
            }],
        }
    }

    fn top(&mut self) -> &mut Level {
        let i = self.levels.len() - 1;
        &mut self.levels[i]
    }

    fn root(&mut self) -> &mut Root {
        match &mut self.levels[0].kind {
            Kind::Root(r) => r,
            Kind::Body(_) => unreachable!("level 0 is always the root"),
        }
    }

    pub(crate) fn add_node(&mut self, node: Node) -> NodeIndex {
        self.top().graph.add_node(node)
    }

    pub(crate) fn add_edge(&mut self, from: NodeIndex, to: NodeIndex, slot: Slot) {
        self.top().graph.add_edge(from, to, slot);
    }

    pub(crate) fn bind(&mut self, name: &str, span: Span, value: Option<Lowered>) {
        let root = self.root();
        root.order.push(name.to_string());
        root.bindings.insert(name.to_string(), Binding { value, span, used: false });
    }

    pub(crate) fn name_node(&mut self, node: NodeIndex, name: &str) {
        self.levels[0].graph[node].bindings.push(name.to_string());
    }

    pub(crate) fn binding_span(&self, name: &str) -> Option<Span> {
        match &self.levels[0].kind {
            Kind::Root(r) => r.bindings.get(name).map(|b| b.span),
            Kind::Body(_) => None,
        }
    }

    pub(crate) fn unused_bindings(&self) -> Vec<(String, Span)> {
        match &self.levels[0].kind {
            Kind::Root(r) => r
                .order
                .iter()
                .filter_map(|n| r.bindings.get(n).filter(|b| !b.used && b.value.is_some()).map(|b| (n.clone(), b.span)))
                .collect(),
            Kind::Body(_) => Vec::new(),
        }
    }

    /// Every name in scope: the implicit inputs, the program's bindings in
    /// order, then the element variables of the enclosing comprehensions.
    pub(crate) fn visible_names(&self) -> impl Iterator<Item = &str> {
        let inputs = Input::ALL.iter().map(|i| i.name());
        let levels = self.levels.iter().flat_map(|l| -> Box<dyn Iterator<Item = &str>> {
            match &l.kind {
                Kind::Root(r) => Box::new(r.order.iter().map(String::as_str)),
                Kind::Body(b) => Box::new(std::iter::once(b.var.as_str())),
            }
        });
        inputs.chain(levels)
    }

    /// Whether `name` is defined anywhere in scope (without marking it
    /// used), in constant time: the checker asks this once per undefined
    /// name, and a program can hold tens of thousands of both.
    pub(crate) fn resolve_quiet(&self, name: &str) -> Option<()> {
        let defined = Input::ALL.iter().any(|i| i.name() == name)
            || self.levels.iter().any(|l| match &l.kind {
                Kind::Root(r) => r.bindings.contains_key(name),
                Kind::Body(b) => b.var == name,
            });
        defined.then_some(())
    }

    pub(crate) fn push_body(&mut self, var: &str, span: Span, elem_ty: Type) {
        self.levels.push(Level {
            graph: empty_graph(),
            kind: Kind::Body(Body {
                var: var.to_string(),
                elem_ty,
                span,
                element: None,
                used: false,
                captures: Vec::new(),
                memo: HashMap::new(),
            }),
        });
    }

    pub(crate) fn element_used(&self) -> bool {
        match self.levels.last().map(|l| &l.kind) {
            Some(Kind::Body(b)) => b.used,
            _ => false,
        }
    }

    /// Pops a body level: its graph and the outer nodes it captures, in capture order.
    pub(crate) fn pop_body(&mut self) -> (StableDiGraph<Node, Slot>, Vec<NodeIndex>) {
        match self.levels.pop() {
            Some(Level { graph, kind: Kind::Body(b) }) => (graph, b.captures),
            Some(root) => {
                self.levels.push(root);
                (empty_graph(), Vec::new())
            }
            None => (empty_graph(), Vec::new()),
        }
    }

    pub(crate) fn into_root_graph(mut self) -> StableDiGraph<Node, Slot> {
        self.levels.truncate(1);
        self.levels.pop().map(|l| l.graph).unwrap_or_else(empty_graph)
    }

    /// Resolves a name: `Some(None)` for a name whose definition had errors
    /// (already reported), `None` for an unknown name.
    fn lookup(&mut self, name: &str) -> Option<(usize, Option<Lowered>)> {
        for lvl in (0..self.levels.len()).rev() {
            let level = &mut self.levels[lvl];
            match &mut level.kind {
                Kind::Body(b) if b.var == name => {
                    b.used = true;
                    let ty = b.elem_ty.clone();
                    let span = b.span;
                    let node = match b.element {
                        Some(n) => n,
                        None => {
                            let n = level.graph.add_node(Node {
                                op: Op::Element,
                                ty: ty.clone(),
                                span,
                                text: name.to_string(),
                                bindings: vec![],
                                merged: vec![],
                            });
                            if let Kind::Body(b) = &mut level.kind {
                                b.element = Some(n);
                            }
                            n
                        }
                    };
                    return Some((lvl, Some(Lowered::Node(node, ty))));
                }
                Kind::Body(_) => {}
                Kind::Root(r) => {
                    if let Some(b) = r.bindings.get_mut(name) {
                        b.used = true;
                        return Some((lvl, b.value.clone()));
                    }
                    let input = Input::ALL.into_iter().find(|i| i.name() == name)?;
                    let node = match r.inputs.get(&input) {
                        Some(n) => *n,
                        None => {
                            let n = level.graph.add_node(Node {
                                op: Op::Input(input),
                                ty: input.ty(),
                                span: Span::default(),
                                text: input.name().to_string(),
                                bindings: vec![],
                                merged: vec![],
                            });
                            if let Kind::Root(r) = &mut level.kind {
                                r.inputs.insert(input, n);
                            }
                            n
                        }
                    };
                    return Some((lvl, Some(Lowered::Node(node, input.ty()))));
                }
            }
        }
        None
    }

    /// Resolves `name` in the innermost scope, threading captures through
    /// enclosing comprehensions. `None` if unknown or if its definition failed
    /// to check (callers tell the two apart with [`Scopes::resolve_quiet`]).
    pub(crate) fn resolve(&mut self, name: &str) -> Option<Lowered> {
        let (lvl, lowered) = self.lookup(name)?;
        let Some(Lowered::Node(mut node, ty)) = lowered else {
            return lowered;
        };
        for l in lvl + 1..self.levels.len() {
            let level = &mut self.levels[l];
            let Kind::Body(b) = &mut level.kind else { continue };
            node = match b.memo.get(&node) {
                Some(inner) => *inner,
                None => {
                    let i = b.captures.len();
                    b.captures.push(node);
                    let inner = level.graph.add_node(Node {
                        op: Op::Capture(i),
                        ty: ty.clone(),
                        span: Span::default(),
                        text: name.to_string(),
                        bindings: vec![],
                        merged: vec![],
                    });
                    if let Kind::Body(b) = &mut level.kind {
                        b.memo.insert(node, inner);
                    }
                    inner
                }
            };
        }
        Some(Lowered::Node(node, ty))
    }
}
