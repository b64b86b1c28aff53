//! `vprog plugin check`, and loading `--plugin` files into the registry for
//! `run`, `check` and `modules`.

use std::process::ExitCode;

use anyhow::Context as _;
use vprog_plugin::{Grants, Limits, Plugin, PluginHost};
use vprog_runtime::Registry;

use crate::cli::{PluginArgs, PluginCommand, SandboxArgs};

/// The limits the sandbox arguments ask for.
fn limits(s: &SandboxArgs) -> Limits {
    Limits {
        fuel: s.plugin_fuel,
        timeout: s.plugin_timeout,
        memory_bytes: usize::try_from(s.plugin_memory << 20).unwrap_or(usize::MAX),
        ..Limits::default()
    }
}

/// The built-in modules plus the `--plugin` ones.
pub fn registry(args: &PluginArgs) -> anyhow::Result<Registry> {
    let mut registry = vprog_modules::registry();
    vprog_plugin::register_all(&mut registry, &args.plugins, &limits(&args.sandbox), &args.sandbox.grants)?;
    Ok(registry)
}

pub fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    let PluginCommand::Check { plugins, json, sandbox } = command;
    let grants = vprog_plugin::set::grants_by_name(&sandbox.grants)?;
    let host = PluginHost::with_default_cache()?;
    let builtins = vprog_modules::registry();
    let mut failed = false;
    let mut reports = Vec::new();
    for path in &plugins {
        let loaded = Plugin::load(&host, path, limits(&sandbox), Grants::default()).map_err(anyhow::Error::from).and_then(|p| {
            if builtins.get(&p.info().name).is_some() {
                anyhow::bail!("{}: its name `{}` is a built-in module's; choose another", path.display(), p.info().name)
            }
            let g = grants.get(&p.info().name).cloned().unwrap_or_default();
            Ok(p.with_grants(g))
        });
        failed |= loaded.is_err();
        match (loaded, json) {
            (Ok(p), true) => reports.push(serde_json::json!({ "ok": true, "plugin": p.info(), "limits": p.info().limits.to_json() })),
            (Ok(p), false) => p.info().report_lines().iter().for_each(|l| outln!("{l}")),
            (Err(e), true) => reports.push(serde_json::json!({ "ok": false, "path": path, "error": crate::output::chain(&e) })),
            (Err(e), false) => errln!("vprog: rejected: {}", crate::output::chain(&e)),
        }
    }
    if json {
        crate::output::print_json(&reports).context("cannot print JSON")?;
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
