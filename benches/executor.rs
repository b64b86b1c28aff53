//! Executor overhead: synthetic programs of 1,000 trivial steps: a dependent
//! chain and independent steps of the `+`/`*` operators (which run inline),
//! and a chain of `count` calls over small lists (500 lists + 500 tasks).
//! Target: under 20 µs per step.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::RunInputs;

const STEPS: usize = 1000;

fn chain() -> String {
    let mut src = String::from("x0 = 0 + 1\n");
    for i in 1..STEPS {
        src.push_str(&format!("x{i} = x{} + {i}\n", i - 1));
    }
    src.push_str(&format!("answer x{}\n", STEPS - 1));
    src
}

/// The same chain through `count`, which is not inline: every step is a task
/// of its own (and goes through the cache lookup path).
fn chain_of_tasks() -> String {
    let mut src = String::from("x0 = count([0])\n");
    for i in 1..STEPS / 2 {
        src.push_str(&format!("x{i} = count([x{}, {i}])\n", i - 1));
    }
    src.push_str(&format!("answer x{}\n", STEPS / 2 - 1));
    src
}

fn wide() -> String {
    // STEPS - 1 independent additions, folded pairwise by a final list.
    let mut src = String::new();
    for i in 0..STEPS - 1 {
        src.push_str(&format!("y{i} = {i} * 2\n"));
    }
    let all: Vec<String> = (0..STEPS - 1).map(|i| format!("y{i}")).collect();
    src.push_str(&format!("answer count([{}])\n", all.join(", ")));
    src
}

fn bench(c: &mut Criterion) {
    let rt = common::runtime();
    let mut group = c.benchmark_group("executor_overhead");
    group.throughput(Throughput::Elements(STEPS as u64));
    for (name, src) in [("chain", chain()), ("wide", wide()), ("chain_of_tasks", chain_of_tasks())] {
        let plan = common::plan(&src);
        assert!(plan.step_count() >= STEPS, "{name}: {} steps", plan.step_count());
        group.bench_with_input(BenchmarkId::new("1000_steps", name), &plan, |b, plan| {
            b.iter(|| common::run(&rt, plan, &RunInputs::default(), Cache::disabled()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
