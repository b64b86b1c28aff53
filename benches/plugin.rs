//! WebAssembly plugins against built-in modules:
//! - per-call overhead: a trivial plugin call (`dominant_colour` on no
//!   frames) against a trivial built-in (`count` of an empty list), both
//!   through `Module::call`; target under 50 µs;
//! - frame throughput: `redness` (Rust compiled to wasm32-wasip2) against the
//!   same rule as a native Rust module on the TED talk's frames at 1 fps
//!   (62 frames, 640x360); target at least 0.5x.
//!
//! The plugins are built by `bash scripts/build-plugins.sh` (the test suite
//! does it too). `cargo bench --bench plugin`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vprog_plugin::{Grants, Limits, Plugin, PluginHost, PluginModule};
use vprog_runtime::module::{Args, Module, ModuleError, Param, Returns, Signature};
use vprog_runtime::types::Type;
use vprog_runtime::value::Frame;
use vprog_runtime::{StepContext, Value};

fn plugin(name: &str) -> Arc<Plugin> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("plugins").join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} is missing: run `bash scripts/build-plugins.sh`", path.display());
    let host = PluginHost::new(None).expect("plugin host");
    Arc::new(Plugin::load(&host, &path, Limits::default(), Grants::default()).unwrap_or_else(|e| panic!("{e}")))
}

/// The redness rule as a built-in module would run it.
struct NativeRedness(Signature);

impl NativeRedness {
    fn new() -> NativeRedness {
        NativeRedness(
            Signature::new("native_redness", "1", Returns::Is(Type::list(Type::Number)), "red fraction per frame").param(Param::of(
                "frames",
                Type::Frames,
                "frames",
            )),
        )
    }
}

fn red_fraction(f: &Frame) -> f64 {
    let red = f
        .rgb
        .chunks_exact(3)
        .filter(|p| {
            let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
            p[0] > 80 && r > 1.4 * g && r > 1.4 * b
        })
        .count();
    red as f64 / (f.rgb.len() / 3).max(1) as f64
}

#[async_trait]
impl Module for NativeRedness {
    fn signature(&self) -> &Signature {
        &self.0
    }
    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let Some(Value::Frames(frames)) = args.get("frames").cloned() else { return Err(ModuleError::invalid("frames", "missing")) };
        ctx.blocking(move || Ok(Value::List(Arc::new(frames.iter().map(|f| Value::Number(red_fraction(f))).collect())))).await
    }
}

fn bench(c: &mut Criterion) {
    let rt = common::runtime();
    let ctx = StepContext::standalone("bench");
    let registry = vprog_modules::registry();

    // Per-call overhead.
    let trivial = PluginModule(plugin("dominant_colour"));
    let no_frames = Args::with_defaults(trivial.signature(), [("frames", Value::Frames(Arc::new(Vec::new())))], vec![]);
    let count = registry.get("count").expect("count is built in").clone();
    let empty = Args::with_defaults(count.signature(), [("items", Value::List(Arc::new(Vec::new())))], vec![]);
    let mut g = c.benchmark_group("plugin_call_overhead");
    g.bench_function("plugin_dominant_colour_no_frames", |b| b.iter(|| rt.block_on(trivial.call(no_frames.clone(), &ctx)).expect("call")));
    g.bench_function("builtin_count_empty_list", |b| b.iter(|| rt.block_on(count.call(empty.clone(), &ctx)).expect("call")));
    g.finish();

    // Frame throughput.
    let video = vprog_modules::video::open_video(&common::media("ted/test.mp4"), None).expect("video");
    let sample = registry.get("sample").expect("sample");
    let args = Args::with_defaults(sample.signature(), [("clip", Value::Video(video)), ("fps", Value::Number(1.0))], vec![]);
    let Ok(Value::Frames(frames)) = rt.block_on(sample.call(args, &ctx)) else { panic!("sampling the TED talk failed") };
    let redness = PluginModule(plugin("redness"));
    let native = NativeRedness::new();
    let wasm_args = Args::with_defaults(redness.signature(), [("frames", Value::Frames(frames.clone()))], vec![]);
    let native_args = Args::with_defaults(native.signature(), [("frames", Value::Frames(frames.clone()))], vec![]);
    let mut g = c.benchmark_group("plugin_frame_throughput");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.sample_size(20);
    g.bench_function("redness_wasm_62_frames_640x360", |b| b.iter(|| rt.block_on(redness.call(wasm_args.clone(), &ctx)).expect("call")));
    g.bench_function("redness_native_62_frames_640x360", |b| b.iter(|| rt.block_on(native.call(native_args.clone(), &ctx)).expect("call")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
