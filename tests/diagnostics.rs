//! Golden diagnostics: every program in tests/diagnostics/ is malformed; its
//! rendered diagnostics (rustc style, no colour) and JSON form are compared
//! with the committed snapshots in tests/snapshots/.
//!
//! To review changes: `cargo insta review` (or `INSTA_UPDATE=always cargo test --test diagnostics`).

use vprog_grammar::Diagnostic;

fn diagnose(source: &str) -> Vec<Diagnostic> {
    let registry = vprog_modules::registry();
    match vprog_grammar::parse(source) {
        Err(d) => vec![*d],
        Ok(program) => vprog_runtime::check::check(&program, &registry).diagnostics,
    }
}

fn render(file: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for d in diagnostics {
        let report = d.clone().with_source(file, source);
        if let Err(e) = handler.render_report(&mut out, &report) {
            out.push_str(&format!("<render error: {e}>"));
        }
        out.push('\n');
    }
    out.push_str("--- json ---\n");
    let json: Vec<_> = diagnostics.iter().map(|d| d.to_json(file, source)).collect();
    out.push_str(&serde_json::to_string_pretty(&json).unwrap_or_default());
    out
}

#[test]
fn malformed_programs_get_golden_diagnostics() {
    let mut seen = 0;
    insta::glob!("diagnostics/*.vp", |path| {
        seen += 1;
        let source = std::fs::read_to_string(path).expect("readable test program");
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let diagnostics = diagnose(&source);
        if name.contains("warning") {
            assert!(diagnostics.iter().any(|d| !d.is_error()), "{name}: expected a warning");
            assert!(!diagnostics.iter().any(Diagnostic::is_error), "{name}: expected no error");
        } else {
            assert!(diagnostics.iter().any(Diagnostic::is_error), "{name}: a malformed program must get an error");
        }
        for d in &diagnostics {
            assert!(d.span().end <= source.len(), "{name}: span past the end of the source");
            assert!(d.help.is_some() || d.code == "vprog::syntax", "{name}: {} has no help text", d.code);
        }
        insta::assert_snapshot!(render(&name, &source, &diagnostics));
    });
    assert!(seen >= 40, "only {seen} malformed programs");
}

#[test]
fn every_example_checks_cleanly() {
    let registry = vprog_modules::registry();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "vp") {
            let source = std::fs::read_to_string(&path).expect("readable");
            let program = vprog_grammar::parse(&source).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
            let out = vprog_runtime::check::check(&program, &registry);
            assert!(out.diagnostics.is_empty(), "{}: {:?}", path.display(), out.diagnostics);
            n += 1;
        }
    }
    assert!(n >= 3);
}
