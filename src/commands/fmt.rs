//! `vprog fmt`: the canonical form of a program.

use std::process::ExitCode;

use crate::cli::FmtArgs;

pub fn run(args: FmtArgs) -> anyhow::Result<ExitCode> {
    let source = super::read_source(&args.program)?;
    let program = match vprog_grammar::parse(&source) {
        Ok(p) => p,
        Err(d) => {
            super::print_diagnostics(&args.program.display().to_string(), &source, &[*d]);
            return Ok(ExitCode::from(1));
        }
    };
    let canonical = vprog_grammar::print_program(&program);
    if args.check {
        if canonical != source {
            errln!("{}: not in canonical form (run `vprog fmt` to see it)", args.program.display());
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    out!("{canonical}");
    Ok(ExitCode::SUCCESS)
}
