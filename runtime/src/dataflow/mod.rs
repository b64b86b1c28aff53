//! The logical plan: a program as a petgraph dataflow DAG.
//!
//! Nodes are steps (module calls, constants, inputs, lists and per-element
//! maps); edges carry values from producer to consumer and name the slot they
//! fill. The checker builds the plan, [`optimize`] rewrites it with named
//! passes, and the executor runs it.

mod fingerprint;
pub mod rules;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use petgraph::Direction;
use vprog_grammar::Span;

pub use fingerprint::fingerprints;
pub use rules::{optimize, OptimizerRule};

use crate::module::Module;
use crate::types::Type;
use crate::value::Value;

/// The implicit inputs of every program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Input {
    /// `video`: the video being asked about.
    Video,
    /// `question`: the question text.
    Question,
    /// `options`: the answer options.
    Options,
}

impl Input {
    /// The name used in programs.
    pub fn name(self) -> &'static str {
        match self {
            Input::Video => "video",
            Input::Question => "question",
            Input::Options => "options",
        }
    }

    /// Its static type.
    pub fn ty(self) -> Type {
        match self {
            Input::Video => Type::Video,
            Input::Question => Type::Text,
            Input::Options => Type::list(Type::Text),
        }
    }

    /// All implicit inputs.
    pub const ALL: [Input; 3] = [Input::Video, Input::Question, Input::Options];
}

/// How a map assembles its output.
#[derive(Debug, Clone, PartialEq)]
pub enum MapOutput {
    /// A list of the body's values.
    List,
    /// The kept elements, reassembled into the source's collection type
    /// (a filter: `[f for f in frames if ...]` is `Frames`).
    Filtered(Type),
}

/// What a node does.
#[derive(Clone)]
pub enum Op {
    /// An implicit input.
    Input(Input),
    /// A constant.
    Const(Value),
    /// A module call. Constant arguments are parameters; the others arrive on
    /// edges with [`Slot::Arg`] or [`Slot::Variadic`].
    Call {
        /// The module.
        module: Arc<dyn Module>,
        /// Constant arguments, defaults included.
        params: BTreeMap<String, Value>,
        /// Variadic arguments in order: constants, or `None` where an edge fills it.
        variadic: Vec<Option<Value>>,
    },
    /// A list built from edges with [`Slot::Item`].
    List,
    /// Applies `body` to each element of the edge with [`Slot::Source`].
    Map {
        /// The per-element plan: its `output` is the body, its `filter` the condition.
        body: Box<Dataflow>,
        /// How results are assembled.
        output: MapOutput,
    },
    /// Inside a map body: the current element.
    Element,
    /// Inside a map body: the i-th captured outer value (edge [`Slot::Capture`] of the map).
    Capture(usize),
}

impl Op {
    /// A short name for tables: the module name, or the node kind.
    pub fn name(&self) -> String {
        match self {
            Op::Input(i) => format!("input:{}", i.name()),
            Op::Const(_) => "const".into(),
            Op::Call { module, .. } => module.signature().name.to_string(),
            Op::List => "list".into(),
            Op::Map { .. } => "map".into(),
            Op::Element => "element".into(),
            Op::Capture(i) => format!("capture:{i}"),
        }
    }
}

/// Where an edge's value goes in its consumer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// A named module argument.
    Arg(String),
    /// The i-th variadic argument.
    Variadic(usize),
    /// The i-th list item.
    Item(usize),
    /// The collection a map iterates over.
    Source,
    /// The i-th value a map body captures.
    Capture(usize),
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slot::Arg(n) => f.write_str(n),
            Slot::Variadic(i) => write!(f, "#{i}"),
            Slot::Item(i) => write!(f, "[{i}]"),
            Slot::Source => f.write_str("source"),
            Slot::Capture(i) => write!(f, "capture{i}"),
        }
    }
}

/// A step with its static facts.
#[derive(Clone)]
pub struct Node {
    /// What it does.
    pub op: Op,
    /// Its checked output type.
    pub ty: Type,
    /// Where it was written.
    pub span: Span,
    /// Canonical source text of the expression.
    pub text: String,
    /// The names bound to it (several after identical steps are merged).
    pub bindings: Vec<String>,
    /// Spans of identical expressions merged into this node.
    pub merged: Vec<Span>,
}

/// A checked program (or map body) as a DAG.
#[derive(Clone)]
pub struct Dataflow {
    /// Steps and dataflow.
    pub graph: StableDiGraph<Node, Slot>,
    /// The node whose value is the result (the answer, or a map's body).
    pub output: NodeIndex,
    /// For map bodies: the node deciding whether an element is kept.
    pub filter: Option<NodeIndex>,
}

impl Dataflow {
    /// The producers feeding `node`, with their slots, in slot order.
    pub fn inputs(&self, node: NodeIndex) -> Vec<(Slot, NodeIndex)> {
        let mut v: Vec<(Slot, NodeIndex)> =
            self.graph.edges_directed(node, Direction::Incoming).map(|e| (e.weight().clone(), e.source())).collect();
        v.sort();
        v
    }

    /// Nodes in a deterministic topological order: among ready nodes, the one
    /// written first in the source goes first.
    pub fn topological_order(&self) -> Vec<NodeIndex> {
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, HashMap};
        let mut indegree: HashMap<NodeIndex, usize> =
            self.graph.node_indices().map(|n| (n, self.graph.edges_directed(n, Direction::Incoming).count())).collect();
        let mut ready: BinaryHeap<Reverse<(usize, usize)>> = BinaryHeap::new();
        for (n, d) in &indegree {
            if *d == 0 {
                ready.push(Reverse((self.graph[*n].span.start, n.index())));
            }
        }
        let mut order = Vec::with_capacity(indegree.len());
        while let Some(Reverse((_, i))) = ready.pop() {
            let n = NodeIndex::new(i);
            order.push(n);
            for succ in self.graph.neighbors_directed(n, Direction::Outgoing) {
                if let Some(d) = indegree.get_mut(&succ) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push(Reverse((self.graph[succ].span.start, succ.index())));
                    }
                }
            }
        }
        order
    }

    /// Number of steps, map bodies included.
    pub fn step_count(&self) -> usize {
        self.graph
            .node_weights()
            .map(|n| match &n.op {
                Op::Map { body, .. } => 1 + body.step_count(),
                _ => 1,
            })
            .sum()
    }

    /// Graphviz dot text of the plan (for `vprog check --dot`).
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
        self.write_dot(&mut out, "n");
        out.push_str("}\n");
        out
    }

    fn write_dot(&self, out: &mut String, prefix: &str) {
        for n in self.graph.node_indices() {
            let node = &self.graph[n];
            let label = format!("{}: {}\\n{}", node.op.name(), node.ty, node.text.replace('"', "\\\""));
            let _ = writeln!(out, "  {prefix}{} [label=\"{label}\"];", n.index());
            if let Op::Map { body, .. } = &node.op {
                let sub = format!("{prefix}{}_", n.index());
                let _ = writeln!(out, "  subgraph cluster_{sub} {{\n  label=\"for each element\";");
                body.write_dot(out, &sub);
                out.push_str("  }\n");
            }
        }
        for e in (&self.graph).edge_references() {
            let _ = writeln!(out, "  {prefix}{} -> {prefix}{} [label=\"{}\"];", e.source().index(), e.target().index(), e.weight());
        }
    }
}
