//! Host bindings of contract `vprog:plugin@0.1.0`, generated from the frozen
//! `plugin/wit/since_v0.1.0/plugin.wit`.
#![allow(missing_docs)]

use wasmtime::component::{HasSelf, Linker};

use crate::host::HostState;

wasmtime::component::bindgen!({
    path: "wit/since_v0.1.0",
    world: "plugin",
    with: {
        "vprog:plugin/frames.frame": crate::host::HostFrame,
    },
    imports: { default: trappable },
});

pub use exports::vprog::plugin::module::{Argument, Input};
pub use vprog::plugin::types::{Bbox, Cue, FrameBoxes, Kind, Output, ValueType};

/// The version.
pub const VERSION: &str = "0.1.0";

/// Adds this version's host interfaces (`frames`, `types`) to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    vprog::plugin::frames::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    vprog::plugin::types::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    Ok(())
}
