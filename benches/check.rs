//! Parse + check time against program size, up to the 1 MB cap, for the
//! programs that made the checker quadratic: one unused binding per line
//! (one warning each), one undefined name per line (one error each), and a
//! valid dependent chain. Target: ≤ 1 s for 1 MB.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Lines from `line(i)` until the program is about `bytes` long, then `answer`.
fn program(bytes: usize, line: impl Fn(usize) -> String, answer: &str) -> String {
    let mut src = String::with_capacity(bytes + 64);
    let mut i = 0;
    while src.len() + answer.len() + 32 < bytes {
        src.push_str(&line(i));
        src.push('\n');
        i += 1;
    }
    src.push_str(answer);
    src
}

fn bench(c: &mut Criterion) {
    let registry = vprog_modules::registry();
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    for kib in [64usize, 256, 1024] {
        let bytes = kib * 1024 - 1;
        let kinds = [
            ("unused_bindings", program(bytes, |i| format!("v{i} = 1"), "answer v0\n")),
            ("undefined_names", program(bytes, |i| format!("w{i} = u{i}"), "answer w0\n")),
            ("chain", program(bytes, |i| if i == 0 { "x0 = 1".into() } else { format!("x{i} = x{} + 1", i - 1) }, "answer 0\n")),
        ];
        for (name, src) in kinds {
            assert!(src.len() <= vprog_grammar::MAX_SOURCE_BYTES, "{name}: {} bytes", src.len());
            let out = vprog_runtime::check::check(&vprog_grammar::parse(&src).expect("parses"), &registry);
            assert!(!out.diagnostics.is_empty() || name == "chain", "{name}: no diagnostics");
            group.throughput(Throughput::Bytes(src.len() as u64));
            group.bench_with_input(BenchmarkId::new(name, format!("{kib}KiB")), &src, |b, src| {
                b.iter(|| {
                    let program = vprog_grammar::parse(src).expect("parses");
                    vprog_runtime::check::check(&program, &registry).diagnostics.len()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
