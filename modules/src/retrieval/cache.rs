//! The cue-embedding cache: embeddings of a list of cue texts, in memory for
//! the process and on disk across processes, so a second query on the same
//! video embeds only the query.
//!
//! The key is BLAKE3 of the model id and every cue text (length-prefixed, in
//! order). On disk an entry is `<dir>/<key>.emb`: the magic `VPEMB001`, the
//! number of vectors and their length (u32 little-endian each), the vectors
//! (f32 little-endian) and BLAKE3 of everything before it. Entries are
//! written to a temporary file in the same directory and renamed into place,
//! so readers never see half a file; an entry that is short, has the wrong
//! shape or fails its checksum is ignored (and rewritten by the caller).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const MAGIC: &[u8; 8] = b"VPEMB001";
const HEADER: usize = 8 + 4 + 4;

/// Most entries kept in memory (then the oldest half is dropped).
const MEMORY_ENTRIES: usize = 256;

/// Row-major embeddings of `n` texts.
pub type Vectors = Arc<Vec<Vec<f32>>>;

/// The cache key of `texts` embedded by model `model`.
pub fn key(model: &str, texts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"vprog-cue-embeddings\0");
    h.update(&(model.len() as u64).to_le_bytes());
    h.update(model.as_bytes());
    h.update(&(texts.len() as u64).to_le_bytes());
    for t in texts {
        h.update(&(t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Where a lookup found the vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// In this process's memory.
    Memory,
    /// In the on-disk cache.
    Disk,
}

/// Why an on-disk entry was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No entry (or no disk cache).
    Absent,
    /// An entry that is damaged or of another shape; the reason.
    Corrupt(String),
}

/// The embedding cache of one module instance.
#[derive(Debug)]
pub struct EmbeddingCache {
    memory: Mutex<(Vec<String>, HashMap<String, Vectors>)>,
    dir: Option<PathBuf>,
}

/// The default on-disk location: `$VPROG_CACHE_DIR/embeddings`, else
/// `<user cache dir>/vprog/embeddings`; `None` when neither exists.
pub fn default_dir() -> Option<PathBuf> {
    match std::env::var_os("VPROG_CACHE_DIR") {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v).join("embeddings")),
        _ => dirs::cache_dir().map(|d| d.join("vprog").join("embeddings")),
    }
}

impl EmbeddingCache {
    /// A cache with memory and, when `dir` is given, disk.
    pub fn new(dir: Option<PathBuf>) -> EmbeddingCache {
        EmbeddingCache { memory: Mutex::new((Vec::new(), HashMap::new())), dir }
    }

    /// The on-disk directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{key}.emb")))
    }

    /// The vectors under `key`, expected to be `n` vectors of length `dim`:
    /// from memory, else from disk (then kept in memory too).
    pub fn get(&self, key: &str, n: usize, dim: usize) -> Result<(Vectors, Hit), Miss> {
        if let Some(v) = self.memory.lock().unwrap_or_else(|p| p.into_inner()).1.get(key) {
            if v.len() == n && v.iter().all(|x| x.len() == dim) {
                return Ok((v.clone(), Hit::Memory));
            }
        }
        let Some(path) = self.path(key) else { return Err(Miss::Absent) };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
            Err(e) => return Err(Miss::Corrupt(format!("unreadable: {e}"))),
        };
        let vectors = Arc::new(decode(&bytes, n, dim).map_err(Miss::Corrupt)?);
        self.remember(key, vectors.clone());
        Ok((vectors, Hit::Disk))
    }

    /// Stores `vectors` under `key` in memory and on disk. A disk write that
    /// fails is returned as its reason (the memory entry stays).
    pub fn put(&self, key: &str, vectors: Vectors) -> Result<(), String> {
        self.remember(key, vectors.clone());
        let (Some(dir), Some(path)) = (&self.dir, self.path(key)) else { return Ok(()) };
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        write_atomically(dir, &path, &encode(&vectors)).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn remember(&self, key: &str, vectors: Vectors) {
        let mut guard = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let (order, map) = &mut *guard;
        if map.insert(key.to_string(), vectors).is_none() {
            order.push(key.to_string());
        }
        if order.len() > MEMORY_ENTRIES {
            for old in order.drain(..MEMORY_ENTRIES / 2) {
                map.remove(&old);
            }
        }
    }
}

fn encode(vectors: &[Vec<f32>]) -> Vec<u8> {
    let dim = vectors.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(HEADER + vectors.len() * dim * 4 + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(vectors.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    for v in vectors {
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

fn decode(bytes: &[u8], n: usize, dim: usize) -> Result<Vec<Vec<f32>>, String> {
    let body_len = HEADER + n * dim * 4;
    if bytes.len() != body_len + 32 {
        return Err(format!("{} bytes, expected {}", bytes.len(), body_len + 32));
    }
    let (body, sum) = bytes.split_at(body_len);
    if &body[..8] != MAGIC {
        return Err("not an embedding cache file".into());
    }
    let word = |i: usize| body.get(i..i + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).unwrap_or_default();
    let (got_n, got_dim) = (u32::from_le_bytes(word(8)) as usize, u32::from_le_bytes(word(12)) as usize);
    if (got_n, got_dim) != (n, dim) {
        return Err(format!("holds {got_n} vectors of {got_dim}, expected {n} of {dim}"));
    }
    if blake3::hash(body).as_bytes() != sum {
        return Err("checksum mismatch".into());
    }
    Ok(body[HEADER..]
        .chunks_exact(dim.max(1) * 4)
        .take(n)
        .map(|row| row.chunks_exact(4).map(|b| f32::from_le_bytes(word_of(b))).collect())
        .collect())
}

fn word_of(b: &[u8]) -> [u8; 4] {
    <[u8; 4]>::try_from(b).unwrap_or_default()
}

/// Writes `bytes` to a fresh temporary file in `dir`, syncs it and renames it to `path`.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let v = vec![vec![1.0f32, -2.5], vec![0.25, 3.0], vec![0.0, 1e-7]];
        let bytes = encode(&v);
        assert_eq!(decode(&bytes, 3, 2).as_ref(), Ok(&v));
        assert!(decode(&bytes, 3, 3).is_err());
        assert!(decode(&bytes[..bytes.len() - 1], 3, 2).is_err());
        let mut flipped = bytes.clone();
        flipped[HEADER + 1] ^= 1;
        assert_eq!(decode(&flipped, 3, 2), Err("checksum mismatch".to_string()));
        assert!(decode(&[], 0, 2).is_err());
        assert_ne!(key("m", &["a", "bc"]), key("m", &["ab", "c"]));
        assert_ne!(key("m", &["a"]), key("n", &["a"]));
    }
}
