//! (in progress)

use std::sync::Arc;

use vprog_runtime::Registry;

use crate::model_store::ModelStore;

/// Registers this family's modules.
pub fn register(_r: &mut Registry, _store: &Arc<ModelStore>) {}
