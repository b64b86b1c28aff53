//! The content-addressed step cache.
//!
//! A step's key hashes its module, version, constant parameters and the keys
//! of its inputs (see [`crate::dataflow::fingerprints`]); inputs hash their
//! content (a video by its file bytes). Results live in memory for the
//! process and, for modules whose policy is [`CachePolicy::Disk`], on disk
//! under `<root>/<video hash>/`, so a later run of the same or an overlapping
//! program on the same video reuses them.
//!
//! Identical steps running at the same time are computed once: the second
//! waits for the first ("single flight").

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::OnceCell;

use crate::module::CachePolicy;
use crate::value::Value;

/// Where a step's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// Computed by this step.
    Miss,
    /// Found in memory (computed earlier, or by an identical step running alongside).
    Memory,
    /// Loaded from the on-disk cache.
    Disk,
    /// Not cached (the module's policy, or `--no-cache`).
    Off,
}

/// On-disk entry header: format magic and version, then one byte saying
/// whether the body is lz4-compressed (1) or raw (0), then BLAKE3 of that
/// byte and the body. A flipped byte anywhere (a raw frame's pixel decodes
/// without complaint) fails the checksum: the entry is ignored with a warning
/// and the step recomputes.
const MAGIC: &[u8; 8] = b"VPRGC\x00\x00\x03";
/// Length of the checksum after the encoding byte.
const CHECKSUM: usize = 32;
/// Compress only when it saves at least this share (decoded video frames
/// barely compress, and decompressing them would only cost a copy).
const MIN_COMPRESSION_SAVING: f64 = 0.2;

/// Cache errors worth a warning (they never fail a run: the step recomputes).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing an entry failed.
    #[error("cache entry {path}: {source}")]
    Io {
        /// The entry file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An entry exists but cannot be decoded.
    #[error("cache entry {path} is corrupt: {reason}")]
    Corrupt {
        /// The entry file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

struct Memory {
    values: HashMap<blake3::Hash, Value>,
    order: VecDeque<(blake3::Hash, usize)>,
    bytes: usize,
    budget: usize,
}

impl Memory {
    fn insert(&mut self, key: blake3::Hash, value: Value) {
        let size = value.approx_bytes();
        if size > self.budget || self.values.contains_key(&key) {
            return;
        }
        while self.bytes + size > self.budget {
            let Some((old, old_size)) = self.order.pop_front() else { break };
            if self.values.remove(&old).is_some() {
                self.bytes -= old_size;
            }
        }
        self.values.insert(key, value);
        self.order.push_back((key, size));
        self.bytes += size;
    }
}

/// When and how fast a cached value was computed in this process: a run
/// that reuses it (an `ask`'s final run, a later rollout) records the work
/// that produced it, not the lookup.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Computed {
    /// How long the computation took.
    pub duration: std::time::Duration,
    /// When it finished, milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

/// The step cache, shared by every run in a process.
pub struct Cache {
    enabled: bool,
    memory: Mutex<Memory>,
    computed: Mutex<HashMap<blake3::Hash, Computed>>,
    inflight: Mutex<HashMap<blake3::Hash, Arc<OnceCell<Value>>>>,
    disk: Option<PathBuf>,
    writes: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Cache {
    /// A cache in memory (up to `memory_budget` bytes) and, if `disk` is
    /// given, on disk under that directory.
    pub fn new(disk: Option<PathBuf>, memory_budget: usize) -> Cache {
        Cache {
            enabled: true,
            memory: Mutex::new(Memory { values: HashMap::new(), order: VecDeque::new(), bytes: 0, budget: memory_budget }),
            computed: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            disk,
            writes: Mutex::new(Vec::new()),
        }
    }

    /// A cache that stores nothing (`--no-cache`). Identical steps within
    /// one run are still merged by the planner.
    pub fn disabled() -> Cache {
        Cache { enabled: false, ..Cache::new(None, 0) }
    }

    /// The default on-disk location: `$VPROG_CACHE_DIR`, else the user's cache dir.
    pub fn default_dir() -> Option<PathBuf> {
        std::env::var_os("VPROG_CACHE_DIR").map(PathBuf::from).or_else(|| dirs::cache_dir().map(|d| d.join("vprog").join("steps")))
    }

    /// The on-disk root, if any.
    pub fn disk_root(&self) -> Option<&Path> {
        self.disk.as_deref()
    }

    fn entry_path(&self, scope: &str, key: &blake3::Hash) -> Option<PathBuf> {
        self.disk.as_ref().map(|root| root.join(scope).join(format!("{}.vpc", key.to_hex())))
    }

    /// Returns the cached value for `key`, or runs `compute` once (even when
    /// several identical steps ask at the same time) and caches its result.
    pub async fn get_or_compute<F, Fut, E>(
        &self,
        key: blake3::Hash,
        policy: CachePolicy,
        scope: &str,
        compute: F,
    ) -> Result<(Value, CacheStatus), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Value, E>>,
    {
        if !self.enabled || policy == CachePolicy::Never {
            return compute().await.map(|v| (v, CacheStatus::Off));
        }
        if let Some(v) = self.lock_memory().values.get(&key) {
            return Ok((v.clone(), CacheStatus::Memory));
        }
        let cell = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            inflight.entry(key).or_insert_with(|| Arc::new(OnceCell::new())).clone()
        };
        let mut status = CacheStatus::Memory;
        let result = cell
            .get_or_try_init(|| async {
                if policy == CachePolicy::Disk {
                    if let Some(v) = self.load(scope, &key).await {
                        status = CacheStatus::Disk;
                        return Ok(v);
                    }
                }
                let clock = std::time::Instant::now();
                let v = compute().await?;
                status = CacheStatus::Miss;
                let unix_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
                self.computed.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Computed { duration: clock.elapsed(), unix_ms });
                if policy == CachePolicy::Disk {
                    self.store(scope, key, v.clone());
                }
                Ok(v)
            })
            .await
            .cloned();
        if let Ok(v) = &result {
            self.lock_memory().insert(key, v.clone());
            self.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        }
        result.map(|v| (v, status))
    }

    /// When and how fast the value under `key` was computed in this process,
    /// if it was.
    pub fn computed(&self, key: &blake3::Hash) -> Option<Computed> {
        self.computed.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }

    /// The cached value for `key`, if any, without computing anything.
    pub async fn get(&self, key: blake3::Hash, policy: CachePolicy, scope: &str) -> Option<(Value, CacheStatus)> {
        if !self.enabled || policy == CachePolicy::Never {
            return None;
        }
        if let Some(v) = self.lock_memory().values.get(&key) {
            return Some((v.clone(), CacheStatus::Memory));
        }
        if policy == CachePolicy::Disk {
            if let Some(v) = self.load(scope, &key).await {
                self.lock_memory().insert(key, v.clone());
                return Some((v, CacheStatus::Disk));
            }
        }
        None
    }

    /// Caches `value` under `key` (in memory, and on disk when `policy` says so).
    pub fn put(&self, key: blake3::Hash, policy: CachePolicy, scope: &str, value: Value) {
        if !self.enabled || policy == CachePolicy::Never {
            return;
        }
        if policy == CachePolicy::Disk {
            self.store(scope, key, value.clone());
        }
        self.lock_memory().insert(key, value);
    }

    fn lock_memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn load(&self, scope: &str, key: &blake3::Hash) -> Option<Value> {
        let path = self.entry_path(scope, key)?;
        if !path.exists() {
            return None;
        }
        let p = path.clone();
        match tokio::task::spawn_blocking(move || read_entry(&p)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::warn!("{e}; recomputing");
                let _ = std::fs::remove_file(&path);
                None
            }
            Err(_) => None,
        }
    }

    fn store(&self, scope: &str, key: blake3::Hash, value: Value) {
        let Some(path) = self.entry_path(scope, &key) else { return };
        let handle = tokio::task::spawn_blocking(move || {
            if let Err(e) = write_entry(&path, &value) {
                tracing::warn!("could not write {e}");
            }
        });
        self.writes.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
    }

    /// Waits until every pending disk write has finished.
    pub async fn flush(&self) {
        let pending: Vec<_> = std::mem::take(&mut *self.writes.lock().unwrap_or_else(|p| p.into_inner()));
        for h in pending {
            let _ = h.await;
        }
    }

    /// Drops everything held in memory (the disk cache stays).
    pub fn clear_memory(&self) {
        let mut m = self.lock_memory();
        m.values.clear();
        m.order.clear();
        m.bytes = 0;
    }
}

fn write_entry(path: &Path, value: &Value) -> Result<(), CacheError> {
    let io = |source| CacheError::Io { path: path.to_path_buf(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let encoded = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| CacheError::Corrupt { path: path.to_path_buf(), reason: format!("cannot encode: {e}") })?;
    let compressed = lz4_flex::compress_prepend_size(&encoded);
    let (flag, body): (u8, &[u8]) =
        if (compressed.len() as f64) < encoded.len() as f64 * (1.0 - MIN_COMPRESSION_SAVING) { (1, &compressed) } else { (0, &encoded) };
    let sum = blake3::Hasher::new().update(&[flag]).update(body).finalize();
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(MAGIC).map_err(io)?;
    tmp.write_all(&[flag]).map_err(io)?;
    tmp.write_all(sum.as_bytes()).map_err(io)?;
    tmp.write_all(body).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn read_entry(path: &Path) -> Result<Value, CacheError> {
    let corrupt = |reason: String| CacheError::Corrupt { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|source| CacheError::Io { path: path.to_path_buf(), source })?;
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(|| corrupt("bad header (written by another vprog version?)".into()))?;
    if rest.len() < 1 + CHECKSUM {
        return Err(corrupt(format!("truncated: {} bytes", bytes.len())));
    }
    let (flag, rest) = rest.split_at(1);
    let (sum, body) = rest.split_at(CHECKSUM);
    if blake3::Hasher::new().update(flag).update(body).finalize().as_bytes() != sum {
        return Err(corrupt("checksum mismatch (the file was damaged after it was written)".into()));
    }
    let decompressed;
    let encoded: &[u8] = match (flag[0], body) {
        (0, raw) => raw,
        (1, lz4) => {
            decompressed = lz4_flex::decompress_size_prepended(lz4).map_err(|e| corrupt(e.to_string()))?;
            &decompressed
        }
        _ => return Err(corrupt("unknown body encoding".into())),
    };
    let (value, _) = bincode::serde::borrow_decode_from_slice(encoded, bincode::config::standard()).map_err(|e| corrupt(e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn disk_entries_survive_a_new_cache_and_corruption_recomputes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = blake3::hash(b"k");
        let c1 = Cache::new(Some(dir.path().to_path_buf()), 1 << 20);
        let (v, s) = c1.get_or_compute(key, CachePolicy::Disk, "vid", || async { Ok::<_, ()>(Value::Int(7)) }).await.expect("computes");
        assert!(matches!((v, s), (Value::Int(7), CacheStatus::Miss)));
        let (_, s) = c1.get_or_compute(key, CachePolicy::Disk, "vid", || async { Err::<Value, _>(()) }).await.expect("memory hit");
        assert_eq!(s, CacheStatus::Memory);
        c1.flush().await;

        let c2 = Cache::new(Some(dir.path().to_path_buf()), 1 << 20);
        let (v, s) = c2.get_or_compute(key, CachePolicy::Disk, "vid", || async { Err::<Value, _>(()) }).await.expect("disk hit");
        assert!(matches!((v, s), (Value::Int(7), CacheStatus::Disk)));

        let path = dir.path().join("vid").join(format!("{}.vpc", key.to_hex()));
        std::fs::write(&path, b"VPRGC\x00\x00\x03\x01garbage").expect("corrupt it");
        let c3 = Cache::new(Some(dir.path().to_path_buf()), 1 << 20);
        let (v, s) = c3.get_or_compute(key, CachePolicy::Disk, "vid", || async { Ok::<_, ()>(Value::Int(8)) }).await.expect("recomputes");
        assert!(matches!((v, s), (Value::Int(8), CacheStatus::Miss)));
    }

    /// A flipped byte anywhere in an entry (header, encoding, checksum,
    /// body) of every kind of value (compressed and raw bodies, step values
    /// and the notes kept beside them) is caught: the entry is not used and
    /// the step recomputes.
    #[tokio::test]
    async fn a_flipped_byte_in_any_entry_recomputes() {
        use crate::value::{Cue, Frame, TimedText};
        // Noise, as decoded frames nearly are: stored raw, not compressed.
        let mut rgb = vec![0u8; 16 * 8 * 3];
        blake3::Hasher::new().update(b"pixels").finalize_xof().fill(&mut rgb);
        let frame = Frame { time: 1.5, width: 16, height: 8, rgb: Arc::from(rgb) };
        let cue = |i: usize| Cue {
            start: i as f64,
            end: i as f64 + 1.0,
            text: format!("cue number {i}"),
            score: None,
            bbox: None,
            source: "subtitles:srt".into(),
        };
        let cues = TimedText { cues: (0..40).map(cue).collect() };
        let values = [
            ("int", Value::Int(7)),
            ("notes", Value::text("[[\"context\",\"rendered evidence\"]]")),
            ("frames, raw body", Value::Frames(Arc::new(vec![frame]))),
            ("cues, lz4 body", Value::TimedText(Arc::new(cues))),
        ];
        for (kind, value) in values {
            let dir = tempfile::tempdir().expect("tempdir");
            let key = blake3::hash(kind.as_bytes());
            let path = dir.path().join("vid").join(format!("{}.vpc", key.to_hex()));
            write_entry(&path, &value).expect("writes");
            let good = std::fs::read(&path).expect("reads");
            assert_eq!(read_entry(&path).expect("intact entry reads").content_hash(), value.content_hash(), "{kind}");
            let body_flag = good[MAGIC.len()];
            if kind.contains("raw") {
                assert_eq!(body_flag, 0, "{kind}: expected a raw body");
            } else if kind.contains("lz4") {
                assert_eq!(body_flag, 1, "{kind}: expected a compressed body");
            }
            for at in [3, MAGIC.len(), MAGIC.len() + 1, MAGIC.len() + 1 + CHECKSUM, good.len() / 2, good.len() - 1] {
                let mut bad = good.clone();
                bad[at] ^= 0x10;
                std::fs::write(&path, &bad).expect("damage");
                assert!(matches!(read_entry(&path), Err(CacheError::Corrupt { .. })), "{kind}: flip at {at} of {} not caught", good.len());
                let cache = Cache::new(Some(dir.path().to_path_buf()), 1 << 20);
                let (v, s) = cache
                    .get_or_compute(key, CachePolicy::Disk, "vid", || async { Ok::<_, ()>(Value::Int(-1)) })
                    .await
                    .expect("recomputes");
                assert!(matches!((v, s), (Value::Int(-1), CacheStatus::Miss)), "{kind}: flip at {at}");
                cache.flush().await;
                std::fs::write(&path, &good).expect("restore");
            }
        }
    }

    #[tokio::test]
    async fn identical_concurrent_requests_compute_once() {
        let cache = Arc::new(Cache::new(None, 1 << 20));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let key = blake3::hash(b"same");
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_compute(key, CachePolicy::Memory, "s", || async move {
                        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok::<_, ()>(Value::Int(1))
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.expect("joins").expect("computes");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn memory_budget_evicts_oldest() {
        let mut m = Memory { values: HashMap::new(), order: VecDeque::new(), bytes: 0, budget: 150 };
        m.insert(blake3::hash(b"a"), Value::Int(1));
        m.insert(blake3::hash(b"b"), Value::Int(2));
        m.insert(blake3::hash(b"c"), Value::Int(3));
        assert!(!m.values.contains_key(&blake3::hash(b"a")));
        assert!(m.values.contains_key(&blake3::hash(b"c")));
    }
}
