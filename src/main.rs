//! `vprog`: the command-line front end.

#[macro_use]
mod output;
mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc reuses freed large blocks; glibc's malloc maps and zeroes fresh
/// pages for every multi-megabyte tensor, which cost a 1,000-token language
/// model prefill 40% of its time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only on a terminal; control characters in logged text escaped.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| output::LogWriter)
        .with_ansi(ansi)
        .with_ansi_sanitization(true)
        .with_target(false)
        .init();
    match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vprog: error: {}", vprog_grammar::escape_controls(&output::chain(&e)));
            ExitCode::from(2)
        }
    }
}
