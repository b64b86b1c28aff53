//! Removes steps the result does not depend on.

use std::collections::HashSet;

use petgraph::Direction;

use super::OptimizerRule;
use crate::dataflow::Dataflow;

/// Dead-step elimination: keeps only ancestors of the output (and filter).
pub struct DropDeadSteps;

impl OptimizerRule for DropDeadSteps {
    fn name(&self) -> &'static str {
        "drop_dead_steps"
    }

    fn rewrite(&self, plan: &mut Dataflow) -> usize {
        let mut live = HashSet::new();
        let mut stack: Vec<_> = std::iter::once(plan.output).chain(plan.filter).collect();
        while let Some(n) = stack.pop() {
            if live.insert(n) {
                stack.extend(plan.graph.neighbors_directed(n, Direction::Incoming));
            }
        }
        let dead: Vec<_> = plan.graph.node_indices().filter(|n| !live.contains(n)).collect();
        for n in &dead {
            plan.graph.remove_node(*n);
        }
        dead.len()
    }
}
