//! A hub checkpoint a module loads on first use ([`HubModel`]): located in
//! the model store by id, opened once, reloaded only when the installed
//! directory changes. Shared by the modules on Hugging Face checkpoints
//! (`retrieve_frames`, `caption`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use vprog_models::hub;
use vprog_runtime::ModuleError;

use crate::model_store::{store_error, ModelStore};

/// The loaded checkpoint of type `T` (a CLIP or BLIP checkpoint) and where it
/// came from.
pub struct HubModel<T> {
    store: Arc<ModelStore>,
    default_id: &'static str,
    loaded: Mutex<Option<(PathBuf, Arc<T>)>>,
}

impl<T> HubModel<T> {
    /// Checkpoints of `store`; `default_id` is the one whose absence
    /// [`HubModel::missing`] reports.
    pub fn new(store: Arc<ModelStore>, default_id: &'static str) -> HubModel<T> {
        HubModel { store, default_id, loaded: Mutex::new(None) }
    }

    /// The model store.
    pub fn store(&self) -> &Arc<ModelStore> {
        &self.store
    }

    /// The install command, when the default checkpoint is not installed
    /// (for [`vprog_runtime::Module::missing_model`]).
    pub fn missing(&self) -> Option<String> {
        let spec = hub::spec(self.default_id)?;
        (hub::status(&self.store, spec) != vprog_models::ModelStatus::Installed).then(|| format!("vprog models fetch {}", self.default_id))
    }

    /// The installed checkpoint `id`, opened by `open(id, dir)` the first
    /// time and whenever its directory changes.
    ///
    /// # Errors
    ///
    /// `MissingModel` naming the install command, a damaged install, or
    /// `open`'s error.
    pub fn get(&self, id: &str, open: impl FnOnce(&str, &Path) -> Result<T, ModuleError>) -> Result<Arc<T>, ModuleError> {
        let dir = hub::locate(&self.store, id).map_err(|e| store_error(&self.store, e))?;
        let mut slot = self.loaded.lock().map_err(|_| ModuleError::Failed(format!("{id}: model slot poisoned")))?;
        if let Some((d, m)) = slot.as_ref() {
            if *d == dir {
                return Ok(m.clone());
            }
        }
        let m = Arc::new(open(id, &dir)?);
        *slot = Some((dir, m.clone()));
        Ok(m)
    }
}
