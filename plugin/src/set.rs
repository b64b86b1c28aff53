//! Several plugins loaded together, as `--plugin` and `--grant` arguments
//! name them: each described in an empty sandbox, then given the grants
//! addressed to its module name; a grant addressed to no loaded plugin is an
//! error, not silently dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{register, Grants, Limits, Plugin, PluginError, PluginHost, PluginInfo, MAX_WASM_STACK};
use vprog_runtime::Registry;

/// `NAME:GRANT` arguments grouped by plugin name.
pub fn grants_by_name(args: &[String]) -> Result<BTreeMap<String, Grants>, PluginError> {
    let mut out: BTreeMap<String, Grants> = BTreeMap::new();
    for arg in args {
        let (name, spec) = crate::split_grant(arg)?;
        out.entry(name.to_string()).or_default().add(spec)?;
    }
    Ok(out)
}

/// Loads every plugin in `paths` under `limits`, each with the grants of
/// `grant_args` that name it.
pub fn load_all(
    host: &std::sync::Arc<PluginHost>,
    paths: &[PathBuf],
    limits: &Limits,
    grant_args: &[String],
) -> Result<Vec<Plugin>, PluginError> {
    let mut grants = grants_by_name(grant_args)?;
    let mut plugins = Vec::new();
    for path in paths {
        let plugin = Plugin::load(host, path, limits.clone(), Grants::default())?;
        let plugin = match grants.remove(&plugin.info().name) {
            Some(g) => plugin.with_grants(g),
            None => plugin,
        };
        plugins.push(plugin);
    }
    if let Some(name) = grants.into_keys().next() {
        let loaded: Vec<&str> = plugins.iter().map(|p| p.info().name.as_str()).collect();
        let loaded = if loaded.is_empty() { "none".to_string() } else { loaded.join(", ") };
        return Err(PluginError::NoSuchGrantee { name, loaded });
    }
    Ok(plugins)
}

/// Adds every plugin of [`load_all`] to `registry`.
pub fn register_all(registry: &mut Registry, paths: &[PathBuf], limits: &Limits, grant_args: &[String]) -> Result<(), PluginError> {
    if paths.is_empty() && grant_args.is_empty() {
        return Ok(());
    }
    let host = PluginHost::with_default_cache()?;
    for plugin in load_all(&host, paths, limits, grant_args)? {
        register(registry, plugin)?;
    }
    Ok(())
}

impl Limits {
    /// The limits as `vprog plugin check --json` reports them (durations in
    /// seconds, the fixed WebAssembly stack included).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "fuel": self.fuel,
            "timeout_s": self.timeout.as_secs_f64(),
            "memory_bytes": self.memory_bytes,
            "max_output_bytes": self.max_output_bytes,
            "max_stdio_bytes": self.max_stdio_bytes,
            "instances": self.instances,
            "table_elements": self.table_elements,
            "max_wasm_stack_bytes": MAX_WASM_STACK,
        })
    }
}

impl PluginInfo {
    /// What `vprog plugin check` prints about a loaded plugin, a line each.
    pub fn report_lines(&self) -> Vec<String> {
        let l = &self.limits;
        let mut lines = vec![
            format!("{}: ok", self.path.display()),
            format!("  module     {} v{}", self.name, self.version),
            format!("  signature  {}", self.signature),
        ];
        if let Some(summary) = self.doc.lines().next().filter(|s| !s.is_empty()) {
            lines.push(format!("  doc        {summary}"));
        }
        let hash = self.hash.get(..16).unwrap_or(&self.hash);
        lines.push(format!("  file       {} bytes, blake3 {hash}", self.bytes));
        lines.push(format!("  compiled   {:.0} ms{}", self.compile_ms, if self.compile_cached { " (from the cache)" } else { "" }));
        lines.push(format!("  exports    {}", self.exports.join(", ")));
        lines.push(format!("  imports    {}", if self.imports.is_empty() { "nothing".to_string() } else { self.imports.join(", ") }));
        lines.push(format!(
            "  limits     fuel {} per call, {:.1} s per call, memory {} MiB, output {} MiB, stdio {} KiB, stack {} KiB",
            l.fuel,
            l.timeout.as_secs_f64(),
            l.memory_bytes >> 20,
            l.max_output_bytes >> 20,
            l.max_stdio_bytes >> 10,
            MAX_WASM_STACK >> 10
        ));
        let grants =
            if self.grants.is_empty() { "none (no files, network, environment or clock)".to_string() } else { self.grants.join(", ") };
        lines.push(format!("  grants     {grants}"));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_group_by_name_and_a_grant_for_no_plugin_is_refused() {
        let args = vec!["a:clock".to_string(), "a:env".to_string(), "b:net".to_string()];
        let by_name = grants_by_name(&args).expect("grants");
        assert_eq!(by_name.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(by_name["a"].clock && by_name["a"].env && by_name["b"].net);
        assert!(grants_by_name(&["nocolon".to_string()]).is_err());
        let host = PluginHost::new(None).expect("host");
        let Err(e) = load_all(&host, &[], &Limits::default(), &["ghost:clock".to_string()]) else {
            panic!("a grant for no plugin was accepted")
        };
        assert!(e.to_string().contains("--grant names `ghost`, but no plugin of that name is loaded (loaded: none)"), "{e}");
    }
}
