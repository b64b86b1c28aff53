//! Structural fingerprints of plan nodes.
//!
//! A node's fingerprint hashes what it does (module, version, constant
//! parameters) and the fingerprints of its inputs, Merkle style. With the
//! default leaves it identifies identical steps (for merging); with the run's
//! input hashes as leaves it is the content-addressed cache key.

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

use super::{Dataflow, Input, MapOutput, Op, Slot};

/// Fingerprints for every node of `plan`. `leaf` gives the hash of inputs,
/// elements and captures; returning `None` uses a structural placeholder.
pub fn fingerprints(plan: &Dataflow, leaf: &dyn Fn(&Op) -> Option<blake3::Hash>) -> HashMap<NodeIndex, blake3::Hash> {
    let mut out: HashMap<NodeIndex, blake3::Hash> = HashMap::with_capacity(plan.graph.node_count());
    for n in plan.topological_order() {
        let node = &plan.graph[n];
        let mut h = blake3::Hasher::new();
        match &node.op {
            op @ (Op::Input(_) | Op::Element | Op::Capture(_)) => match leaf(op) {
                Some(k) => {
                    h.update(b"leaf");
                    h.update(k.as_bytes());
                }
                None => {
                    h.update(b"placeholder");
                    h.update(placeholder(op).as_bytes());
                }
            },
            Op::Const(v) => {
                h.update(b"const");
                h.update(v.content_hash().as_bytes());
            }
            Op::Call { module, params, variadic } => {
                let sig = module.signature();
                h.update(b"call");
                h.update(sig.name.as_bytes());
                h.update(b"@");
                h.update(sig.version.as_bytes());
                for (name, v) in params {
                    h.update(name.as_bytes());
                    h.update(b"=");
                    h.update(v.content_hash().as_bytes());
                }
                for (i, v) in variadic.iter().enumerate() {
                    if let Some(v) = v {
                        h.update(format!("#{i}=").as_bytes());
                        h.update(v.content_hash().as_bytes());
                    }
                }
            }
            Op::List => {
                h.update(b"list");
            }
            Op::Map { body, output } => {
                h.update(b"map");
                if let MapOutput::Filtered(t) = output {
                    h.update(t.to_string().as_bytes());
                }
                let inner = fingerprints(body, &|_| None);
                h.update(inner.get(&body.output).map(|k| *k.as_bytes()).unwrap_or_default().as_slice());
                if let Some(f) = body.filter {
                    h.update(b"if");
                    h.update(inner.get(&f).map(|k| *k.as_bytes()).unwrap_or_default().as_slice());
                }
            }
        }
        for (slot, src) in plan.inputs(n) {
            h.update(slot_bytes(&slot).as_bytes());
            if let Some(k) = out.get(&src) {
                h.update(k.as_bytes());
            }
        }
        out.insert(n, h.finalize());
    }
    out
}

fn placeholder(op: &Op) -> String {
    match op {
        Op::Input(Input::Video) => "video".into(),
        Op::Input(i) => i.name().into(),
        Op::Element => "element".into(),
        Op::Capture(i) => format!("capture{i}"),
        _ => String::new(),
    }
}

fn slot_bytes(slot: &Slot) -> String {
    format!("<{slot:?}>")
}
