//! The set of modules a program may call.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::module::Module;

/// Modules by name.
#[derive(Clone, Default)]
pub struct Registry {
    modules: BTreeMap<&'static str, Arc<dyn Module>>,
}

/// Registering two modules under one name.
#[derive(Debug, thiserror::Error)]
#[error("a module named `{0}` is already registered")]
pub struct DuplicateModule(pub String);

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds a module; names must be unique.
    pub fn register(&mut self, module: Arc<dyn Module>) -> Result<(), DuplicateModule> {
        let name = module.signature().name;
        if self.modules.contains_key(name) {
            return Err(DuplicateModule(name.to_string()));
        }
        self.modules.insert(name, module);
        Ok(())
    }

    /// The module called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Module>> {
        self.modules.get(name)
    }

    /// Every module name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.modules.keys().copied()
    }

    /// Every module, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Module>> {
        self.modules.values()
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// Whether no module is registered.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }
}
