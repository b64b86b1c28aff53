//! (being written)

use vprog_runtime::Registry;

/// Registers this family's modules.
pub fn register(_registry: &mut Registry) {}
