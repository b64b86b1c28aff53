//! Bindings to the vprog plugin contract (plugin/wit/since_v0.1.0/plugin.wit, frozen), with a work-around.
//!
//! wit-bindgen's Rust generator cannot yet lift an export argument that holds `borrow`s of an imported
//! resource inside a list (wit-bindgen issue #811, open in 0.60 and 0.63): the generated `call` glue for
//! `input::frames(list<borrow<frame>>)` does not compile. In the canonical ABI such a borrow is an `i32`
//! handle, exactly like a `u32`, so:
//!
//! - `contract` is generated from the real WIT with `call` skipped: it provides the types, the `frame`
//!   import, `describe`'s glue and, embedded in the module, the component type of the whole real world
//!   (so the component that `cargo build --target wasm32-wasip2` links is typed by the real contract);
//! - `view` is generated from wit-view/plugin.wit, the same WIT with `frames(list<u32>)`, and provides
//!   only `call`'s glue; `pub_export_macro` keeps its exports out of the embedded component type;
//! - `call`'s export is written by hand below, and [`frames`] turns the handles back into [`Frame`]s,
//!   whose `Drop` ends each borrow, as the component model requires before `call` returns.
//!
//! When the generator is fixed (or the WIT passes `own` handles), this file shrinks to one `generate!`.

#![allow(missing_docs, clippy::all, unsafe_op_in_unsafe_fn)]

pub mod real {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../plugin/wit/since_v0.1.0",
        skip: ["call"],
    });
}

pub mod view {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit-view",
        skip: ["describe"],
        pub_export_macro: true,
        export_macro_name: "export_view",
    });
}

pub use real::exports::vprog::plugin::module::Guest as Describe;
pub use real::vprog::plugin::frames::Frame;
pub use real::vprog::plugin::types::{Kind, Param, Signature, ValueType};
pub use view::exports::vprog::plugin::module::{Argument, Guest as Call, Input};
pub use view::vprog::plugin::types::Output;

/// Takes over the frame borrows of one `frames` argument. Call it on every `Input::Frames` of the
/// arguments before `call` can return: a handle not turned into a `Frame` is never dropped, and the
/// host then sees the call trap.
pub fn frames(handles: Vec<u32>) -> Vec<Frame> {
    // SAFETY: each handle is a borrow of the host's `frame` that the canonical ABI lent this call,
    // taken over exactly once here and dropped (ending the borrow) when the `Frame` goes.
    handles.into_iter().map(|h| unsafe { Frame::from_handle(h) }).collect()
}

/// Exports `describe` and `call` for `$ty`, which implements [`Describe`] and [`Call`].
#[macro_export]
macro_rules! export_plugin {
    ($ty:ident) => {
        $crate::contract::real::export!($ty with_types_in $crate::contract::real);

        #[unsafe(export_name = "vprog:plugin/module@0.1.0#call")]
        unsafe extern "C" fn __vprog_plugin_call(args: *mut u8, len: usize) -> *mut u8 {
            unsafe { $crate::contract::view::exports::vprog::plugin::module::_export_call_cabi::<$ty>(args, len) }
        }

        #[unsafe(export_name = "cabi_post_vprog:plugin/module@0.1.0#call")]
        unsafe extern "C" fn __vprog_plugin_call_post_return(ret: *mut u8) {
            unsafe { $crate::contract::view::exports::vprog::plugin::module::__post_return_call::<$ty>(ret) }
        }
    };
}
