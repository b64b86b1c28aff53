//! Fuzz target: any bytes through the parser and the checker.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let registry = vprog_modules::registry();
    match vprog_grammar::parse(src) {
        Err(d) => assert!(d.span().end <= src.len()),
        Ok(program) => {
            let out = vprog_runtime::check::check(&program, &registry);
            for d in &out.diagnostics {
                assert!(d.span().end <= src.len());
            }
            // The canonical printer must round-trip what parsed.
            let printed = vprog_grammar::print_program(&program);
            let again = vprog_grammar::parse(&printed).expect("canonical form parses");
            assert_eq!(again.without_spans(), program.without_spans());
        }
    }
});
