//! Loading the PP-OCR ONNX files into tract and running them at concrete
//! input shapes.
//!
//! tract optimises a network for one input shape; PP-OCR's inputs vary (the
//! detector with the frame size, the recogniser with the line's width), and
//! tract's symbolic shapes either fail to analyse these graphs (the
//! detector's FPN concatenation) or run 3-4× slower (the recogniser). So a
//! [`Network`] keeps the parsed graph and optimises a plan per concrete shape
//! on first use, cached ([`MAX_PLANS`] at most; callers bucket shapes).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tract_onnx::prelude::*;
use vprog_runtime::ModuleError;

/// Plans kept per network; past this the cache is cleared (shapes come from a few buckets).
pub const MAX_PLANS: usize = 32;

/// An optimised, runnable network.
type Plan = std::sync::Arc<TypedRunnableModel>;

/// One ONNX network, with a plan per input shape.
pub struct Network {
    /// What it is, for errors (e.g. `PP-OCR text detector`).
    what: &'static str,
    /// The file it came from.
    path: PathBuf,
    model: InferenceModel,
    /// The file's `metadata_props`.
    metadata: HashMap<String, String>,
    plans: Mutex<HashMap<Vec<usize>, Plan>>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").field("what", &self.what).field("path", &self.path).finish_non_exhaustive()
    }
}

/// The model error for a file that does not load or run, naming the reinstall command.
pub(crate) fn bad_model(what: &str, path: &Path, reason: impl std::fmt::Display) -> ModuleError {
    ModuleError::BadModel {
        model: what.to_string(),
        path: path.to_path_buf(),
        reason: format!("{reason}; reinstall it with `vprog models fetch {} --force`", vprog_models::catalog::PP_OCR_V6),
    }
}

impl Network {
    /// Parses `path`.
    ///
    /// PP-OCRv6's files carry a `graph.value_info` section whose shapes
    /// tract's analyser rejects ("Failed analyse for node #170 Conv.0"); it
    /// only annotates intermediate tensors, so it is dropped in memory (the
    /// installed file keeps its pinned SHA-256).
    ///
    /// # Errors
    ///
    /// [`ModuleError::BadModel`] when the file is not a loadable ONNX model.
    pub fn load(what: &'static str, path: &Path) -> Result<Network, ModuleError> {
        let onnx = tract_onnx::onnx();
        let mut proto = onnx.proto_model_for_path(path).map_err(|e| bad_model(what, path, format!("not a readable ONNX file: {e}")))?;
        if let Some(graph) = proto.graph.as_mut() {
            graph.value_info.clear();
        }
        let metadata = proto.metadata_props.iter().map(|p| (p.key.clone(), p.value.clone())).collect();
        let model = onnx.model_for_proto_model(&proto).map_err(|e| bad_model(what, path, format!("ONNX graph does not load: {e}")))?;
        Ok(Network { what, path: path.to_path_buf(), model, metadata, plans: Mutex::new(HashMap::new()) })
    }

    /// The metadata value under `key`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The plan for an f32 input of `shape` (optimised on first use).
    fn plan(&self, shape: &[usize]) -> Result<Plan, ModuleError> {
        if let Some(p) = self.plans.lock().map_err(|_| ModuleError::Failed(format!("{}: plan cache poisoned", self.what)))?.get(shape) {
            return Ok(p.clone());
        }
        let plan = self
            .model
            .clone()
            .with_input_fact(0, f32::fact(shape).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| bad_model(self.what, &self.path, format!("cannot be prepared for input {shape:?}: {e}")))?;
        let mut plans = self.plans.lock().map_err(|_| ModuleError::Failed(format!("{}: plan cache poisoned", self.what)))?;
        if plans.len() >= MAX_PLANS {
            plans.clear();
        }
        plans.insert(shape.to_vec(), plan.clone());
        Ok(plan)
    }

    /// Runs the network on `input` (row-major f32 of `shape`); its first
    /// output as `(shape, data)`.
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when tract fails at run time.
    pub fn run(&self, shape: &[usize], input: Vec<f32>) -> Result<(Vec<usize>, Vec<f32>), ModuleError> {
        let tensor = Tensor::from_shape(shape, &input).map_err(|e| ModuleError::Failed(format!("{}: input {shape:?}: {e}", self.what)))?;
        let plan = self.plan(shape)?;
        let out = plan.run(tvec!(tensor.into())).map_err(|e| ModuleError::Failed(format!("{} on input {shape:?}: {e}", self.what)))?;
        let first = out.first().ok_or_else(|| ModuleError::Failed(format!("{} returned no output", self.what)))?;
        let view = first.to_plain_array_view::<f32>().map_err(|e| ModuleError::Failed(format!("{}: output is not f32: {e}", self.what)))?;
        Ok((view.shape().to_vec(), view.iter().copied().collect()))
    }
}
