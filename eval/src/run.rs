//! Running a labelled set, or a shard of it, into a run directory, resuming
//! where an earlier run stopped.
//!
//! The directory holds
//! - `eval.json`: what was run (the set's BLAKE3, mode, shard, settings);
//! - `results.jsonl`: one line per finished item, appended and synced after
//!   the item's trace is written. A run killed at any moment loses at most
//!   the item in progress, which runs again on resume; a line cut short by
//!   the kill is dropped. Finished items are never run twice.
//! - `items/<id>/`: each item's trace (`vprog trace show`, `vprog report`);
//! - `summary.json`, `summary.md` ([`crate::summary`]);
//! - `.lock`: held while a run writes, so two runs never share a directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::journal::{lock, Journal, RunRecord, RUN_SCHEMA};
use crate::result::{failed_item, item_result, ItemResult};
use crate::session::Session;
use crate::set::{read_set, Item};
use crate::Error;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The labelled set.
    pub set: PathBuf,
    /// The directory its videos are relative to.
    pub videos: PathBuf,
    /// The run directory.
    pub out: PathBuf,
    /// `(k, n)`: only items whose position is `k - 1` modulo `n`.
    pub shard: Option<(usize, usize)>,
    /// At most this many items (of the shard).
    pub limit: Option<usize>,
    /// `auto`, `fast`, `slow` or `compare`: recorded and checked on resume.
    pub mode: String,
    /// The settings the answers depend on: recorded, and a resume with
    /// others is warned about.
    pub settings: serde_json::Value,
}

/// What a run reports as it goes.
pub enum Progress<'a> {
    /// Resuming: `done` of the shard's `total` items were already done.
    Resumed {
        /// Items already done.
        done: usize,
        /// Items of the shard.
        total: usize,
    },
    /// An item starts (`position` of `total`, from 1).
    Started {
        /// The item.
        item: &'a Item,
        /// Its position among the shard's items.
        position: usize,
        /// Items of the shard.
        total: usize,
    },
    /// An item finished (`position` of `total`, from 1).
    Finished {
        /// Its position among the shard's items.
        position: usize,
        /// Items of the shard.
        total: usize,
        /// Its result, already in the journal.
        result: &'a ItemResult,
    },
}

/// Runs (or resumes) `spec`; the results of every item of the shard, old and
/// new. `session` is called once, only when an item is left to run.
pub fn run_set(
    spec: &RunSpec,
    session: impl FnOnce() -> Result<Session, Error>,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<ItemResult>, Error> {
    if let Some((k, n)) = spec.shard.filter(|&(k, n)| k == 0 || k > n) {
        return Err(Error::NoSuchShard { k, n });
    }
    let items = read_set(&spec.set)?;
    let bytes = std::fs::read(&spec.set).map_err(Error::io("read", &spec.set))?;
    let items_dir = spec.out.join("items");
    std::fs::create_dir_all(&items_dir).map_err(Error::io("create", &items_dir))?;
    let _lock = lock(&spec.out)?;
    let record = RunRecord {
        schema: RUN_SCHEMA.into(),
        bench: spec.set.display().to_string(),
        bench_blake3: blake3::hash(&bytes).to_hex().to_string(),
        mode: spec.mode.clone(),
        shard: spec.shard,
        settings: spec.settings.clone(),
    };
    record.write_or_check(&spec.out)?;

    let mut journal = Journal::open(&spec.out.join("results.jsonl"))?;
    let mine: Vec<&Item> =
        items.iter().filter(|i| spec.shard.is_none_or(|(k, n)| i.index % n == k - 1)).take(spec.limit.unwrap_or(usize::MAX)).collect();
    let done = journal.done();
    let todo: Vec<&Item> = mine.iter().copied().filter(|i| !done.contains(&i.id)).collect();
    let kept = mine.len() - todo.len();
    if kept > 0 {
        on_progress(Progress::Resumed { done: kept, total: mine.len() });
    }
    if !todo.is_empty() {
        let session = session()?;
        for (n, item) in todo.into_iter().enumerate() {
            on_progress(Progress::Started { item, position: kept + n + 1, total: mine.len() });
            let t0 = Instant::now();
            let trace = format!("items/{}", item.id);
            let result = match session.answer_file(&spec.videos.join(&item.video), &item.question, &item.options, &spec.out.join(&trace)) {
                Ok(r) => item_result(item, &r, t0.elapsed().as_secs_f64(), trace),
                Err(e) => failed_item(item, e, t0.elapsed().as_secs_f64()),
            };
            journal.append(result)?;
            if let Some(result) = journal.results.last() {
                on_progress(Progress::Finished { position: kept + n + 1, total: mine.len(), result });
            }
        }
    }
    let ids: BTreeSet<&str> = mine.iter().map(|i| i.id.as_str()).collect();
    Ok(journal.results.into_iter().filter(|r| ids.contains(r.id.as_str())).collect())
}

/// Merges the results of run directories (the shards of one set):
/// [`Error::Overlap`] when an item is in more than one.
pub fn merge(dirs: &[impl AsRef<Path>]) -> Result<Vec<ItemResult>, Error> {
    let mut all = std::collections::BTreeMap::new();
    for dir in dirs {
        for r in crate::journal::read_results(dir.as_ref())? {
            if let Some(old) = all.insert(r.id.clone(), r) {
                return Err(Error::Overlap(old.id));
            }
        }
    }
    Ok(all.into_values().collect())
}

/// `K/N` with `1 <= K <= N`: shard K of N, as `--shard` takes it.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not a shard; write K/N with 1 <= K <= N, e.g. 2/4");
    let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse() {
        assert_eq!(super::parse_shard("2/4"), Ok((2, 4)));
        assert_eq!(super::parse_shard(" 1/1 "), Ok((1, 1)));
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "1/2/3"] {
            assert!(super::parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_shard_that_does_not_exist_is_refused_before_anything_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        for shard in [(0, 2), (3, 2), (1, 0)] {
            let spec = RunSpec {
                set: dir.path().join("missing.jsonl"),
                videos: dir.path().into(),
                out: dir.path().join("out"),
                shard: Some(shard),
                limit: None,
                mode: "fast".into(),
                settings: serde_json::Value::Null,
            };
            let e = run_set(&spec, || panic!("no session is started"), &mut |_| {}).expect_err("refused");
            assert!(matches!(e, Error::NoSuchShard { .. }), "{e}");
        }
    }
}
