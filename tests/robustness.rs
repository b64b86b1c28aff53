//! No program text, however mangled, makes the parser or checker panic or
//! return spans outside the source. Mutants of every test and example program
//! are generated deterministically (the same idea as the cargo-fuzz target in
//! fuzz/, runnable on the stable toolchain in every test run).

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "==",
    "#",
    "\"",
    "\\",
    "answer",
    "for",
    "in",
    "if",
    "not",
    "and",
    "-",
    "5s",
    "01:02.5",
    "1e9",
    "é",
    "\n",
    " ",
    "sample(",
    "count(",
    "[f for f in ",
    "99999999999999999999",
    "\u{0}",
    "]]]]",
    "((((",
];

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(src: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 if !chars.is_empty() => {
                let end = (at + 1 + rng.below(6)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            1 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                chars.splice(at..at, tok.chars());
            }
            2 if chars.len() > 2 => {
                let j = rng.below(chars.len());
                let i = at.min(chars.len() - 1);
                chars.swap(i, j);
            }
            _ => {
                let seg: Vec<char> = chars.iter().skip(at).take(8).copied().collect();
                chars.splice(at..at, seg);
            }
        }
    }
    chars.into_iter().collect()
}

fn corpus() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["tests/diagnostics", "examples"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("corpus dir").flatten() {
            if entry.path().extension().is_some_and(|e| e == "vp") {
                out.push(std::fs::read_to_string(entry.path()).expect("readable"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn mutated_programs_never_panic_and_spans_stay_in_bounds() {
    let registry = vprog_modules::registry();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut checked = 0;
    let mut errors = 0;
    for src in corpus() {
        for _ in 0..200 {
            let m = mutate(&src, &mut rng);
            let diags = match vprog_grammar::parse(&m) {
                Err(d) => vec![*d],
                Ok(p) => vprog_runtime::check::check(&p, &registry).diagnostics,
            };
            for d in &diags {
                for l in &d.labels {
                    assert!(l.span.start <= l.span.end && l.span.end <= m.len(), "span {:?} outside {} bytes for {m:?}", l.span, m.len());
                }
                let j = d.to_json("m.vp", &m);
                assert!(j.line >= 1 && j.column >= 1);
            }
            errors += usize::from(diags.iter().any(|d| d.is_error()));
            checked += 1;
        }
    }
    assert!(checked > 5_000, "{checked}");
    // Most random mutations break a program; if none did, the mutator is broken.
    assert!(errors > checked / 2, "{errors} of {checked}");
}
