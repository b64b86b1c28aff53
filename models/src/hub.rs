//! Checkpoints from the Hugging Face hub: CLIP, SigLIP and BLIP, which no
//! package registry ships.
//!
//! Each is pinned by repository and revision ([`HubSpec`]). `vprog models
//! fetch ID` downloads the revision's files with `hf-hub` (which honours
//! `HF_ENDPOINT` and `HF_HOME`; a token comes from `HF_TOKEN` or
//! `$HF_HOME/token`); `vprog models add ID --from DIR` imports a checkpoint
//! directory the user already has. Either way the files are checked (the
//! config's `model_type`, a readable safetensors header, a tokenizer and
//! preprocessor config that parse), hashed, and installed atomically with
//! a manifest recording each file's SHA-256, so a file changed afterwards is
//! caught by `vprog models verify` and before loading.
//!
//! The hub's files are not pinned by digest here (they cannot be looked up
//! without the hub); the manifest pins what was installed.

use std::path::{Path, PathBuf};

use crate::catalog::Task;
use crate::hash::sha256_file;
use crate::store::{mtime_ns, ModelStore, MANIFEST};
use crate::ModelError;

/// A checkpoint on the Hugging Face hub that vprog knows how to run.
#[derive(Debug, Clone, Copy)]
pub struct HubSpec {
    /// Its id in vprog (`vprog models fetch ID`).
    pub id: &'static str,
    /// What it is for.
    pub task: Task,
    /// One line about it.
    pub description: &'static str,
    /// The hub repository.
    pub repo: &'static str,
    /// The pinned revision (a commit or a ref).
    pub revision: &'static str,
    /// The `model_type` its `config.json` must declare.
    pub model_type: &'static str,
    /// The files installed, all required.
    pub files: &'static [&'static str],
    /// Which modules use it.
    pub used_by: &'static [&'static str],
}

/// The files of a checkpoint with a tokenizer and an image processor.
const VISION_LANGUAGE_FILES: &[&str] = &["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"];
/// SigLIP has no fast tokenizer: its repository ships the SentencePiece model.
const SIGLIP_FILES: &[&str] = &["config.json", "model.safetensors", "spiece.model", "preprocessor_config.json"];

/// OpenAI's CLIP ViT-B/32, the default of `retrieve_frames`.
pub const CLIP_VIT_B32: &str = "clip-vit-b32";
/// Google's SigLIP base (patch 16, 224 px).
pub const SIGLIP_BASE: &str = "siglip-base";
/// Salesforce's BLIP captioning base.
pub const BLIP_BASE: &str = "blip-base";

/// Every hub checkpoint vprog knows.
pub const HUB_CATALOG: &[HubSpec] = &[
    HubSpec {
        id: CLIP_VIT_B32,
        task: Task::ImageText,
        description: "CLIP ViT-B/32 image and text embeddings (OpenAI)",
        repo: "openai/clip-vit-base-patch32",
        // The ref that added model.safetensors to the repository.
        revision: "refs/pr/15",
        model_type: "clip",
        files: VISION_LANGUAGE_FILES,
        used_by: &["retrieve_frames", "retrieve_clips"],
    },
    HubSpec {
        id: SIGLIP_BASE,
        task: Task::ImageText,
        description: "SigLIP base patch16-224 image and text embeddings (Google)",
        repo: "google/siglip-base-patch16-224",
        revision: "main",
        model_type: "siglip",
        files: SIGLIP_FILES,
        used_by: &[],
    },
    HubSpec {
        id: BLIP_BASE,
        task: Task::Captioning,
        description: "BLIP image captioning base (Salesforce)",
        repo: "Salesforce/blip-image-captioning-base",
        revision: "main",
        model_type: "blip",
        files: VISION_LANGUAGE_FILES,
        used_by: &["caption"],
    },
];

/// The hub checkpoint `id`, if it is one.
pub fn spec(id: &str) -> Option<&'static HubSpec> {
    HUB_CATALOG.iter().find(|s| s.id == id)
}

/// The hub checkpoint `id`, or [`ModelError::Unknown`] listing every id.
fn known(id: &str) -> Result<&'static HubSpec, ModelError> {
    spec(id).ok_or_else(|| ModelError::Unknown { id: id.to_string(), known: crate::catalog::ids().join(", ") })
}

impl HubSpec {
    /// `repo@revision`.
    pub fn source(&self) -> String {
        format!("hub {}@{}", self.repo, self.revision)
    }

    /// What to do without the hub: which files to put in a directory and the
    /// command that imports it.
    pub fn manual_install(&self) -> String {
        format!(
            "download {} from https://huggingface.co/{}/tree/{} into a directory DIR, then run `vprog models add {} --from DIR`",
            self.files.join(", "),
            self.repo,
            self.revision,
            self.id
        )
    }
}

/// Whether a hub checkpoint is installed in `store`: its manifest, and each
/// file at its recorded size (files changed since the install are re-hashed).
pub fn status(store: &ModelStore, spec: &HubSpec) -> crate::ModelStatus {
    use crate::ModelStatus;
    let dir = store.dir_of(spec.id);
    let manifest = dir.join(MANIFEST);
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return if dir.exists() { ModelStatus::Damaged("the install did not finish (no manifest)".into()) } else { ModelStatus::Missing };
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return ModelStatus::Damaged(format!("{MANIFEST} is not JSON"));
    };
    for name in spec.files {
        let Some(rec) = json["files"].as_array().and_then(|fs| fs.iter().find(|f| f["name"] == *name)) else {
            return ModelStatus::Damaged(format!("{name} is not in the manifest"));
        };
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Err(_) => return ModelStatus::Damaged(format!("{name} is missing")),
            Ok(m) if Some(m.len()) != rec["size"].as_u64() => {
                return ModelStatus::Damaged(format!("{name} has {} bytes, {} when installed", m.len(), rec["size"]));
            }
            Ok(_) => {}
        }
        if rec["mtime_ns"].as_u64() != mtime_ns(&path) {
            match sha256_file(&path) {
                Ok(d) if rec["sha256"].as_str() == Some(d.as_str()) => {}
                Ok(d) => {
                    return ModelStatus::Damaged(format!(
                        "{name} was modified after it was installed: SHA-256 {d}, installed {}",
                        rec["sha256"]
                    ))
                }
                Err(e) => return ModelStatus::Damaged(e.to_string()),
            }
        }
    }
    ModelStatus::Installed
}

/// The directory of installed hub checkpoint `id`.
///
/// # Errors
///
/// [`ModelError::NotInstalled`] or [`ModelError::Damaged`], whose hints name
/// `vprog models fetch ID`.
pub fn locate(store: &ModelStore, id: &str) -> Result<PathBuf, ModelError> {
    let spec = known(id)?;
    match status(store, spec) {
        crate::ModelStatus::Installed => Ok(store.dir_of(id)),
        crate::ModelStatus::Missing => Err(ModelError::NotInstalled { id: id.to_string(), root: store.root().to_path_buf() }),
        crate::ModelStatus::Damaged(reason) => Err(ModelError::Damaged { id: id.to_string(), reason }),
    }
}

/// Checks that `dir` holds a usable checkpoint for `spec`: every file, a
/// `config.json` of the right `model_type`, a safetensors header, and JSON
/// tokenizer and preprocessor configs.
///
/// # Errors
///
/// [`ModelError::BadCheckpoint`] naming the file and what is wrong.
pub fn check_checkpoint(spec: &HubSpec, dir: &Path) -> Result<(), ModelError> {
    let bad = |file: &str, reason: String| ModelError::BadCheckpoint { id: spec.id.to_string(), path: dir.join(file), reason };
    for file in spec.files {
        if !dir.join(file).is_file() {
            return Err(bad(file, format!("missing; a {} checkpoint directory holds {}", spec.id, spec.files.join(", "))));
        }
    }
    let json = |file: &str| -> Result<serde_json::Value, ModelError> {
        let text = std::fs::read_to_string(dir.join(file)).map_err(|e| bad(file, e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| bad(file, format!("not JSON: {e}")))
    };
    let config = json("config.json")?;
    let model_type = config["model_type"].as_str().unwrap_or("");
    if model_type != spec.model_type {
        return Err(bad("config.json", format!("model_type is `{model_type}`, but {} is a `{}` model", spec.id, spec.model_type)));
    }
    for file in spec.files.iter().filter(|f| f.ends_with(".json") && **f != "config.json") {
        json(file)?;
    }
    safetensors_header(&dir.join("model.safetensors")).map_err(|e| bad("model.safetensors", e))?;
    Ok(())
}

/// Reads a safetensors file's header: its length prefix and JSON table.
fn safetensors_header(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| "not a safetensors file: shorter than its header length".to_string())?;
    let len = u64::from_le_bytes(len);
    if len == 0 || len > 100_000_000 || 8 + len > size {
        return Err(format!("not a safetensors file: header length {len} in a file of {size} bytes"));
    }
    let mut header = vec![0u8; len as usize];
    f.read_exact(&mut header).map_err(|e| e.to_string())?;
    let table: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| format!("not a safetensors file: header is not JSON: {e}"))?;
    if !table.is_object() {
        return Err("not a safetensors file: header is not a table".into());
    }
    Ok(())
}

/// Installs the checkpoint in `from` as hub checkpoint `id`: checks it,
/// copies and hashes its files, writes the manifest, and moves it into place
/// (replacing an earlier install).
///
/// # Errors
///
/// An unknown id, a checkpoint that fails [`check_checkpoint`], or an I/O
/// error.
pub fn add(store: &ModelStore, id: &str, from: &Path, say: &mut dyn FnMut(&str)) -> Result<PathBuf, ModelError> {
    let spec = known(id)?;
    check_checkpoint(spec, from)?;
    install(store, spec, from, &format!("local {}", from.display()), say)
}

/// Copies the checked files of `from` into the store with a manifest.
fn install(store: &ModelStore, spec: &HubSpec, from: &Path, source: &str, say: &mut dyn FnMut(&str)) -> Result<PathBuf, ModelError> {
    let root = store.root();
    std::fs::create_dir_all(root).map_err(|e| ModelError::io(root, e))?;
    let staging =
        tempfile::Builder::new().prefix(&format!(".staging-{}-", spec.id)).tempdir_in(root).map_err(|e| ModelError::io(root, e))?;
    let mut files = Vec::new();
    for name in spec.files {
        let to = staging.path().join(name);
        std::fs::copy(from.join(name), &to).map_err(|e| ModelError::io(from.join(name), e))?;
        let sha256 = sha256_file(&to)?;
        let size = std::fs::metadata(&to).map_err(|e| ModelError::io(&to, e))?.len();
        say(&format!("{}: {name} ({:.1} MB, SHA-256 {sha256})", spec.id, size as f64 / 1e6));
        files.push(serde_json::json!({"name": name, "size": size, "sha256": sha256, "mtime_ns": mtime_ns(&to)}));
    }
    let manifest = serde_json::json!({
        "id": spec.id,
        "task": spec.task,
        "repo": spec.repo,
        "revision": spec.revision,
        "source": source,
        "files": files,
        "installed_by": concat!("vprog ", env!("CARGO_PKG_VERSION")),
    });
    let path = staging.path().join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| ModelError::io(&path, e.into()))?;
    std::fs::write(&path, text).map_err(|e| ModelError::io(&path, e))?;
    let target = store.dir_of(spec.id);
    crate::fetch::install(staging, &target)?;
    say(&format!("{}: installed in {}", spec.id, target.display()));
    Ok(target)
}

/// Downloads hub checkpoint `id` at its pinned revision with `hf-hub` and
/// installs it (see [`add`]).
///
/// # Errors
///
/// [`ModelError::HubUnreachable`], saying which files to put where, when a
/// download fails; otherwise as [`add`].
pub fn fetch(store: &ModelStore, id: &str, force: bool, say: &mut dyn FnMut(&str)) -> Result<PathBuf, ModelError> {
    let spec = known(id)?;
    if !force && status(store, spec) == crate::ModelStatus::Installed {
        say(&format!("{id}: already installed in {}", store.dir_of(id).display()));
        return Ok(store.dir_of(id));
    }
    let unreachable = |reason: String| ModelError::HubUnreachable { id: id.to_string(), reason, fix: spec.manual_install() };
    let mut builder = hf_hub::api::sync::ApiBuilder::from_env().with_progress(false);
    if let Ok(token) = std::env::var("HF_TOKEN") {
        builder = builder.with_token(Some(token));
    }
    let api = builder.build().map_err(|e| unreachable(e.to_string()))?;
    let repo = api.repo(hf_hub::Repo::with_revision(spec.repo.to_string(), hf_hub::RepoType::Model, spec.revision.to_string()));
    let mut dir = None;
    for name in spec.files {
        say(&format!("{id}: downloading {name} from {}@{}", spec.repo, spec.revision));
        let path = repo.get(name).map_err(|e| unreachable(format!("{name}: {e}")))?;
        dir.get_or_insert_with(|| path.parent().map(Path::to_path_buf).unwrap_or_default());
    }
    let dir = dir.unwrap_or_default();
    check_checkpoint(spec, &dir)?;
    install(store, spec, &dir, &spec.source(), say)
}

/// Re-hashes every file of installed hub checkpoint `id` against the digest
/// its manifest recorded: `(file, recorded, found)` (`found` is `None` for
/// a missing file).
///
/// # Errors
///
/// An unknown id, or a missing or unreadable manifest.
pub fn verify(store: &ModelStore, id: &str) -> Result<Vec<(String, String, Option<String>)>, ModelError> {
    let spec = known(id)?;
    let dir = store.dir_of(id);
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ModelError::Damaged { id: id.to_string(), reason: format!("{MANIFEST} is not JSON: {e}") })?;
    spec.files
        .iter()
        .map(|name| {
            let recorded = json["files"]
                .as_array()
                .and_then(|fs| fs.iter().find(|f| f["name"] == *name))
                .and_then(|f| f["sha256"].as_str())
                .unwrap_or("")
                .to_string();
            let file = dir.join(name);
            let found = if file.is_file() { Some(sha256_file(&file)?) } else { None };
            Ok((name.to_string(), recorded, found))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with the four files, `config.json` declaring `model_type`.
    fn checkpoint(dir: &Path, model_type: &str) {
        std::fs::write(dir.join("config.json"), format!(r#"{{"model_type": "{model_type}"}}"#)).expect("write");
        std::fs::write(dir.join("tokenizer.json"), "{}").expect("write");
        std::fs::write(dir.join("preprocessor_config.json"), "{}").expect("write");
        let header = br#"{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#;
        let mut st = (header.len() as u64).to_le_bytes().to_vec();
        st.extend_from_slice(header);
        st.extend_from_slice(&[0, 0, 0, 0]);
        std::fs::write(dir.join("model.safetensors"), st).expect("write");
    }

    #[test]
    fn a_checkpoint_is_checked_installed_and_verified() {
        let src = tempfile::tempdir().expect("tempdir");
        let root = tempfile::tempdir().expect("tempdir");
        let store = ModelStore::at(root.path());
        checkpoint(src.path(), "clip");
        let err = locate(&store, CLIP_VIT_B32).expect_err("nothing installed yet");
        assert_eq!(err.fix().as_deref(), Some("vprog models fetch clip-vit-b32"));
        let dir = add(&store, CLIP_VIT_B32, src.path(), &mut |_| {}).expect("a good checkpoint installs");
        assert_eq!(locate(&store, CLIP_VIT_B32).expect("installed"), dir);
        assert!(verify(&store, CLIP_VIT_B32).expect("verifies").iter().all(|(_, r, f)| f.as_deref() == Some(r.as_str())));
        // A file changed after the install is caught before it is loaded.
        std::fs::write(dir.join("tokenizer.json"), "[]").expect("write");
        let err = locate(&store, CLIP_VIT_B32).expect_err("modified");
        assert!(err.to_string().contains("tokenizer.json was modified"), "{err}");
    }

    #[test]
    fn a_wrong_or_incomplete_checkpoint_is_refused_with_the_file_named() {
        let src = tempfile::tempdir().expect("tempdir");
        let store = ModelStore::at(src.path().join("store"));
        checkpoint(src.path(), "siglip");
        let err = add(&store, CLIP_VIT_B32, src.path(), &mut |_| {}).expect_err("a SigLIP is not a CLIP");
        assert!(err.to_string().contains("config.json") && err.to_string().contains("`siglip`"), "{err}");
        checkpoint(src.path(), "clip");
        std::fs::write(src.path().join("model.safetensors"), b"garbage!garbage").expect("write");
        let err = add(&store, CLIP_VIT_B32, src.path(), &mut |_| {}).expect_err("bad weights");
        assert!(err.to_string().contains("model.safetensors") && err.to_string().contains("not a safetensors file"), "{err}");
        std::fs::remove_file(src.path().join("tokenizer.json")).expect("rm");
        let err = add(&store, CLIP_VIT_B32, src.path(), &mut |_| {}).expect_err("no tokenizer");
        assert!(err.to_string().contains("tokenizer.json") && err.to_string().contains("preprocessor_config.json"), "{err}");
        assert!(!store.dir_of(CLIP_VIT_B32).exists(), "nothing was installed");
    }

    #[test]
    fn an_unreachable_hub_says_which_files_to_put_where() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = ModelStore::at(root.path());
        // A closed local port stands in for a hub that cannot be reached.
        std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
        std::env::set_var("HF_HOME", root.path().join("hf"));
        let err = fetch(&store, BLIP_BASE, false, &mut |_| {}).expect_err("no hub here");
        let text = err.to_string();
        assert!(matches!(err, ModelError::HubUnreachable { .. }), "{text}");
        for needle in [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "preprocessor_config.json",
            "Salesforce/blip-image-captioning-base",
            "vprog models add blip-base --from DIR",
        ] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
    }
}
