//! The self-contained HTML report of a trace (being written).

use std::path::Path;

use super::TraceError;

/// Renders the trace in `dir` as one self-contained HTML page.
pub fn render_report(dir: &Path) -> Result<String, TraceError> {
    let trace = super::read_trace(dir)?;
    Ok(format!("<!doctype html><title>vprog trace {}</title>", trace.run_id))
}
