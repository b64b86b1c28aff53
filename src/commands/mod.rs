//! One file per subcommand; shared loading and rendering helpers here.

mod ask;
mod check;
mod eval;
mod fmt;
mod llm;
mod models;
mod modules;
mod plan;
mod plugin;
mod report;
mod run;
mod session;
mod trace;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use vprog_grammar::Diagnostic;

use crate::cli::Command;

/// Runs a subcommand.
pub fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(a) => check::run(a),
        Command::Run(a) => run::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Ask(a) => ask::run(a),
        Command::PlanEval(a) => plan::eval(a),
        Command::Eval(a) => eval::eval(a),
        Command::EvalSummary(a) => eval::summary(a),
        Command::Calibrate(a) => eval::calibrate_cmd(a),
        Command::Trace { command } => trace::run(command),
        Command::Report(a) => report::run(a),
        Command::Modules(a) => modules::run(a),
        Command::Fmt(a) => fmt::run(a),
        Command::Models { command } => models::run(command),
        Command::Plugin { command } => plugin::run(command),
    }
}

/// Cancels `interrupt` on the first Ctrl-C or SIGTERM, so the run stops its
/// steps and writes its trace; a second signal exits at once (status 130).
pub fn cancel_on_signals(rt: &tokio::runtime::Runtime, interrupt: vprog_runtime::CancellationToken) {
    let first = || errln!("vprog: interrupted: stopping the steps in flight and writing the trace (interrupt again to quit at once)");
    vprog_runtime::exec::interrupt::cancel_on_signals(rt, interrupt, first, || std::process::exit(130));
}

/// Reads a program file.
pub fn read_source(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read program {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("program {} is not UTF-8 text", path.display()))
}

/// Diagnostics printed per file; the rest are counted (`check --json` lists all).
const MAX_PRINTED_DIAGNOSTICS: usize = 50;

/// Prints diagnostics rustc-style to stderr: the first
/// [`MAX_PRINTED_DIAGNOSTICS`], then a count of the rest.
pub fn print_diagnostics(file: &str, source: &str, diagnostics: &[Diagnostic]) {
    for d in diagnostics.iter().take(MAX_PRINTED_DIAGNOSTICS) {
        // `with_source` escapes what the diagnostic shows; the report itself
        // is printed raw to keep miette's colours.
        let report = miette::Report::new(d.clone().with_source(file, source));
        eprintln!("{report:?}");
    }
    for line in vprog_grammar::diagnostics_footer(file, diagnostics, MAX_PRINTED_DIAGNOSTICS) {
        errln!("{line}");
    }
}
