//! `vprog modules`: every module and its typed signature.

use std::process::ExitCode;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::cli::ModulesArgs;

pub fn run(args: ModulesArgs) -> anyhow::Result<ExitCode> {
    let registry = super::plugin::registry(&args.plugins)?;
    if args.json {
        let sigs: Vec<_> = registry
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(m.signature()).unwrap_or_default();
                if let Some(obj) = v.as_object_mut() {
                    // The install command where the module says its model is missing, else null.
                    obj.insert("missing_model".into(), m.missing_model().into());
                }
                v
            })
            .collect();
        crate::output::print_json(&sigs)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(vec![
        "module",
        "signature",
        "what it does",
    ]);
    for m in registry.iter() {
        let sig = m.signature();
        let searchable: Vec<String> =
            sig.params.iter().filter_map(|p| p.search.map(|r| format!("{} in {}..{}", p.name, r.min, r.max))).collect();
        let mut doc = sig.summary().to_string();
        if let Some(install) = m.missing_model() {
            doc.push_str(&format!("\nmodel not installed: {install}"));
        }
        if !searchable.is_empty() {
            doc.push_str(&format!("\nsearchable: {}", searchable.join(", ")));
        }
        table.add_row(vec![format!("{} v{}", sig.name, sig.version), sig.display(), doc]);
    }
    outln!("{table}");
    Ok(ExitCode::SUCCESS)
}
