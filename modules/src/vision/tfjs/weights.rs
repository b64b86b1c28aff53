//! The weights of a TF.js graph model: the `weightsManifest` of
//! `model.json` and the binary shards it names.
//!
//! A manifest is a list of groups; each group names its shard files (read
//! in order and concatenated) and its weights, stored back to back in that
//! byte stream. A float32 weight is stored as float32 or, quantised, as
//! float16 (`quantization: {dtype: "float16"}`), which TF.js itself widens
//! to float32 on load; int32 weights (shapes, axes, paddings) are stored as
//! they are. uint8 affine quantisation is not supported (no model vprog
//! uses stores it).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use super::{GraphError, Value};

/// One manifest group.
#[derive(Debug, Deserialize)]
pub(crate) struct Group {
    paths: Vec<String>,
    weights: Vec<Entry>,
}

/// One weight of a group.
#[derive(Debug, Deserialize)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    #[serde(default)]
    quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
struct Quantization {
    dtype: String,
}

/// Reads every weight of `groups`, with shard paths relative to `dir`.
pub(crate) fn read(groups: &[Group], dir: &Path, device: &Device) -> Result<HashMap<String, Value>, GraphError> {
    let mut out = HashMap::new();
    for group in groups {
        let mut bytes = Vec::new();
        for p in &group.paths {
            let path = dir.join(p);
            let mut shard = std::fs::read(&path).map_err(|e| GraphError::Io { path: path.clone(), source: e })?;
            bytes.append(&mut shard);
        }
        let mut at = 0usize;
        for w in &group.weights {
            let n: usize = w.shape.iter().product();
            let (width, kind) = match (w.dtype.as_str(), w.quantization.as_ref().map(|q| q.dtype.as_str())) {
                ("float32", None) => (4, Kind::F32),
                ("float32", Some("float16")) => (2, Kind::F16),
                ("int32", None) => (4, Kind::I32),
                (dtype, q) => {
                    return Err(GraphError::Unsupported(format!(
                        "weight `{}` has dtype {dtype}{}",
                        w.name,
                        q.map(|q| format!(" quantised as {q}")).unwrap_or_default()
                    )))
                }
            };
            let len = n * width;
            let raw = bytes.get(at..at + len).ok_or_else(|| {
                GraphError::Malformed(format!(
                    "the weight shards {:?} hold {} bytes, too few for weight `{}` (bytes {at}..{})",
                    group.paths,
                    bytes.len(),
                    w.name,
                    at + len
                ))
            })?;
            at += len;
            let value = match kind {
                Kind::F32 => Value::Float(Tensor::from_raw_buffer(raw, DType::F32, &w.shape, device)?),
                Kind::F16 => Value::Float(Tensor::from_raw_buffer(raw, DType::F16, &w.shape, device)?.to_dtype(DType::F32)?),
                Kind::I32 => Value::Int {
                    data: raw.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect(),
                    shape: w.shape.clone(),
                },
            };
            out.insert(w.name.clone(), value);
        }
        if at != bytes.len() {
            return Err(GraphError::Malformed(format!(
                "the weight shards {:?} hold {} bytes but the manifest describes {at}",
                group.paths,
                bytes.len()
            )));
        }
    }
    Ok(out)
}

enum Kind {
    F32,
    F16,
    I32,
}
