//! `vprog check`: static diagnostics only.

use std::process::ExitCode;

use crate::cli::CheckArgs;

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let registry = super::plugin::registry(&args.plugins)?;
    let mut failed = false;
    let mut json = Vec::new();
    for path in &args.programs {
        let source = super::read_source(path)?;
        let file = path.display().to_string();
        let vprog_runtime::check::CheckedSource { diagnostics, plan, .. } = vprog_runtime::check::check_source(&source, &registry);
        failed |= diagnostics.iter().any(|d| d.is_error());
        if args.json {
            let index = vprog_grammar::LineIndex::new(&source);
            json.extend(diagnostics.iter().map(|d| d.to_json_indexed(&file, &index)));
        } else {
            super::print_diagnostics(&file, &source, &diagnostics);
            if let (true, Some(mut plan)) = (args.dot, plan) {
                vprog_runtime::dataflow::optimize(&mut plan);
                out!("{}", plan.to_dot());
            } else if !diagnostics.iter().any(|d| d.is_error()) {
                errln!("{file}: ok");
            }
        }
    }
    if args.json {
        crate::output::print_json(&json)?;
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
