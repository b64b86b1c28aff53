//! User modules as sandboxed WebAssembly components.
//!
//! A plugin is a component built against the WIT package
//! `vprog:plugin@0.1.0` (`plugin/wit/since_v0.1.0/plugin.wit`, frozen; see [`wit`]): it exports its signature
//! and a call, and may import the host's frames (lent as handles, not
//! copied) and WASI 0.2. The host ([`PluginHost`]) runs it on wasmtime with
//! fuel and an epoch deadline per call, a memory limit, instance and table
//! limits, no capabilities unless granted ([`Grants`]), stdout/stderr
//! captured into the trace, and compiled code cached on disk.
//!
//! ```no_run
//! # use vprog_plugin::{PluginHost, Plugin, Limits, Grants};
//! let host = PluginHost::with_default_cache()?;
//! let plugin = Plugin::load(&host, "redness.wasm".as_ref(), Limits::default(), Grants::default())?;
//! println!("{}", plugin.info().signature);
//! # Ok::<(), vprog_plugin::PluginError>(())
//! ```

pub mod convert;
mod engine;
mod error;
pub mod host;
mod limits;
mod plugin;
pub mod set;
pub mod wit;

pub use engine::{default_cache_dir, PluginHost, MAX_WASM_STACK, TICK};
pub use error::PluginError;
pub use limits::{split_grant, DirGrant, Grants, Limits};
pub use plugin::{Plugin, PluginInfo, PluginModule};
pub use set::{load_all, register_all};

use std::sync::Arc;
use vprog_runtime::Registry;

/// Adds a loaded plugin to `registry`; its name must not be taken by a
/// built-in or another plugin.
pub fn register(registry: &mut Registry, plugin: Plugin) -> Result<(), PluginError> {
    let path = plugin.info().path.clone();
    let name = plugin.info().name.clone();
    registry.register(Arc::new(PluginModule(Arc::new(plugin)))).map_err(|_| PluginError::NameTaken { path, name })
}
