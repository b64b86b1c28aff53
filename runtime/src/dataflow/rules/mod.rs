//! Rewrite passes over a [`Dataflow`], run in a fixed order.

mod drop_dead;
mod merge_identical;

pub use drop_dead::DropDeadSteps;
pub use merge_identical::MergeIdenticalSteps;

use super::{Dataflow, Op};

/// One named rewrite of a plan.
pub trait OptimizerRule {
    /// The rule's name (shown with `vprog check --explain`).
    fn name(&self) -> &'static str;

    /// Rewrites the plan in place; returns how many nodes it changed.
    fn rewrite(&self, plan: &mut Dataflow) -> usize;
}

/// The rules in the order they run:
/// 1. merge identical steps, so each distinct computation appears once;
/// 2. drop steps the answer does not depend on (after merging, so a merged
///    step used anywhere survives).
pub fn default_rules() -> Vec<Box<dyn OptimizerRule>> {
    vec![Box::new(MergeIdenticalSteps), Box::new(DropDeadSteps)]
}

/// Runs every default rule over the plan and, recursively, over map bodies.
/// Returns (rule name, nodes changed) per rule.
pub fn optimize(plan: &mut Dataflow) -> Vec<(&'static str, usize)> {
    let mut report = Vec::new();
    for rule in default_rules() {
        let changed = apply(rule.as_ref(), plan);
        report.push((rule.name(), changed));
    }
    report
}

fn apply(rule: &dyn OptimizerRule, plan: &mut Dataflow) -> usize {
    let mut changed = 0;
    let maps: Vec<_> = plan.graph.node_indices().filter(|n| matches!(plan.graph[*n].op, Op::Map { .. })).collect();
    for n in maps {
        if let Op::Map { body, .. } = &mut plan.graph[n].op {
            changed += apply(rule, body);
        }
    }
    changed + rule.rewrite(plan)
}
