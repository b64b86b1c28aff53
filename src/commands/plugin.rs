//! `vprog plugin check`, and loading `--plugin` files into the registry for
//! `run`, `check` and `modules`.

use std::collections::BTreeMap;
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

/// `--grant NAME:SPEC` arguments grouped by plugin name.
fn grants(s: &SandboxArgs) -> anyhow::Result<BTreeMap<String, Grants>> {
    let mut out: BTreeMap<String, Grants> = BTreeMap::new();
    for arg in &s.grants {
        let (name, spec) = vprog_plugin::split_grant(arg)?;
        out.entry(name.to_string()).or_default().add(spec)?;
    }
    Ok(out)
}

/// Loads every plugin: described in an empty sandbox, then given its grants.
fn load_all(paths: &[std::path::PathBuf], sandbox: &SandboxArgs) -> anyhow::Result<Vec<Plugin>> {
    let mut grants = grants(sandbox)?;
    let host = PluginHost::with_default_cache()?;
    let mut plugins = Vec::new();
    for path in paths {
        let plugin = Plugin::load(&host, path, limits(sandbox), Grants::default())?;
        let plugin = match grants.remove(&plugin.info().name) {
            Some(g) => plugin.with_grants(g),
            None => plugin,
        };
        plugins.push(plugin);
    }
    if let Some(name) = grants.keys().next() {
        let loaded: Vec<&str> = plugins.iter().map(|p| p.info().name.as_str()).collect();
        anyhow::bail!(
            "--grant names `{name}`, but no plugin of that name is loaded (loaded: {})",
            if loaded.is_empty() { "none".to_string() } else { loaded.join(", ") }
        );
    }
    Ok(plugins)
}

/// The built-in modules plus the `--plugin` ones.
pub fn registry(args: &PluginArgs) -> anyhow::Result<Registry> {
    let mut registry = vprog_modules::registry();
    for plugin in load_all(&args.plugins, &args.sandbox)? {
        vprog_plugin::register(&mut registry, plugin)?;
    }
    Ok(registry)
}

pub fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Check { plugins, json, sandbox } => check(&plugins, json, &sandbox),
    }
}

fn check(paths: &[std::path::PathBuf], json: bool, sandbox: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let grants = grants(sandbox)?;
    let host = PluginHost::with_default_cache()?;
    let builtins = vprog_modules::registry();
    let mut failed = false;
    let mut reports = Vec::new();
    for path in paths {
        let loaded = Plugin::load(&host, path, limits(sandbox), Grants::default()).map_err(anyhow::Error::from).and_then(|p| {
            if builtins.get(&p.info().name).is_some() {
                anyhow::bail!("{}: its name `{}` is a built-in module's; choose another", path.display(), p.info().name)
            }
            let g = grants.get(&p.info().name).cloned().unwrap_or_default();
            Ok(p.with_grants(g))
        });
        match loaded {
            Ok(p) => {
                let info = p.info().clone();
                if json {
                    reports.push(serde_json::json!({ "ok": true, "plugin": info, "limits": limits_json(&info.limits) }));
                } else {
                    print_info(&info);
                }
            }
            Err(e) => {
                failed = true;
                if json {
                    reports.push(serde_json::json!({ "ok": false, "path": path, "error": crate::output::chain(&e) }));
                } else {
                    errln!("vprog: rejected: {}", crate::output::chain(&e));
                }
            }
        }
    }
    if json {
        crate::output::print_json(&reports).context("cannot print JSON")?;
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn limits_json(l: &Limits) -> serde_json::Value {
    serde_json::json!({
        "fuel": l.fuel,
        "timeout_s": l.timeout.as_secs_f64(),
        "memory_bytes": l.memory_bytes,
        "max_output_bytes": l.max_output_bytes,
        "max_stdio_bytes": l.max_stdio_bytes,
        "instances": l.instances,
        "table_elements": l.table_elements,
        "max_wasm_stack_bytes": vprog_plugin::MAX_WASM_STACK,
    })
}

fn print_info(info: &vprog_plugin::PluginInfo) {
    let l = &info.limits;
    outln!("{}: ok", info.path.display());
    outln!("  module     {} v{}", info.name, info.version);
    outln!("  signature  {}", info.signature);
    if let Some(summary) = info.doc.lines().next().filter(|s| !s.is_empty()) {
        outln!("  doc        {summary}");
    }
    outln!("  file       {} bytes, blake3 {}", info.bytes, &info.hash[..16]);
    outln!("  compiled   {:.0} ms{}", info.compile_ms, if info.compile_cached { " (from the cache)" } else { "" });
    outln!("  exports    {}", info.exports.join(", "));
    outln!("  imports    {}", if info.imports.is_empty() { "nothing".to_string() } else { info.imports.join(", ") });
    outln!(
        "  limits     fuel {} per call, {:.1} s per call, memory {} MiB, output {} MiB, stdio {} KiB, stack {} KiB",
        l.fuel,
        l.timeout.as_secs_f64(),
        l.memory_bytes >> 20,
        l.max_output_bytes >> 20,
        l.max_stdio_bytes >> 10,
        vprog_plugin::MAX_WASM_STACK >> 10
    );
    outln!(
        "  grants     {}",
        if info.grants.is_empty() { "none (no files, network, environment or clock)".to_string() } else { info.grants.join(", ") }
    );
}
