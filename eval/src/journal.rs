//! A run directory: its record (`eval.json`, checked on resume), its lock
//! (`.lock`, held while a run writes) and its journal (`results.jsonl`,
//! finished items appended one synced line at a time).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::result::ItemResult;
use crate::Error;

/// What a run of a directory was: written by the first run, checked by
/// every resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`RUN_SCHEMA`].
    pub schema: String,
    /// The labelled set, as given.
    pub bench: String,
    /// BLAKE3 of the set's bytes.
    pub bench_blake3: String,
    /// `auto`, `fast`, `slow` or `compare`.
    pub mode: String,
    /// `(k, n)`: the k-th of n shards, from 1.
    pub shard: Option<(usize, usize)>,
    /// The settings the answers depend on (a resume with others is warned about).
    pub settings: serde_json::Value,
}

/// The schema of `eval.json`.
pub const RUN_SCHEMA: &str = "vprog.eval/1";

impl RunRecord {
    /// Writes the record into `dir`, or, when `dir` has one, checks that it
    /// is a run of the same set, mode and shard ([`Error::OtherRun`]) and
    /// warns when other settings differ.
    pub fn write_or_check(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join("eval.json");
        if !path.is_file() {
            let text = serde_json::to_string_pretty(self).map_err(|e| Error::File { path: path.clone(), reason: e.to_string() })?;
            return std::fs::write(&path, text).map_err(Error::io("write", &path));
        }
        let text = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        let old: RunRecord =
            serde_json::from_str(&text).map_err(|e| Error::File { path: path.clone(), reason: format!("not a vprog eval record: {e}") })?;
        let short = |h: &str| h.chars().take(12).collect::<String>();
        let mut differs = Vec::new();
        if old.bench_blake3 != self.bench_blake3 {
            differs.push(format!("labelled set (BLAKE3): {} before, {} now", short(&old.bench_blake3), short(&self.bench_blake3)));
        }
        if old.mode != self.mode {
            differs.push(format!("mode: {} before, {} now", old.mode, self.mode));
        }
        if old.shard != self.shard {
            differs.push(format!("shard: {:?} before, {:?} now", old.shard, self.shard));
        }
        if !differs.is_empty() {
            return Err(Error::OtherRun { dir: dir.to_path_buf(), differs: differs.join("; ") });
        }
        if old.settings != self.settings {
            tracing::warn!(
                "{}: resuming with other settings than the first run ({} before, {} now)",
                dir.display(),
                old.settings,
                self.settings
            );
        }
        Ok(())
    }
}

/// `results.jsonl`: finished items, appended one synced line at a time.
pub struct Journal {
    file: File,
    path: PathBuf,
    /// Every result in the file, in order.
    pub results: Vec<ItemResult>,
}

impl Journal {
    /// Opens (or creates) the journal; a last line cut short by a kill is
    /// dropped from the file, any other unreadable line is an error.
    pub fn open(path: &Path) -> Result<Journal, Error> {
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path).map_err(Error::io("open", path))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(Error::io("read", path))?;
        let (results, complete) = parse_results(&text, path)?;
        if complete < text.len() {
            tracing::warn!("{}: dropping a last line cut short ({} bytes) by an interrupted run", path.display(), text.len() - complete);
            file.set_len(complete as u64).map_err(Error::io("truncate", path))?;
            file.seek(SeekFrom::End(0)).map_err(Error::io("seek in", path))?;
        }
        Ok(Journal { file, path: path.to_path_buf(), results })
    }

    /// The ids of the finished items.
    pub fn done(&self) -> BTreeSet<String> {
        self.results.iter().map(|r| r.id.clone()).collect()
    }

    /// Appends one result and syncs it to disk before returning.
    pub fn append(&mut self, r: ItemResult) -> Result<(), Error> {
        let mut line = serde_json::to_string(&r).map_err(|e| Error::File { path: self.path.clone(), reason: e.to_string() })?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(Error::io("append to", &self.path))?;
        self.file.sync_data().map_err(Error::io("sync", &self.path))?;
        self.results.push(r);
        Ok(())
    }
}

/// The results in the text of a `results.jsonl` and the length of its
/// complete lines: a last line without its newline was cut short by a kill
/// and is not a result; any other unreadable line is an error.
pub fn parse_results(text: &str, path: &Path) -> Result<(Vec<ItemResult>, usize), Error> {
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut results = Vec::new();
    for (n, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = serde_json::from_str(line).map_err(|e| Error::Line {
            path: path.to_path_buf(),
            line: n + 1,
            reason: format!("not a result line: {e}"),
        })?;
        results.push(r);
    }
    Ok((results, complete))
}

/// The results of the run directory `dir`.
pub fn read_results(dir: &Path) -> Result<Vec<ItemResult>, Error> {
    let path = dir.join("results.jsonl");
    let text = std::fs::read_to_string(&path).map_err(Error::io("read (is it a `vprog eval` directory?)", &path))?;
    Ok(parse_results(&text, &path)?.0)
}

/// Holds `<dir>/.lock` for the life of the value.
pub struct DirLock {
    _file: File,
}

/// Locks run directory `dir` ([`Error::Locked`] when another run holds it).
pub fn lock(dir: &Path) -> Result<DirLock, Error> {
    let path = dir.join(".lock");
    let file = File::create(&path).map_err(Error::io("create", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { dir: dir.to_path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Io { action: "lock", path, error: e }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::failed_item;
    use crate::set::tests::sample_item;

    #[test]
    fn a_torn_last_line_is_dropped_and_appends_continue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("results.jsonl");
        let item = sample_item("a", "t");
        let r = failed_item(&item, "boom".into(), 0.5);
        let line = serde_json::to_string(&r).expect("json");
        std::fs::write(&p, format!("{line}\n{}", &line[..line.len() / 2])).expect("write");
        let mut j = Journal::open(&p).expect("opens");
        assert_eq!(j.done().into_iter().collect::<Vec<_>>(), vec!["a".to_string()]);
        j.append(failed_item(&sample_item("b", "t"), "boom".into(), 0.5)).expect("appends");
        drop(j);
        let again = Journal::open(&p).expect("opens");
        assert_eq!(again.results.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        // A damaged line in the middle is an error, not silently skipped.
        std::fs::write(&p, format!("garbage\n{line}\n")).expect("write");
        assert!(format!("{}", Journal::open(&p).err().expect("refused")).contains(":1: not a result line"));
    }

    #[test]
    fn a_record_of_another_run_is_refused_even_when_hand_edited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = |hash: &str| RunRecord {
            schema: RUN_SCHEMA.into(),
            bench: "b.jsonl".into(),
            bench_blake3: hash.into(),
            mode: "fast".into(),
            shard: None,
            settings: serde_json::Value::Null,
        };
        record("aéééééééééééé").write_or_check(dir.path()).expect("first run writes its record");
        let e = record("0123456789abcdef").write_or_check(dir.path()).expect_err("another set");
        assert!(matches!(e, Error::OtherRun { .. }) && e.to_string().contains("aééééééééééé before"), "{e}");
        record("aéééééééééééé").write_or_check(dir.path()).expect("the same run resumes");
    }
}
