//! `vprog report`: one self-contained HTML page per trace.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::ReportArgs;

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let html = vprog_runtime::trace::report::render_report(&args.dir)?;
    vprog_runtime::trace::atomic_write(&args.output, html.as_bytes()).with_context(|| format!("cannot write {}", args.output.display()))?;
    errln!("wrote {} ({} KiB)", args.output.display(), html.len() / 1024);
    Ok(ExitCode::SUCCESS)
}
