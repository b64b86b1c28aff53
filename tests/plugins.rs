//! WebAssembly plugins end to end. The example and hostile plugins are built
//! from source by `scripts/build-plugins.sh` (once per test binary; cargo and
//! the script skip what is up to date), then loaded by the real host: the
//! examples on real frames against the same rule computed natively, every
//! hostile plugin contained with a clear error while the host keeps working,
//! bad files rejected at load, grants, stdio in the notes, the compiled-code
//! cache, and the CLI (`plugin check`, `check`/`run --plugin`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use vprog_plugin::{Grants, Limits, Plugin, PluginHost, PluginModule};
use vprog_runtime::value::Frame;
use vprog_runtime::{Args, Module, ModuleError, StepContext, Value};

mod common;
use common::{media, vprog};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The built plugins (`target/plugins`).
fn plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = root().join("target").join("plugins");
        let status = Command::new("bash")
            .arg(root().join("scripts").join("build-plugins.sh"))
            .arg(&out)
            .status()
            .expect("bash runs scripts/build-plugins.sh");
        assert!(status.success(), "scripts/build-plugins.sh failed (see its output above)");
        out
    })
}

/// A built plugin; `None` (with a loud line) only for the Rust example when
/// this machine cannot build wasm32-wasip2 (the script said so too).
fn plugin_file(name: &str) -> Option<PathBuf> {
    let p = plugins().join(format!("{name}.wasm"));
    if p.is_file() {
        return Some(p);
    }
    assert_eq!(name, "redness", "{} was not built", p.display());
    eprintln!("SKIPPED: {} was not built: rustc lacks wasm32-wasip2 (`rustup target add wasm32-wasip2`)", p.display());
    None
}

fn host() -> Arc<PluginHost> {
    static HOST: OnceLock<Arc<PluginHost>> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(None).expect("plugin host")).clone()
}

fn load(name: &str, limits: Limits) -> Result<Plugin, vprog_plugin::PluginError> {
    let path = plugin_file(name).unwrap_or_else(|| plugins().join(format!("{name}.wasm")));
    Plugin::load(&host(), &path, limits, Grants::default())
}

/// Frames of a real video at `fps`, through the built-in `sample`.
async fn real_frames(rel: &str, fps: f64) -> Arc<Vec<Frame>> {
    let video = vprog_modules::video::open_video(&media(rel), None).expect("the video opens");
    let registry = vprog_modules::registry();
    let sample = registry.get("sample").expect("sample is built in");
    let args = Args::with_defaults(sample.signature(), [("clip", Value::Video(video)), ("fps", Value::Number(fps))], vec![]);
    match sample.call(args, &StepContext::standalone("frames")).await {
        Ok(Value::Frames(f)) => f,
        other => panic!("sample gave {other:?}"),
    }
}

fn solid(rgb: [u8; 3], time: f64) -> Frame {
    let (w, h) = (64u32, 48u32);
    let px: Vec<u8> = (0..w * h).flat_map(|_| rgb).collect();
    Frame { time, width: w, height: h, rgb: Arc::from(px) }
}

async fn call(plugin: &Arc<Plugin>, named: Vec<(&str, Value)>) -> (Result<Value, ModuleError>, StepContext) {
    let module = PluginModule(plugin.clone());
    let args = Args::with_defaults(module.signature(), named, vec![]);
    let ctx = StepContext::standalone("plugin-test");
    let out = module.call(args, &ctx).await;
    (out, ctx)
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::List(xs) => xs
            .iter()
            .map(|x| match x {
                Value::Number(n) => *n,
                other => panic!("not a number: {other:?}"),
            })
            .collect(),
        other => panic!("not a list: {other:?}"),
    }
}

/// The redness rule of plugins/redness, written again natively.
fn red_fraction(f: &Frame, ratio: f32, min_red: u8) -> f64 {
    let red = f
        .rgb
        .chunks_exact(3)
        .filter(|p| {
            let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
            p[0] > min_red && r > ratio * g && r > ratio * b
        })
        .count();
    red as f64 / (f.rgb.len() / 3) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redness_in_wasm_matches_the_native_rule_on_real_frames() {
    let Some(path) = plugin_file("redness") else { return };
    let plugin = Arc::new(Plugin::load(&host(), &path, Limits::default(), Grants::default()).expect("redness loads"));
    assert_eq!(plugin.info().signature, "redness(frames: Frames, ratio: Number?, min_red: Int?) -> List<Number>");
    // The TED talk opens on dark title cards, then the speaker stands before
    // a red set.
    let frames = real_frames("ted/test.mp4", 1.0).await;
    let (out, ctx) = call(&plugin, vec![("frames", Value::Frames(frames.clone()))]).await;
    let got = numbers(&out.expect("redness runs"));
    assert_eq!(got.len(), frames.len());
    for (f, g) in frames.iter().zip(&got) {
        assert!((red_fraction(f, 1.4, 80) - g).abs() < 1e-12, "frame at {:.1}s: wasm {g} vs native {}", f.time, red_fraction(f, 1.4, 80));
    }
    assert!(got[..4].iter().all(|&r| r < 0.001), "the opening cards are not red: {got:?}");
    assert!(got.iter().any(|&r| r > 0.4), "the red set: {got:?}");
    assert!(got.iter().all(|r| (0.0..=1.0).contains(r)));
    assert!(ctx.notes.get("fuel_used").and_then(|v| v.as_u64()).is_some_and(|f| f > 0), "fuel is noted");
    // Optional parameters cross too, and the second call reuses the instance.
    let (out, ctx) = call(&plugin, vec![("frames", Value::Frames(frames.clone())), ("min_red", Value::Int(200))]).await;
    let strict = numbers(&out.expect("redness runs with min_red"));
    for (f, g) in frames.iter().zip(&strict) {
        assert!((red_fraction(f, 1.4, 200) - g).abs() < 1e-12);
    }
    assert_eq!(ctx.notes.get("instance").and_then(|v| v.as_str().map(str::to_string)).as_deref(), Some("reused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dominant_colour_in_c_names_solid_and_real_frames() {
    let plugin = Arc::new(load("dominant_colour", Limits::default()).expect("dominant_colour loads"));
    let frames = vec![
        solid([220, 20, 30], 0.0),
        solid([20, 200, 40], 1.0),
        solid([30, 40, 210], 2.0),
        solid([250, 250, 250], 3.0),
        solid([5, 5, 5], 4.0),
    ];
    let (out, _) = call(&plugin, vec![("frames", Value::Frames(Arc::new(frames)))]).await;
    let names: Vec<String> = match out.expect("dominant_colour runs") {
        Value::List(xs) => xs.iter().map(|x| x.summary().trim_matches('"').to_string()).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(names, ["red", "green", "blue", "white", "black"]);
    // Real frames: one name each, from the documented palette.
    let frames = real_frames("vtest.avi", 0.5).await;
    let (out, _) = call(&plugin, vec![("frames", Value::Frames(frames.clone()))]).await;
    let Value::List(xs) = out.expect("runs on vtest") else { panic!("a list") };
    assert_eq!(xs.len(), frames.len());
}

/// Every hostile plugin fails its call with a reason, the host survives, and
/// a well-behaved plugin on the same host still works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_plugins_are_contained() {
    let small = Limits { fuel: 500_000_000, timeout: Duration::from_secs(20), memory_bytes: 64 << 20, ..Limits::default() };
    let cases: [(&str, Limits, &[&str]); 8] = [
        ("hostile_loop", small.clone(), &["ran out of fuel", "500000000 units"]),
        ("hostile_loop", Limits { fuel: u64::MAX / 2, timeout: Duration::from_millis(500), ..small.clone() }, &["time limit of 0.5 s"]),
        ("hostile_memory", small.clone(), &["64 MiB"]),
        ("hostile_recursion", small.clone(), &["overflowed its stack"]),
        ("hostile_trap", small.clone(), &["trapped", "unreachable"]),
        ("hostile_wrong_type", small.clone(), &["returned `text` but its signature declares Number"]),
        ("hostile_oversized", Limits { memory_bytes: 256 << 20, ..small.clone() }, &["more than the output limit of 16 MiB"]),
        ("hostile_file", small.clone(), &["reported an error", "/etc/passwd", "Capabilities insufficient"]),
    ];
    let good = Arc::new(load("dominant_colour", Limits::default()).expect("dominant_colour loads"));
    for (name, limits, expected) in cases {
        let plugin = Arc::new(load(name, limits).unwrap_or_else(|e| panic!("{name} loads: {e}")));
        for attempt in 0..2 {
            let started = std::time::Instant::now();
            let (out, _) = call(&plugin, vec![("frames", Value::Frames(Arc::new(vec![solid([1, 2, 3], 0.0)])))]).await;
            let err = out.expect_err(name).to_string();
            assert!(err.starts_with(&format!("plugin `{name}`")), "{name}: {err}");
            for e in expected {
                assert!(err.contains(e), "{name} (attempt {attempt}): expected `{e}` in: {err}");
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{name} was stopped in time");
        }
        let (ok, _) = call(&good, vec![("frames", Value::Frames(Arc::new(vec![solid([220, 20, 30], 0.0)])))]).await;
        assert!(ok.is_ok(), "after {name} the host still runs plugins: {ok:?}");
    }
}

#[test]
fn bad_files_are_rejected_at_load_with_reasons() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let empty = tmp.path().join("empty.wasm");
    std::fs::write(&empty, b"").expect("write");
    let text = tmp.path().join("text.wasm");
    std::fs::write(&text, b"fn main() {}").expect("write");
    let cases: Vec<(PathBuf, &[&str])> = vec![
        (plugins().join("corrupt.wasm"), &["corrupt.wasm", "not a valid WebAssembly component"]),
        (plugins().join("hostile_core_module.wasm"), &["core WebAssembly module, not a component"]),
        (plugins().join("hostile_unknown_import.wasm"), &["imports `evil:net/socket@1.0.0`", "does not provide"]),
        (plugins().join("hostile_old_version.wasm"), &["built against vprog:plugin/", "@0.2.0", "vprog:plugin@0.1.0"]),
        (empty, &["the file is empty"]),
        (text, &["WebAssembly magic"]),
        (tmp.path().join("missing.wasm"), &["missing.wasm", "cannot read the plugin"]),
    ];
    for (path, expected) in cases {
        let err =
            Plugin::load(&host(), &path, Limits::default(), Grants::default()).err().unwrap_or_else(|| panic!("{} loads", path.display()));
        let err = err.to_string();
        for e in expected {
            assert!(err.contains(e), "{}: expected `{e}` in: {err}", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_are_noted_and_grants_open_only_what_they_name() {
    let plugin = Arc::new(load("hostile_stdout", Limits::default()).expect("loads"));
    let (out, ctx) = call(&plugin, vec![]).await;
    assert!(matches!(out, Ok(Value::Number(x)) if x == 42.0), "{out:?}");
    let stdout = ctx.notes.get("stdout").expect("stdout is noted").to_string();
    let stderr = ctx.notes.get("stderr").expect("stderr is noted").to_string();
    assert!(!stdout.is_empty() && !stderr.is_empty() && stdout != stderr, "{stdout} / {stderr}");
    // A read-only grant of /etc lets hostile_file read /etc/passwd; the
    // environment stays hidden without its own grant.
    let mut grants = Grants::default();
    grants.add("dir=/etc").expect("grant");
    let plugin = Arc::new(load("hostile_file", Limits::default()).expect("loads").with_grants(grants));
    assert_eq!(plugin.cache_policy(), vprog_runtime::module::CachePolicy::Never, "granted plugins are not cached");
    let (out, ctx) = call(&plugin, vec![]).await;
    match out {
        Ok(Value::Text(s)) => assert!(s.contains("root:"), "{s}"),
        other => panic!("with the grant the read succeeds: {other:?}"),
    }
    assert!(ctx.notes.get("grants").is_some_and(|g| g.to_string().contains("/etc")));
}

#[test]
fn compiled_plugins_are_cached_on_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = plugins().join("dominant_colour.wasm");
    let first = PluginHost::new(Some(tmp.path())).expect("host");
    let p = Plugin::load(&first, &path, Limits::default(), Grants::default()).expect("loads");
    assert!(!p.info().compile_cached, "nothing cached yet");
    drop((p, first));
    let second = PluginHost::new(Some(tmp.path())).expect("host");
    let p = Plugin::load(&second, &path, Limits::default(), Grants::default()).expect("loads again");
    assert!(p.info().compile_cached, "the second host loads the compiled code from {}", tmp.path().display());
}

// ---------------------------------------------------------------- CLI

#[test]
fn cli_checks_and_runs_programs_with_plugins() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let dc = plugins().join("dominant_colour.wasm");
    let dc = dc.to_str().expect("utf8");
    let out = vprog(&["plugin", "check", dc, plugins().join("hostile_old_version.wasm").to_str().expect("utf8")], &cache);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "one plugin is rejected: {stdout}{stderr}");
    assert!(stdout.contains("dominant_colour(frames: Frames) -> List<Text>"), "{stdout}");
    assert!(stdout.contains("grants     none"), "{stdout}");
    assert!(stderr.contains("rejected") && stderr.contains("@0.2.0"), "{stderr}");

    // A type error in a call to a plugin is caught before anything runs.
    let bad = tmp.path().join("bad.vp");
    std::fs::write(&bad, "answer dominant_colour(\"not frames\")\n").expect("write");
    let out = vprog(&["check", bad.to_str().expect("utf8"), "--plugin", dc], &cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Frames") && stderr.contains("Text"), "{stderr}");
    // Without --plugin the name is unknown.
    let good = tmp.path().join("colours.vp");
    std::fs::write(&good, "frames = sample(video, count: 4)\nanswer dominant_colour(frames)\n").expect("write");
    let out = vprog(&["check", good.to_str().expect("utf8")], &cache);
    assert_eq!(out.status.code(), Some(1));

    // Mistakes in the plugin flags are named as what they are, not as a bad signature.
    let check = |extra: &[&str]| {
        let out = vprog(&[&["check", good.to_str().expect("utf8"), "--plugin", dc], extra].concat(), &cache);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = check(&["--plugin", dc]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("the module name `dominant_colour` is already taken (the same plugin given twice"), "{stderr}");
    let (code, stderr) = check(&["--plugin-fuel", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("invalid value '0' for '--plugin-fuel <UNITS>'"), "{stderr}");
    let (code, stderr) = check(&["--plugin-fuel", "1000"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot start the plugin") && stderr.contains("--plugin-fuel") && !stderr.contains("bad signature"),
        "{stderr}"
    );

    let trace = tmp.path().join("trace");
    let video = media("vtest.avi");
    let out = vprog(
        &[
            "run",
            good.to_str().expect("utf8"),
            video.to_str().expect("utf8"),
            "--plugin",
            dc,
            "--trace",
            trace.to_str().expect("utf8"),
            "--json",
        ],
        &cache,
    );
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    let t = vprog_runtime::trace::read_trace(&trace).expect("trace");
    let step = t.steps.iter().find(|s| s.op == "dominant_colour").expect("the plugin step is traced");
    assert!(step.output.as_ref().is_some_and(|o| o.summary.starts_with('[')), "{:?}", step.output);
    let notes: Vec<&str> = step.notes.iter().map(|n| n.key.as_str()).collect();
    assert!(notes.contains(&"plugin") && notes.contains(&"fuel_used") && notes.contains(&"grants"), "{notes:?}");

    // A grant for a plugin that is not loaded is an error, not ignored.
    let out = vprog(&["check", good.to_str().expect("utf8"), "--plugin", dc, "--grant", "nosuch:clock"], &cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no plugin of that name"));
}
