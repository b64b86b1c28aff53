//! How modules reach installed models: the store handle and the mapping of
//! store errors to module errors that name the command that fixes them.

use vprog_models::ModelError;
use vprog_runtime::ModuleError;

pub use vprog_models::{InstalledModel, ModelStore};

/// A store error as a module error: a missing model becomes
/// [`ModuleError::MissingModel`] naming `vprog models fetch ID`.
pub fn module_error(e: ModelError) -> ModuleError {
    if let (Some(install), ModelError::NotInstalled { id, .. } | ModelError::Damaged { id, .. }) = (e.install_hint(), &e) {
        return ModuleError::MissingModel { model: id.clone(), install };
    }
    match e {
        ModelError::Unknown { id, known } => ModuleError::invalid("model", format!("unknown model `{id}`; known models: {known}")),
        other => ModuleError::Failed(other.to_string()),
    }
}

/// Locates model `id` in `store`, as a module error when it is not installed
/// ([`ModuleError::MissingModel`]) or damaged ([`ModuleError::BadModel`] with
/// its directory, naming the reinstall command).
pub fn locate(store: &ModelStore, id: &str) -> Result<InstalledModel, ModuleError> {
    store.locate(id).map_err(|e| store_error(store, e))
}

/// A store error from locating a model in `store`, as a module error: a
/// damaged install is [`ModuleError::BadModel`] with its directory and the
/// reinstall command, anything else as [`module_error`].
pub fn store_error(store: &ModelStore, e: ModelError) -> ModuleError {
    match e {
        ModelError::Damaged { id, reason } => ModuleError::BadModel {
            path: store.dir_of(&id),
            reason: format!("{reason}; reinstall it with `vprog models fetch {id} --force`"),
            model: id,
        },
        other => module_error(other),
    }
}
