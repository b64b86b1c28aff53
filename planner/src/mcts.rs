//! Monte Carlo Tree Search over partial programs, after DoraemonGPT.
//!
//! A node is a program prefix: the statements on the path from the root.
//! Each iteration
//! 1. **selects** a node from the root by UCT among children, descending
//!    while a node has all the children it may have;
//! 2. **expands** it with a next step the environment proposes, different
//!    from the children already tried;
//! 3. **rolls out** from the new node: the environment completes the
//!    program, runs it and scores it in `[0, 1]`;
//! 4. **backpropagates** the reward to the root, multiplied by
//!    [`SearchConfig::discount`] at each level up, so a step is credited less
//!    the further the outcome lies below it.
//!
//! The search is generic over an [`Environment`], so the same code runs the
//! planner (steps from a language model, rollouts through the runtime) and
//! synthetic tasks in the tests.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A proposed next step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The statement (one line of the program).
    pub text: String,
    /// Whether it ends the program (an `answer` line).
    pub terminal: bool,
}

/// What a rollout found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rollout {
    /// The whole program that was run.
    pub program: String,
    /// Reward in `[0, 1]`.
    pub reward: f64,
    /// The answer, as a key votes are counted by; `None` when there was none.
    pub answer: Option<String>,
    /// Confidence in the answer, in `[0, 1]`.
    pub confidence: f64,
    /// Why there is no answer, when there is none.
    pub error: Option<String>,
    /// Anything else the environment records (executions, cache hits, ...).
    pub details: serde_json::Value,
}

/// Where the search gets steps and rewards.
#[allow(async_fn_in_trait)]
pub trait Environment {
    /// A next step after `prefix`, different from every step in `tried`;
    /// `None` when no new step can be found. `draw` counts the proposals
    /// made so far (a seed for the proposer).
    async fn expand(&mut self, prefix: &[String], tried: &[String], draw: u64) -> Option<Step>;

    /// Completes the program after `prefix` (already complete when its last
    /// step is terminal), runs it and scores it.
    async fn rollout(&mut self, prefix: &[String], terminal: bool, draw: u64) -> Rollout;

    /// Whether the budget is spent (checked before every iteration).
    fn exhausted(&self) -> bool;
}

/// Search settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchConfig {
    /// Most iterations (each is at most one expansion and one rollout).
    pub iterations: usize,
    /// Most children per node.
    pub max_children: usize,
    /// Deepest program, in statements.
    pub max_depth: usize,
    /// UCT exploration constant.
    pub exploration: f64,
    /// Reward factor per level of backpropagation.
    pub discount: f64,
}

impl Default for SearchConfig {
    fn default() -> SearchConfig {
        SearchConfig { iterations: 12, max_children: 3, max_depth: 8, exploration: 1.0, discount: 0.9 }
    }
}

/// A node of the search tree, as the trace shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// Index in [`Tree::nodes`].
    pub id: usize,
    /// The parent's index; `None` for the root.
    pub parent: Option<usize>,
    /// The step this node adds (empty for the root).
    pub step: String,
    /// Statements from the root.
    pub depth: usize,
    /// Whether the step ends the program.
    pub terminal: bool,
    /// Rollouts through this node.
    pub visits: usize,
    /// Sum of the (discounted) rewards backpropagated here.
    pub value: f64,
    /// Children, in the order they were added.
    pub children: Vec<usize>,
    /// Whether no further child could be proposed.
    pub exhausted: bool,
    /// Rollouts started from this node (indices into [`Tree::rollouts`]).
    pub rollouts: Vec<usize>,
}

impl Node {
    /// The root: the empty program.
    pub fn root() -> Node {
        Node {
            id: 0,
            parent: None,
            step: String::new(),
            depth: 0,
            terminal: false,
            visits: 0,
            value: 0.0,
            children: Vec::new(),
            exhausted: false,
            rollouts: Vec::new(),
        }
    }

    /// Mean reward of the rollouts through this node.
    pub fn mean(&self) -> f64 {
        if self.visits == 0 {
            0.0
        } else {
            self.value / self.visits as f64
        }
    }
}

/// An answer's share of the vote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vote {
    /// The answer key.
    pub answer: String,
    /// Sum of the confidences of the rollouts giving it.
    pub weight: f64,
    /// How many rollouts gave it.
    pub rollouts: usize,
}

/// The whole search: every node, every rollout, the vote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tree {
    /// Nodes; the root is 0.
    pub nodes: Vec<Node>,
    /// Rollouts in the order they ran.
    pub rollouts: Vec<Rollout>,
    /// Iterations run.
    pub iterations: usize,
    /// Why the search stopped.
    pub stopped: Cow<'static, str>,
}

impl Tree {
    /// The statements from the root to `node`.
    pub fn prefix(&self, node: usize) -> Vec<String> {
        let mut steps = Vec::new();
        let mut n = Some(node);
        while let Some(i) = n {
            if self.nodes[i].parent.is_some() {
                steps.push(self.nodes[i].step.clone());
            }
            n = self.nodes[i].parent;
        }
        steps.reverse();
        steps
    }

    /// Answers weighted by confidence, heaviest first (ties: more rollouts,
    /// then the answer text).
    pub fn votes(&self) -> Vec<Vote> {
        let mut by: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for r in &self.rollouts {
            if let Some(a) = &r.answer {
                let e = by.entry(a.as_str()).or_default();
                e.0 += r.confidence;
                e.1 += 1;
            }
        }
        let mut votes: Vec<Vote> = by.into_iter().map(|(a, (w, n))| Vote { answer: a.to_string(), weight: w, rollouts: n }).collect();
        votes.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(b.rollouts.cmp(&a.rollouts)).then(a.answer.cmp(&b.answer)));
        votes
    }

    /// The winning answer and the best rollout giving it (highest reward).
    pub fn best(&self) -> Option<(Vote, &Rollout)> {
        let vote = self.votes().into_iter().next()?;
        let rollout = self
            .rollouts
            .iter()
            .filter(|r| r.answer.as_deref() == Some(vote.answer.as_str()))
            .max_by(|a, b| a.reward.total_cmp(&b.reward))?;
        Some((vote, rollout))
    }
}

/// Runs the search.
pub async fn search<E: Environment>(env: &mut E, config: &SearchConfig) -> Tree {
    let mut tree = Tree { nodes: vec![Node::root()], rollouts: Vec::new(), iterations: 0, stopped: "iterations".into() };
    let mut draws = 0u64;
    while tree.iterations < config.iterations {
        if env.exhausted() {
            tree.stopped = "budget".into();
            break;
        }
        let Some(mut node) = select(&tree, config) else {
            tree.stopped = "tree exhausted".into();
            break;
        };
        tree.iterations += 1;
        let expandable = {
            let n = &tree.nodes[node];
            !n.terminal && !n.exhausted && n.children.len() < config.max_children && n.depth < config.max_depth
        };
        if expandable {
            let prefix = tree.prefix(node);
            let tried: Vec<String> = tree.nodes[node].children.iter().map(|&c| tree.nodes[c].step.clone()).collect();
            draws += 1;
            match env.expand(&prefix, &tried, draws).await {
                Some(step) if !tried.contains(&step.text) => {
                    let id = tree.nodes.len();
                    let depth = tree.nodes[node].depth + 1;
                    tree.nodes.push(Node {
                        id,
                        parent: Some(node),
                        step: step.text,
                        depth,
                        terminal: step.terminal,
                        visits: 0,
                        value: 0.0,
                        children: Vec::new(),
                        exhausted: false,
                        rollouts: Vec::new(),
                    });
                    tree.nodes[node].children.push(id);
                    node = id;
                }
                _ => {
                    tree.nodes[node].exhausted = true;
                    // A node with no children to descend into is rolled out itself.
                    if !tree.nodes[node].children.is_empty() {
                        continue;
                    }
                }
            }
        }
        let prefix = tree.prefix(node);
        draws += 1;
        let rollout = env.rollout(&prefix, tree.nodes[node].terminal, draws).await;
        let reward = rollout.reward.clamp(0.0, 1.0);
        tree.nodes[node].rollouts.push(tree.rollouts.len());
        tree.rollouts.push(rollout);
        let mut r = reward;
        let mut n = Some(node);
        while let Some(i) = n {
            tree.nodes[i].visits += 1;
            tree.nodes[i].value += r;
            r *= config.discount;
            n = tree.nodes[i].parent;
        }
    }
    tree
}

/// The node to work on: from the root, descend by UCT while the node has all
/// the children it may get. `None` when every path is used up.
fn select(tree: &Tree, config: &SearchConfig) -> Option<usize> {
    let mut node = 0;
    loop {
        let n = &tree.nodes[node];
        let can_grow = !n.terminal && !n.exhausted && n.children.len() < config.max_children && n.depth < config.max_depth;
        if can_grow {
            return Some(node);
        }
        let open: Vec<usize> = n.children.iter().copied().filter(|&c| !used_up(tree, c, config)).collect();
        if open.is_empty() {
            // A leaf that cannot grow is rolled out again only if it never was.
            return (n.visits == 0).then_some(node);
        }
        let parent_visits = (n.visits.max(1) as f64).ln();
        node = *open.iter().max_by(|&&a, &&b| uct(tree, a, parent_visits, config).total_cmp(&uct(tree, b, parent_visits, config)))?;
    }
}

fn uct(tree: &Tree, node: usize, ln_parent: f64, config: &SearchConfig) -> f64 {
    let n = &tree.nodes[node];
    if n.visits == 0 {
        return f64::INFINITY;
    }
    n.mean() + config.exploration * (ln_parent / n.visits as f64).sqrt()
}

/// Whether nothing more can be learnt below `node`: it cannot grow and every
/// child is used up (a terminal leaf is used up once rolled out).
fn used_up(tree: &Tree, node: usize, config: &SearchConfig) -> bool {
    let n = &tree.nodes[node];
    let can_grow = !n.terminal && !n.exhausted && n.children.len() < config.max_children && n.depth < config.max_depth;
    if can_grow {
        return false;
    }
    if n.children.is_empty() {
        return n.visits > 0;
    }
    n.children.iter().all(|&c| used_up(tree, c, config))
}
