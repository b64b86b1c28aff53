//! MCTS on a synthetic task whose best program is known: programs are three
//! steps, each one of four; a rollout completes a prefix at random and is
//! rewarded by how many leading steps match the best program. With the same
//! budget of rollouts, MCTS must find the best program more often than
//! sampling whole programs at random.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use vprog_planner::mcts::{search, Environment, Rollout, SearchConfig, Step, Tree};

const STEPS: [&str; 4] = ["a", "b", "c", "d"];
const DEPTH: usize = 3;

struct Synthetic {
    best: Vec<String>,
    rng: ChaCha8Rng,
    rollouts: usize,
    budget: usize,
}

impl Synthetic {
    fn new(seed: u64, budget: usize) -> Synthetic {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let best = (0..DEPTH).map(|_| STEPS[rng.random_range(0..STEPS.len())].to_string()).collect();
        Synthetic { best, rng, rollouts: 0, budget }
    }

    fn random_step(&mut self) -> String {
        STEPS[self.rng.random_range(0..STEPS.len())].to_string()
    }

    fn score(&mut self, program: Vec<String>) -> Rollout {
        self.rollouts += 1;
        let matching = program.iter().zip(&self.best).take_while(|(a, b)| a == b).count();
        let reward = matching as f64 / DEPTH as f64;
        Rollout {
            program: program.join(" "),
            reward,
            answer: Some(program.join(" ")),
            confidence: reward,
            error: None,
            details: serde_json::Value::Null,
        }
    }
}

impl Environment for Synthetic {
    async fn expand(&mut self, prefix: &[String], tried: &[String], _draw: u64) -> Option<Step> {
        let untried: Vec<&str> = STEPS.iter().copied().filter(|s| !tried.iter().any(|t| t == s)).collect();
        if untried.is_empty() {
            return None;
        }
        let pick = untried[self.rng.random_range(0..untried.len())];
        Some(Step { text: pick.to_string(), terminal: prefix.len() + 1 == DEPTH })
    }

    async fn rollout(&mut self, prefix: &[String], _terminal: bool, _draw: u64) -> Rollout {
        let mut program = prefix.to_vec();
        while program.len() < DEPTH {
            let s = self.random_step();
            program.push(s);
        }
        self.score(program)
    }

    fn exhausted(&self) -> bool {
        self.rollouts >= self.budget
    }
}

fn found(tree: &Tree, best: &[String]) -> bool {
    tree.rollouts.iter().any(|r| r.program == best.join(" "))
}

const BUDGET: usize = 16;
const TRIALS: u64 = 200;

#[tokio::test]
async fn mcts_finds_the_best_program_more_often_than_random_sampling() {
    let config = SearchConfig { iterations: 1000, max_children: STEPS.len(), max_depth: DEPTH, exploration: 0.5, discount: 0.9 };
    let (mut mcts_hits, mut random_hits, mut mcts_votes_right) = (0, 0, 0);
    for seed in 0..TRIALS {
        let mut env = Synthetic::new(seed, BUDGET);
        let tree = search(&mut env, &config).await;
        assert!(tree.rollouts.len() <= BUDGET, "the budget bounds rollouts");
        if found(&tree, &env.best) {
            mcts_hits += 1;
        }
        if tree.best().is_some_and(|(vote, _)| vote.answer == env.best.join(" ")) {
            mcts_votes_right += 1;
        }

        let mut env = Synthetic::new(seed, BUDGET);
        let mut any = false;
        for _ in 0..BUDGET {
            let program: Vec<String> = (0..DEPTH).map(|_| env.random_step()).collect();
            any |= env.score(program).reward >= 1.0;
        }
        random_hits += usize::from(any);
    }
    let (m, r) = (mcts_hits as f64 / TRIALS as f64, random_hits as f64 / TRIALS as f64);
    eprintln!(
        "best program found within {BUDGET} rollouts: MCTS {m:.2}, random sampling {r:.2}; MCTS vote right {mcts_votes_right}/{TRIALS}"
    );
    // Random sampling finds one of 64 programs in 16 draws 22% of the time.
    assert!((0.12..0.35).contains(&r), "random sampling rate {r} is off its expectation (0.22)");
    assert!(m > r + 0.2, "MCTS ({m}) should beat random sampling ({r}) clearly");
    assert!(mcts_votes_right as f64 >= 0.5 * mcts_hits as f64, "once found, the best program should usually win the vote");
}

#[tokio::test]
async fn the_tree_records_visits_rewards_and_discounted_backpropagation() {
    let config = SearchConfig { iterations: 1000, max_children: STEPS.len(), max_depth: DEPTH, exploration: 0.5, discount: 0.5 };
    let mut env = Synthetic::new(7, 8);
    let tree = search(&mut env, &config).await;
    assert_eq!(tree.rollouts.len(), 8);
    assert_eq!(tree.stopped, "budget");
    // Every rollout passed through the root once.
    assert_eq!(tree.nodes[0].visits, 8);
    for n in &tree.nodes[1..] {
        let parent = &tree.nodes[n.parent.expect("non-root nodes have parents")];
        assert!(parent.children.contains(&n.id));
        assert_eq!(n.depth, parent.depth + 1);
        assert!(n.visits <= parent.visits);
        // Children carry distinct steps.
        let steps: Vec<&str> = parent.children.iter().map(|&c| tree.nodes[c].step.as_str()).collect();
        assert_eq!(steps.iter().filter(|s| **s == n.step).count(), 1);
    }
    // The root's value is each rollout's reward discounted by its depth.
    let mut expected = 0.0;
    for (i, r) in tree.rollouts.iter().enumerate() {
        let node = tree.nodes.iter().find(|n| n.rollouts.contains(&i)).expect("every rollout belongs to a node");
        expected += r.reward * 0.5f64.powi(node.depth as i32);
    }
    assert!((tree.nodes[0].value - expected).abs() < 1e-9, "root value {} vs {expected}", tree.nodes[0].value);
}

#[tokio::test]
async fn an_exhausted_space_ends_the_search_early() {
    // Depth 1 with four steps: after four expansions nothing is left to try.
    let config = SearchConfig { iterations: 100, max_children: STEPS.len(), max_depth: 1, exploration: 1.0, discount: 0.9 };
    let mut env = Synthetic::new(3, 1000);
    let tree = search(&mut env, &config).await;
    assert_eq!(tree.stopped, "tree exhausted");
    assert!(tree.iterations <= 6, "{} iterations", tree.iterations);
    assert_eq!(tree.nodes[0].children.len(), 4);
}
