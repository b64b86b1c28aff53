//! TensorFlow.js graph models on candle.
//!
//! A TF.js `graph-model` is a `model.json` (a TensorFlow `GraphDef` as
//! JSON, with a `weightsManifest`) and binary weight shards.
//! [`GraphModel::load`] parses the graph, decodes every node's operation
//! ([`ops`]; one this interpreter lacks is kept as unsupported) and reads the
//! weights ([`weights`]); [`GraphModel::check`] refuses, naming the node and
//! operation, any unsupported node the wanted outputs depend on (a model's
//! loader calls it, so the error comes at load); [`GraphModel::run`] evaluates the nodes the
//! requested outputs depend on, in dependency order, dropping each
//! intermediate after its last use.
//!
//! The operations are those of the detectors and segmenters vprog ships
//! (CenterNet, MediaPipe selfie/meet; see `scripts/goldens/tfjs/README.md`
//! for their op lists). A cyclic graph is an error when run, not a hang.

pub mod ops;
mod weights;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use candle_core::{Device, Tensor};
use serde::Deserialize;

use ops::Padding;

/// What can go wrong loading or running a graph model.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The JSON or the weights do not describe a well-formed model.
    #[error("malformed TF.js graph model: {0}")]
    Malformed(String),
    /// An operation, attribute or dtype this interpreter does not implement.
    #[error("unsupported in a TF.js graph: {0}")]
    Unsupported(String),
    /// Shapes that do not fit the operation.
    #[error("shape error: {0}")]
    Shape(String),
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// A node's value: a float tensor, or a small host-side int32 tensor
/// (shapes, axes, paddings, permutations).
#[derive(Debug, Clone)]
pub enum Value {
    /// Float32 data.
    Float(Tensor),
    /// Int32 data, widened.
    Int {
        /// Row-major values.
        data: Vec<i64>,
        /// Shape.
        shape: Vec<usize>,
    },
}

/// One operation with its attributes, decoded at load time.
#[derive(Debug, Clone)]
enum Op {
    Placeholder,
    Const,
    Identity,
    /// `Conv2D` / `_FusedConv2D`.
    Conv {
        stride: (usize, usize),
        padding: Padding,
        fused: Vec<Fused>,
    },
    /// `DepthwiseConv2dNative` / `FusedDepthwiseConv2dNative`.
    Depthwise {
        stride: (usize, usize),
        padding: Padding,
        fused: Vec<Fused>,
    },
    /// `Conv2DBackpropInput`.
    ConvTranspose {
        stride: (usize, usize),
        padding: Padding,
    },
    Binary(Binary),
    AddN,
    BiasAdd,
    Relu,
    Relu6,
    Sigmoid,
    Tanh,
    LeakyRelu(f32),
    Mean {
        keep_dims: bool,
    },
    Pool {
        max: bool,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
    },
    Resize {
        align_corners: bool,
        half_pixel_centers: bool,
    },
    Concat,
    Reshape,
    Transpose,
    Pad,
    MatMul {
        transpose_a: bool,
        transpose_b: bool,
    },
    /// An operation this interpreter does not implement: an error only
    /// when a requested output depends on it ([`GraphModel::check`]).
    Unsupported(String),
}

#[derive(Debug, Clone, Copy)]
enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
}

/// An activation fused into a convolution (after `BiasAdd`).
#[derive(Debug, Clone, Copy)]
enum Fused {
    BiasAdd,
    Relu,
    Relu6,
    LeakyRelu(f32),
}

#[derive(Debug)]
struct Node {
    name: String,
    op_name: String,
    op: Op,
    /// Producing node indices (output 0 of each).
    inputs: Vec<usize>,
}

/// A loaded TF.js graph model.
#[derive(Debug)]
pub struct GraphModel {
    nodes: Vec<Node>,
    by_name: HashMap<String, usize>,
    consts: HashMap<usize, Value>,
    /// The `signature` inputs: name → shape (−1 for unknown).
    pub inputs: Vec<(String, Vec<i64>)>,
    /// The `signature` outputs.
    pub outputs: Vec<(String, Vec<i64>)>,
    device: Device,
}

#[derive(Deserialize)]
struct ModelJson {
    format: Option<String>,
    #[serde(rename = "modelTopology")]
    topology: Topology,
    #[serde(rename = "weightsManifest")]
    manifest: Vec<weights::Group>,
    #[serde(default)]
    signature: Option<Signature>,
}

#[derive(Deserialize)]
struct Topology {
    node: Vec<NodeJson>,
    #[serde(default)]
    library: serde_json::Value,
}

#[derive(Deserialize)]
struct NodeJson {
    name: String,
    op: String,
    #[serde(default)]
    input: Vec<String>,
    #[serde(default)]
    attr: HashMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Signature {
    #[serde(default)]
    inputs: HashMap<String, TensorInfo>,
    #[serde(default)]
    outputs: HashMap<String, TensorInfo>,
}

#[derive(Deserialize)]
struct TensorInfo {
    name: String,
    #[serde(rename = "tensorShape", default)]
    shape: Option<ShapeJson>,
}

#[derive(Deserialize)]
struct ShapeJson {
    #[serde(default)]
    dim: Vec<DimJson>,
}

#[derive(Deserialize)]
struct DimJson {
    #[serde(default)]
    size: Option<String>,
}

impl GraphModel {
    /// Loads `model.json` at `path` and the weight shards beside it.
    ///
    /// # Errors
    ///
    /// [`GraphError::Io`] / [`GraphError::Malformed`] for unreadable or
    /// inconsistent files (a truncated shard is caught by its byte count),
    /// [`GraphError::Unsupported`] for a format other than `graph-model` or
    /// a graph with functions (control flow). Nodes this interpreter does not
    /// implement load as unsupported; [`GraphModel::check`] reports them.
    pub fn load(path: &Path, device: &Device) -> Result<GraphModel, GraphError> {
        let text = std::fs::read(path).map_err(|e| GraphError::Io { path: path.to_path_buf(), source: e })?;
        let json: ModelJson = serde_json::from_slice(&text).map_err(|e| GraphError::Malformed(format!("{}: {e}", path.display())))?;
        if json.format.as_deref().is_some_and(|f| f != "graph-model") {
            return Err(GraphError::Unsupported(format!("format `{}` (only `graph-model`)", json.format.unwrap_or_default())));
        }
        if json.topology.library.get("function").and_then(|f| f.as_array()).is_some_and(|f| !f.is_empty()) {
            return Err(GraphError::Unsupported("graph functions (control flow)".into()));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut weights = weights::read(&json.manifest, dir, device)?;

        let by_name: HashMap<String, usize> = json.topology.node.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
        let mut nodes = Vec::with_capacity(json.topology.node.len());
        let mut consts = HashMap::new();
        for (i, n) in json.topology.node.iter().enumerate() {
            let mut op = match decode_op(n) {
                Ok(op) => op,
                Err(GraphError::Unsupported(m)) => Op::Unsupported(format!("node `{}` ({}): {m}", n.name, n.op)),
                Err(e) => return Err(e),
            };
            let mut inputs = Vec::new();
            for input in &n.input {
                if input.starts_with('^') {
                    continue; // control dependency: order only
                }
                let (name, port) = match input.rsplit_once(':') {
                    Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => (name, port),
                    _ => (input.as_str(), "0"),
                };
                if port != "0" && !matches!(op, Op::Unsupported(_)) {
                    // Only single-output operations are implemented; a node
                    // reading another port fails when (if ever) it is run.
                    op = Op::Unsupported(format!("node `{}` reads output {port} of `{name}` (multi-output operations)", n.name));
                }
                let idx = *by_name
                    .get(name)
                    .ok_or_else(|| GraphError::Malformed(format!("node `{}` reads `{name}`, which is not in the graph", n.name)))?;
                inputs.push(idx);
            }
            if matches!(op, Op::Const) {
                let v = weights
                    .remove(&n.name)
                    .ok_or_else(|| GraphError::Malformed(format!("constant `{}` has no weight in the manifest", n.name)))?;
                consts.insert(i, v);
            }
            nodes.push(Node { name: n.name.clone(), op_name: n.op.clone(), op, inputs });
        }
        let shapes = |m: &HashMap<String, TensorInfo>| {
            let mut v: Vec<(String, Vec<i64>)> = m
                .values()
                .map(|t| {
                    let dims = t
                        .shape
                        .as_ref()
                        .map(|s| s.dim.iter().map(|d| d.size.as_deref().and_then(|s| s.parse().ok()).unwrap_or(-1)).collect());
                    (t.name.clone(), dims.unwrap_or_default())
                })
                .collect();
            v.sort();
            v
        };
        let (inputs, outputs) = json.signature.as_ref().map(|s| (shapes(&s.inputs), shapes(&s.outputs))).unwrap_or_default();
        Ok(GraphModel { nodes, by_name, consts, inputs, outputs, device: device.clone() })
    }

    /// Checks that every node `outputs` depend on is implemented.
    ///
    /// # Errors
    ///
    /// [`GraphError::Unsupported`] naming the first such node, or
    /// [`GraphError::Malformed`] for an output the graph lacks.
    pub fn check(&self, outputs: &[&str]) -> Result<(), GraphError> {
        for &i in &self.order(&self.indices(outputs)?) {
            if let Op::Unsupported(m) = &self.nodes[i].op {
                return Err(GraphError::Unsupported(m.clone()));
            }
        }
        Ok(())
    }

    fn indices(&self, outputs: &[&str]) -> Result<Vec<usize>, GraphError> {
        outputs
            .iter()
            .map(|o| self.by_name.get(*o).copied().ok_or_else(|| GraphError::Malformed(format!("the graph has no node `{o}`"))))
            .collect()
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A float constant of the graph, by node name.
    pub fn constant(&self, name: &str) -> Option<&Value> {
        self.by_name.get(name).and_then(|i| self.consts.get(i))
    }

    /// Evaluates `outputs` with the placeholders fed from `feeds`.
    ///
    /// # Errors
    ///
    /// [`GraphError::Malformed`] for an unknown output or an unfed
    /// placeholder; [`GraphError::Shape`] / [`GraphError::Tensor`] when an
    /// operation does not fit its inputs, naming the node.
    pub fn run(&self, feeds: &[(&str, Tensor)], outputs: &[&str]) -> Result<Vec<Tensor>, GraphError> {
        let wanted = self.indices(outputs)?;
        let order = self.order(&wanted);
        // Remaining uses of each value, so intermediates are freed early.
        let mut uses = vec![0usize; self.nodes.len()];
        for &i in &order {
            for &j in &self.nodes[i].inputs {
                uses[j] += 1;
            }
        }
        for &w in &wanted {
            uses[w] += 1;
        }
        let mut values: Vec<Option<Value>> = vec![None; self.nodes.len()];
        for &i in &order {
            let node = &self.nodes[i];
            let args = node
                .inputs
                .iter()
                .map(|&j| {
                    values[j]
                        .clone()
                        .ok_or_else(|| GraphError::Malformed(format!("`{}` is used before it is computed", self.nodes[j].name)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let value = match node.op {
                Op::Placeholder => {
                    let fed = feeds
                        .iter()
                        .find(|(n, _)| *n == node.name)
                        .ok_or_else(|| GraphError::Malformed(format!("input `{}` was not fed", node.name)))?;
                    Value::Float(fed.1.clone())
                }
                Op::Const => {
                    self.consts.get(&i).cloned().ok_or_else(|| GraphError::Malformed(format!("constant `{}` has no value", node.name)))?
                }
                _ => eval(&node.op, &args).map_err(|e| match e {
                    GraphError::Shape(m) => GraphError::Shape(format!("node `{}` ({}): {m}", node.name, node.op_name)),
                    GraphError::Tensor(t) => GraphError::Shape(format!("node `{}` ({}): {t}", node.name, node.op_name)),
                    e => e,
                })?,
            };
            values[i] = Some(value);
            for &j in &node.inputs {
                uses[j] -= 1;
                if uses[j] == 0 {
                    values[j] = None;
                }
            }
        }
        wanted
            .iter()
            .map(|&w| match values[w].take() {
                Some(Value::Float(t)) => Ok(t),
                _ => Err(GraphError::Malformed(format!("output `{}` is not a float tensor", self.nodes[w].name))),
            })
            .collect()
    }

    /// The nodes `wanted` depends on, each after its inputs.
    fn order(&self, wanted: &[usize]) -> Vec<usize> {
        let mut state = vec![0u8; self.nodes.len()]; // 0 new, 1 open, 2 done
        let mut order = Vec::new();
        for &w in wanted {
            let mut stack = vec![(w, false)];
            while let Some((i, expanded)) = stack.pop() {
                if expanded {
                    state[i] = 2;
                    order.push(i);
                    continue;
                }
                if state[i] != 0 {
                    continue;
                }
                state[i] = 1;
                stack.push((i, true));
                for &j in self.nodes[i].inputs.iter().rev() {
                    if state[j] == 0 {
                        stack.push((j, false));
                    }
                }
            }
        }
        order
    }
}

fn float<'a>(v: &'a Value, what: &str) -> Result<&'a Tensor, GraphError> {
    match v {
        Value::Float(t) => Ok(t),
        Value::Int { .. } => Err(GraphError::Unsupported(format!("an int32 tensor as {what}"))),
    }
}

fn ints<'a>(v: &'a Value, what: &str) -> Result<&'a [i64], GraphError> {
    match v {
        Value::Int { data, .. } => Ok(data),
        Value::Float(_) => Err(GraphError::Unsupported(format!("a computed float tensor as {what} (only int32 constants)"))),
    }
}

fn arg(args: &[Value], i: usize) -> Result<&Value, GraphError> {
    args.get(i).ok_or_else(|| GraphError::Shape(format!("missing input {i}")))
}

fn eval(op: &Op, args: &[Value]) -> Result<Value, GraphError> {
    let x = || float(arg(args, 0)?, "the data input");
    let t = match op {
        Op::Placeholder | Op::Const => unreachable_op()?,
        Op::Unsupported(m) => return Err(GraphError::Unsupported(m.clone())),
        Op::Identity => return arg(args, 0).cloned(),
        Op::Conv { stride, padding, fused } => {
            let y = ops::conv2d(x()?, float(arg(args, 1)?, "a filter")?, *stride, *padding)?;
            apply_fused(y, fused, args)?
        }
        Op::Depthwise { stride, padding, fused } => {
            let y = ops::depthwise_conv2d(x()?, float(arg(args, 1)?, "a filter")?, *stride, *padding)?;
            apply_fused(y, fused, args)?
        }
        Op::ConvTranspose { stride, padding } => {
            let shape = ints(arg(args, 0)?, "an output shape")?;
            let [_, h, w, _] = shape else { return Err(GraphError::Shape(format!("output shape {shape:?}"))) };
            let filter = float(arg(args, 1)?, "a filter")?;
            ops::conv2d_transpose(float(arg(args, 2)?, "the data input")?, filter, (*h as usize, *w as usize), *stride, *padding)?
        }
        Op::Binary(b) => {
            let (a, c) = (x()?, float(arg(args, 1)?, "an operand")?);
            match b {
                Binary::Add => a.broadcast_add(c)?,
                Binary::Sub => a.broadcast_sub(c)?,
                Binary::Mul => a.broadcast_mul(c)?,
                Binary::Div => a.broadcast_div(c)?,
                Binary::Maximum => a.broadcast_maximum(c)?,
                Binary::Minimum => a.broadcast_minimum(c)?,
            }
        }
        Op::AddN => {
            let mut acc = x()?.clone();
            for v in &args[1..] {
                acc = acc.broadcast_add(float(v, "an operand")?)?;
            }
            acc
        }
        Op::BiasAdd => x()?.broadcast_add(float(arg(args, 1)?, "a bias")?)?,
        Op::Relu => x()?.relu()?,
        Op::Relu6 => ops::relu6(x()?)?,
        Op::Sigmoid => ops::sigmoid(x()?)?,
        Op::Tanh => x()?.tanh()?,
        Op::LeakyRelu(alpha) => ops::leaky_relu(x()?, *alpha)?,
        Op::Mean { keep_dims } => ops::mean(x()?, ints(arg(args, 1)?, "axes")?, *keep_dims)?,
        Op::Pool { max, kernel, stride, padding } => ops::pool(x()?, *kernel, *stride, *padding, *max)?,
        Op::Resize { align_corners, half_pixel_centers } => {
            let size = ints(arg(args, 1)?, "a size")?;
            let [h, w] = size else { return Err(GraphError::Shape(format!("resize size {size:?}"))) };
            ops::resize_bilinear(x()?, (*h as usize, *w as usize), *align_corners, *half_pixel_centers)?
        }
        Op::Concat => {
            let (last, rest) = args.split_last().ok_or_else(|| GraphError::Shape("ConcatV2 without inputs".into()))?;
            let a = ints(last, "an axis")?;
            let parts = rest.iter().map(|v| float(v, "a concatenated tensor")).collect::<Result<Vec<_>, _>>()?;
            let rank = parts.first().map(|p| p.rank()).unwrap_or(0);
            Tensor::cat(&parts, ops::axis(a.first().copied().unwrap_or(0), rank)?)?
        }
        Op::Reshape => ops::reshape(x()?, ints(arg(args, 1)?, "a shape")?)?,
        Op::Transpose => {
            let perm = ints(arg(args, 1)?, "a permutation")?;
            let t = x()?;
            let perm = perm.iter().map(|&p| ops::axis(p, t.rank())).collect::<Result<Vec<_>, _>>()?;
            t.permute(perm)?
        }
        Op::Pad => {
            let fill = match args.get(2) {
                Some(v) => float(v, "a pad value")?.flatten_all()?.to_vec1::<f32>()?.first().copied().unwrap_or(0.0),
                None => 0.0,
            };
            ops::pad(x()?, ints(arg(args, 1)?, "paddings")?, fill)?
        }
        Op::MatMul { transpose_a, transpose_b } => {
            let a = x()?;
            let b = float(arg(args, 1)?, "a matrix")?;
            let a = if *transpose_a { a.t()? } else { a.clone() };
            let b = if *transpose_b { b.t()? } else { b.clone() };
            a.contiguous()?.matmul(&b.contiguous()?)?
        }
    };
    Ok(Value::Float(t))
}

fn unreachable_op() -> Result<Tensor, GraphError> {
    Err(GraphError::Malformed("a placeholder or constant evaluated as an operation".into()))
}

fn apply_fused(mut y: Tensor, fused: &[Fused], args: &[Value]) -> Result<Tensor, GraphError> {
    for f in fused {
        y = match f {
            Fused::BiasAdd => y.broadcast_add(float(arg(args, 2)?, "a fused bias")?)?,
            Fused::Relu => y.relu()?,
            Fused::Relu6 => ops::relu6(&y)?,
            Fused::LeakyRelu(a) => ops::leaky_relu(&y, *a)?,
        };
    }
    Ok(y)
}

/// Attribute readers over the JSON `AttrValue` encoding.
fn attr_str(n: &NodeJson, key: &str) -> Option<String> {
    let s = n.attr.get(key)?.get("s")?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(s).ok().and_then(|b| String::from_utf8(b).ok())
}

fn attr_list_str(n: &NodeJson, key: &str) -> Vec<String> {
    let Some(list) = n.attr.get(key).and_then(|a| a.get("list")).and_then(|l| l.get("s")).and_then(|s| s.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|s| s.as_str())
        .filter_map(|s| base64::engine::general_purpose::STANDARD.decode(s).ok().and_then(|b| String::from_utf8(b).ok()))
        .collect()
}

fn attr_list_int(n: &NodeJson, key: &str) -> Option<Vec<i64>> {
    let list = n.attr.get(key)?.get("list")?.get("i")?.as_array()?;
    list.iter().map(|v| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_i64())).collect()
}

fn attr_bool(n: &NodeJson, key: &str) -> bool {
    n.attr.get(key).and_then(|a| a.get("b")).and_then(|b| b.as_bool()).unwrap_or(false)
}

fn attr_float(n: &NodeJson, key: &str) -> Option<f32> {
    n.attr.get(key)?.get("f")?.as_f64().map(|f| f as f32)
}

/// `(h, w)` from an NHWC `[1, h, w, 1]` attribute.
fn spatial(n: &NodeJson, key: &str) -> Result<(usize, usize), GraphError> {
    match attr_list_int(n, key).as_deref() {
        Some([1, h, w, 1]) if *h > 0 && *w > 0 => Ok((*h as usize, *w as usize)),
        other => Err(GraphError::Unsupported(format!("{key} = {other:?} (only NHWC [1, h, w, 1])"))),
    }
}

fn padding(n: &NodeJson) -> Result<Padding, GraphError> {
    match attr_str(n, "padding").as_deref() {
        Some("SAME") => Ok(Padding::Same),
        Some("VALID") => Ok(Padding::Valid),
        other => Err(GraphError::Unsupported(format!("padding {other:?}"))),
    }
}

fn check_conv_attrs(n: &NodeJson) -> Result<(), GraphError> {
    if let Some(f) = attr_str(n, "data_format") {
        if f != "NHWC" {
            return Err(GraphError::Unsupported(format!("data_format {f}")));
        }
    }
    if let Some(d) = attr_list_int(n, "dilations") {
        if d.iter().any(|&d| d != 1) {
            return Err(GraphError::Unsupported(format!("dilations {d:?}")));
        }
    }
    Ok(())
}

fn fused(n: &NodeJson) -> Result<Vec<Fused>, GraphError> {
    attr_list_str(n, "fused_ops")
        .iter()
        .map(|f| match f.as_str() {
            "BiasAdd" => Ok(Fused::BiasAdd),
            "Relu" => Ok(Fused::Relu),
            "Relu6" => Ok(Fused::Relu6),
            "LeakyRelu" => Ok(Fused::LeakyRelu(attr_float(n, "leakyrelu_alpha").unwrap_or(0.2))),
            other => Err(GraphError::Unsupported(format!("fused op {other}"))),
        })
        .collect()
}

fn decode_op(n: &NodeJson) -> Result<Op, GraphError> {
    Ok(match n.op.as_str() {
        "Placeholder" => Op::Placeholder,
        "Const" => Op::Const,
        "Identity" => Op::Identity,
        "Conv2D" | "_FusedConv2D" => {
            check_conv_attrs(n)?;
            Op::Conv { stride: spatial(n, "strides")?, padding: padding(n)?, fused: fused(n)? }
        }
        "DepthwiseConv2dNative" | "FusedDepthwiseConv2dNative" => {
            check_conv_attrs(n)?;
            Op::Depthwise { stride: spatial(n, "strides")?, padding: padding(n)?, fused: fused(n)? }
        }
        "Conv2DBackpropInput" => {
            check_conv_attrs(n)?;
            Op::ConvTranspose { stride: spatial(n, "strides")?, padding: padding(n)? }
        }
        "Add" | "AddV2" => Op::Binary(Binary::Add),
        "Sub" => Op::Binary(Binary::Sub),
        "Mul" => Op::Binary(Binary::Mul),
        "RealDiv" | "Div" => Op::Binary(Binary::Div),
        "Maximum" => Op::Binary(Binary::Maximum),
        "Minimum" => Op::Binary(Binary::Minimum),
        "AddN" => Op::AddN,
        "BiasAdd" => Op::BiasAdd,
        "Relu" => Op::Relu,
        "Relu6" => Op::Relu6,
        "Sigmoid" => Op::Sigmoid,
        "Tanh" => Op::Tanh,
        "LeakyRelu" => Op::LeakyRelu(attr_float(n, "alpha").unwrap_or(0.2)),
        "Mean" => Op::Mean { keep_dims: attr_bool(n, "keep_dims") },
        "MaxPool" | "AvgPool" => {
            check_conv_attrs(n)?;
            Op::Pool { max: n.op == "MaxPool", kernel: spatial(n, "ksize")?, stride: spatial(n, "strides")?, padding: padding(n)? }
        }
        "ResizeBilinear" => {
            Op::Resize { align_corners: attr_bool(n, "align_corners"), half_pixel_centers: attr_bool(n, "half_pixel_centers") }
        }
        "ConcatV2" => Op::Concat,
        "Reshape" => Op::Reshape,
        "Transpose" => Op::Transpose,
        "Pad" | "PadV2" => Op::Pad,
        "MatMul" => Op::MatMul { transpose_a: attr_bool(n, "transpose_a"), transpose_b: attr_bool(n, "transpose_b") },
        other => return Err(GraphError::Unsupported(format!("operation {other}"))),
    })
}
