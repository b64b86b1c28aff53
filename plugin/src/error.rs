//! Why a plugin could not be loaded or a call failed.

use std::path::PathBuf;

/// A plugin problem, always naming the plugin file or module.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("{path}: cannot read the plugin: {reason}")]
    Io {
        /// The plugin file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The bytes are not a WebAssembly component wasmtime can compile.
    #[error("{path}: not a valid WebAssembly component: {reason}")]
    Corrupt {
        /// The plugin file.
        path: PathBuf,
        /// What the validator said.
        reason: String,
    },
    /// A core module instead of a component.
    #[error("{path}: this is a core WebAssembly module, not a component; build for `wasm32-wasip2`, or wrap the module with `wasm-tools component new`")]
    CoreModule {
        /// The plugin file.
        path: PathBuf,
    },
    /// Built against another version of the plugin contract.
    #[error(
        "{path}: built against {found}, but this vprog runs plugins built against {supported}; rebuild it against one of them (the WIT of each is in plugin/wit/since_v<version>/ of this vprog)"
    )]
    WrongVersion {
        /// The plugin file.
        path: PathBuf,
        /// The interface it exports or imports (`vprog:plugin/module@0.2.0`).
        found: String,
        /// The versions this host runs.
        supported: String,
    },
    /// Imports something the host does not provide.
    #[error("{path}: imports `{import}`, which vprog does not provide (plugins may import `vprog:plugin/*@0.1.0` and `wasi:*@0.2.*`)")]
    UnknownImport {
        /// The plugin file.
        path: PathBuf,
        /// The import's name.
        import: String,
    },
    /// Does not export `vprog:plugin/module@0.1.0`.
    #[error("{path}: does not export `vprog:plugin/module@0.1.0` (it exports: {exports})")]
    MissingExport {
        /// The plugin file.
        path: PathBuf,
        /// What it does export.
        exports: String,
    },
    /// The plugin could not be started to ask for its signature (it ran out
    /// of fuel, memory or time while instantiating).
    #[error("{path}: cannot start the plugin: {reason}")]
    Start {
        /// The plugin file.
        path: PathBuf,
        /// What happened.
        reason: String,
    },
    /// Its module name is already registered: the same plugin given twice,
    /// two plugins with one name, or a built-in module's name.
    #[error("{path}: the module name `{name}` is already taken (the same plugin given twice, two plugins with one name, or a built-in module; see `vprog modules`)")]
    NameTaken {
        /// The plugin file.
        path: PathBuf,
        /// The name.
        name: String,
    },
    /// The plugin's `describe` result is unusable.
    #[error("{path}: bad signature: {reason}")]
    BadSignature {
        /// The plugin file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A `--grant` argument is malformed.
    #[error("bad grant `{spec}`: {reason}")]
    BadGrant {
        /// The argument.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// A `--grant` names a plugin that is not loaded.
    #[error("--grant names `{name}`, but no plugin of that name is loaded (loaded: {loaded})")]
    NoSuchGrantee {
        /// The name the grant gave.
        name: String,
        /// The loaded plugins' names, or `none`.
        loaded: String,
    },
    /// The host engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// Instantiating or calling the plugin failed.
    #[error("plugin `{module}`: {reason}")]
    Call {
        /// The module name.
        module: String,
        /// What happened (a limit, a trap, the plugin's own error, a bad output).
        reason: String,
    },
}

impl PluginError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> PluginError {
        PluginError::Io { path: path.to_path_buf(), reason: e.to_string() }
    }
}
