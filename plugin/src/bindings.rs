//! Host bindings generated from `plugin/wit/plugin.wit` (`vprog:plugin@0.1.0`).
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "wit",
    world: "plugin",
    with: {
        "vprog:plugin/frames.frame": crate::host::HostFrame,
    },
    imports: { default: trappable },
});

pub use exports::vprog::plugin::module::{Argument, Input};
pub use vprog::plugin::types::{Bbox, Cue, FrameBoxes, Kind, Output, ValueType};

/// The package every plugin must be built against.
pub const PACKAGE: &str = "vprog:plugin";
/// Its version.
pub const VERSION: &str = "0.1.0";
