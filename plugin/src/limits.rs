//! What a plugin may use: resource limits per call, and grants of WASI
//! capabilities (nothing by default).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::PluginError;

/// Resource limits applied to every call of a plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Fuel per call (about one unit per WebAssembly instruction).
    pub fuel: u64,
    /// Wall-clock deadline per call, enforced with epoch interruption.
    pub timeout: Duration,
    /// Largest linear memory (and so the largest data a call can return).
    pub memory_bytes: usize,
    /// Largest table, in elements.
    pub table_elements: usize,
    /// Most component instances, memories and tables a plugin may create.
    pub instances: usize,
    /// Largest output a call may return, in bytes (strings, and 8 per number).
    pub max_output_bytes: usize,
    /// Most bytes kept of what a plugin writes to stdout and to stderr; a
    /// plugin that writes more traps.
    pub max_stdio_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: 20_000_000_000,
            timeout: Duration::from_secs(30),
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            instances: 16,
            max_output_bytes: 16 << 20,
            max_stdio_bytes: 1 << 20,
        }
    }
}

/// A directory made visible to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on this machine.
    pub host: PathBuf,
    /// Read-only (the default) or read-write.
    pub read_only: bool,
}

/// The WASI capabilities granted to one plugin. The default grants nothing:
/// no files, no network, no environment variables, and a clock frozen at
/// the epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Directories, each mounted at its own path.
    pub dirs: Vec<DirGrant>,
    /// The host's environment variables.
    pub env: bool,
    /// TCP, UDP and name lookup to any address.
    pub net: bool,
    /// The real wall and monotonic clocks.
    pub clock: bool,
}

impl Grants {
    /// Whether anything is granted (a plugin with grants may see the outside
    /// world, so its results are not cached).
    pub fn any(&self) -> bool {
        !self.dirs.is_empty() || self.env || self.net || self.clock
    }

    /// Adds one grant written as on the command line: `dir=PATH`,
    /// `dir=PATH:rw`, `env`, `net` or `clock`.
    pub fn add(&mut self, spec: &str) -> Result<(), PluginError> {
        let bad = |why: &str| PluginError::BadGrant { spec: spec.to_string(), reason: why.to_string() };
        match spec {
            "env" => self.env = true,
            "net" => self.net = true,
            "clock" => self.clock = true,
            _ => {
                let Some(path) = spec.strip_prefix("dir=") else {
                    return Err(bad("expected `dir=PATH`, `dir=PATH:rw`, `env`, `net` or `clock`"));
                };
                let (path, read_only) = match path.rsplit_once(':') {
                    Some((p, "rw")) => (p, false),
                    Some((p, "ro")) => (p, true),
                    _ => (path, true),
                };
                if path.is_empty() {
                    return Err(bad("the directory is empty"));
                }
                let host = PathBuf::from(path);
                if !host.is_dir() {
                    return Err(bad(&format!("{} is not a directory", host.display())));
                }
                self.dirs.push(DirGrant { host, read_only });
            }
        }
        Ok(())
    }

    /// One line per grant, for `vprog plugin check` and the trace.
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .dirs
            .iter()
            .map(|d| format!("dir {} ({})", d.host.display(), if d.read_only { "read-only" } else { "read-write" }))
            .collect();
        if self.env {
            out.push("environment variables".into());
        }
        if self.net {
            out.push("network".into());
        }
        if self.clock {
            out.push("clock".into());
        }
        out
    }
}

/// A `--grant NAME:SPEC` argument split into the plugin name and the grant.
pub fn split_grant(arg: &str) -> Result<(&str, &str), PluginError> {
    match arg.split_once(':') {
        Some((name, spec)) if !name.is_empty() && !spec.is_empty() => Ok((name, spec)),
        _ => Err(PluginError::BadGrant {
            spec: arg.to_string(),
            reason: "expected NAME:GRANT, e.g. `redness:dir=/data`, `redness:clock`".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_and_reject() {
        let mut g = Grants::default();
        assert!(!g.any());
        g.add("clock").expect("clock");
        g.add("dir=/tmp:rw").expect("dir");
        assert!(g.clock && g.any());
        assert_eq!(g.dirs, vec![DirGrant { host: "/tmp".into(), read_only: false }]);
        let e = g.add("disk").expect_err("unknown grant").to_string();
        assert!(e.contains("dir=PATH"), "{e}");
        let e = g.add("dir=/no/such/dir").expect_err("missing dir").to_string();
        assert!(e.contains("not a directory"), "{e}");
        assert_eq!(split_grant("redness:env").expect("split"), ("redness", "env"));
        assert!(split_grant("redness").is_err());
    }
}
