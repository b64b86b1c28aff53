//! `vprog report`: one self-contained HTML page per trace.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::ReportArgs;

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let html = vprog_runtime::trace::report::render_report_with(&args.dir, &[&vprog_planner::record::PlannerReport])?;
    // `-o DIR` or `-o DIR/` writes DIR/report.html (a trailing slash creates DIR).
    let names_dir = args.output.as_os_str().to_string_lossy().ends_with(std::path::MAIN_SEPARATOR);
    if names_dir {
        std::fs::create_dir_all(&args.output).with_context(|| format!("cannot create the directory {}", args.output.display()))?;
    }
    let output = if names_dir || args.output.is_dir() { args.output.join("report.html") } else { args.output.clone() };
    vprog_runtime::trace::atomic_write(&output, html.as_bytes()).with_context(|| format!("cannot write {}", output.display()))?;
    errln!("wrote {} ({} KiB)", output.display(), html.len() / 1024);
    Ok(ExitCode::SUCCESS)
}
