//! Merges steps that compute the same thing (same module, version,
//! parameters and inputs) so they run once.

use std::collections::HashMap;

use petgraph::visit::EdgeRef;
use petgraph::Direction;

use super::OptimizerRule;
use crate::dataflow::{fingerprints, Dataflow};

/// Common-subexpression elimination over the DAG.
pub struct MergeIdenticalSteps;

impl OptimizerRule for MergeIdenticalSteps {
    fn name(&self) -> &'static str {
        "merge_identical_steps"
    }

    fn rewrite(&self, plan: &mut Dataflow) -> usize {
        let prints = fingerprints(plan, &|_| None);
        let mut keep: HashMap<blake3::Hash, petgraph::stable_graph::NodeIndex> = HashMap::new();
        let mut merged = 0;
        for n in plan.topological_order() {
            let Some(fp) = prints.get(&n) else { continue };
            let Some(&survivor) = keep.get(fp) else {
                keep.insert(*fp, n);
                continue;
            };
            // Re-point n's consumers at the survivor, keep n's names, drop n.
            let outgoing: Vec<_> = plan.graph.edges_directed(n, Direction::Outgoing).map(|e| (e.target(), e.weight().clone())).collect();
            for (target, slot) in outgoing {
                plan.graph.add_edge(survivor, target, slot);
            }
            let gone = plan.graph.remove_node(n);
            if let Some(gone) = gone {
                let s = &mut plan.graph[survivor];
                s.bindings.extend(gone.bindings);
                s.merged.push(gone.span);
                s.merged.extend(gone.merged);
            }
            if plan.output == n {
                plan.output = survivor;
            }
            if plan.filter == Some(n) {
                plan.filter = Some(survivor);
            }
            merged += 1;
        }
        merged
    }
}
