//! Executor behaviour on synthetic modules: parallelism, merging of identical
//! steps, caching, cancellation on failure, timeouts and maps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use vprog_runtime::cache::{Cache, CacheStatus};
use vprog_runtime::dataflow::optimize;
use vprog_runtime::exec::{ExecConfig, ExecError, Executor, RunInputs, StepRecord, StepStatus};
use vprog_runtime::module::{CachePolicy, Param, ParamType, Returns, Signature};
use vprog_runtime::{Args, Module, ModuleError, Registry, StepContext, Type, Value};

/// `nap(ms, tag)`: sleeps, counts its calls, returns `ms`.
struct Nap {
    sig: Signature,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Module for Nap {
    fn signature(&self) -> &Signature {
        &self.sig
    }
    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let ms = args.int("ms")?;
        ctx.note("slept", format!("{ms} ms"));
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
        Ok(Value::Int(ms))
    }
}

/// `boom(after_ms)`: fails after a delay.
struct Boom(Signature);

#[async_trait]
impl Module for Boom {
    fn signature(&self) -> &Signature {
        &self.0
    }
    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        tokio::time::sleep(Duration::from_millis(args.int("after_ms")? as u64)).await;
        Err(ModuleError::Failed("the boom module always fails".into()))
    }
}

/// `plus(a, b)`.
struct Plus(Signature);

#[async_trait]
impl Module for Plus {
    fn signature(&self) -> &Signature {
        &self.0
    }
    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        Ok(Value::Int(args.int("a")? + args.int("b")?))
    }
}

/// `liar()`: declares Int, returns Text.
struct Liar(Signature);

#[async_trait]
impl Module for Liar {
    fn signature(&self) -> &Signature {
        &self.0
    }
    async fn call(&self, _args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        Ok(Value::text("not a number"))
    }
}

fn registry(calls: Arc<AtomicUsize>) -> Registry {
    let mut r = Registry::new();
    let nap = Signature::new("nap", "1.0.0", Returns::Is(Type::Int), "Sleeps.")
        .param(Param::of("ms", Type::Int, "milliseconds"))
        .param(Param::of("tag", Type::Text, "a label").default(Value::text("")))
        .cache(CachePolicy::Memory);
    r.register(Arc::new(Nap { sig: nap, calls })).expect("unique");
    let boom = Signature::new("boom", "1.0.0", Returns::Is(Type::Int), "Fails.")
        .param(Param::of("after_ms", Type::Int, "delay"))
        .cache(CachePolicy::Never);
    r.register(Arc::new(Boom(boom))).expect("unique");
    let plus = Signature::new("plus", "1.0.0", Returns::Is(Type::Int), "Adds.")
        .param(Param::of("a", Type::Int, ""))
        .param(Param::required("b", ParamType::Is(Type::Int), ""));
    r.register(Arc::new(Plus(plus))).expect("unique");
    r.register(Arc::new(Liar(Signature::new("liar", "1.0.0", Returns::Is(Type::Int), "Lies.")))).expect("unique");
    r
}

async fn run(src: &str, reg: &Registry, exec: &Executor) -> vprog_runtime::exec::RunOutcome {
    let program = vprog_grammar::parse(src).expect("parses");
    let checked = vprog_runtime::check::check(&program, reg);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let mut plan = checked.plan.expect("plan");
    optimize(&mut plan);
    exec.run(&plan, &RunInputs::default()).await
}

fn executor(cache: Cache, timeout: Duration) -> Executor {
    Executor::new(Arc::new(cache), ExecConfig { step_timeout: timeout, ..ExecConfig::default() })
}

fn find<'a>(steps: &'a [StepRecord], op: &str) -> Vec<&'a StepRecord> {
    steps.iter().filter(|s| s.op == op).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_slow_steps_overlap_in_time() {
    let reg = registry(Arc::new(AtomicUsize::new(0)));
    let exec = executor(Cache::disabled(), Duration::from_secs(10));
    let out = run("a = nap(400, tag: \"a\")\nb = nap(400, tag: \"b\")\nanswer plus(a, b)", &reg, &exec).await;
    assert_eq!(out.result.expect("runs").summary(), "800");
    let naps = find(&out.steps, "nap");
    assert_eq!(naps.len(), 2);
    let (x, y) = (naps[0], naps[1]);
    // Each interval starts before the other ends: they ran at the same time.
    assert!(
        x.started < y.started + y.duration && y.started < x.started + x.duration,
        "{:?} {:?}",
        (x.started, x.duration),
        (y.started, y.duration)
    );
    assert!(out.wall < Duration::from_millis(750), "took {:?}", out.wall);
}

#[tokio::test]
async fn identical_steps_run_once_and_are_visible() {
    let calls = Arc::new(AtomicUsize::new(0));
    let reg = registry(calls.clone());
    let exec = executor(Cache::new(None, 1 << 20), Duration::from_secs(10));
    let out = run("a = nap(20)\nb = nap(20)\nanswer plus(a, b)", &reg, &exec).await;
    assert_eq!(out.result.expect("runs").summary(), "40");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let naps = find(&out.steps, "nap");
    assert_eq!(naps.len(), 1, "merged into one step");
    assert_eq!(naps[0].bindings, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(naps[0].merged.len(), 1);
    assert_eq!(naps[0].cache, CacheStatus::Miss);
    // The module's notes reach the step's record.
    assert_eq!(naps[0].notes, vec![("slept".to_string(), serde_json::json!("20 ms"))]);

    // A second run of an overlapping program hits the cache, notes included.
    let out = run("x = nap(20)\nanswer plus(x, 1)", &reg, &exec).await;
    assert_eq!(out.result.expect("runs").summary(), "21");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(find(&out.steps, "nap")[0].cache, CacheStatus::Memory);
    assert_eq!(find(&out.steps, "nap")[0].notes, vec![("slept".to_string(), serde_json::json!("20 ms"))]);
    // ... and says how long the value took when it was computed (an `ask`
    // trace re-runs the chosen program from the cache).
    let hit = find(&out.steps, "nap")[0].clone();
    let computed = hit.computed.expect("a memory hit records the first computation");
    assert!(computed.duration >= Duration::from_millis(20), "{computed:?}");
    assert!(hit.duration < computed.duration, "the lookup {:?} is not the work {:?}", hit.duration, computed.duration);
}

#[tokio::test]
async fn failure_cancels_the_rest_and_names_the_step() {
    let calls = Arc::new(AtomicUsize::new(0));
    let reg = registry(calls.clone());
    let exec = executor(Cache::disabled(), Duration::from_secs(30));
    let src = "slow = nap(20000)\nbad = boom(50)\nanswer plus(slow, bad)";
    let started = std::time::Instant::now();
    let out = run(src, &reg, &exec).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the slow step was not cancelled");
    let err = out.result.expect_err("fails");
    match &err {
        ExecError::StepFailed { module, text, .. } => {
            assert_eq!(module, "boom");
            assert_eq!(text, "boom(50)");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("boom(50)"), "{err}");
    let boom = find(&out.steps, "boom")[0];
    assert_eq!(boom.status, StepStatus::Failed);
    assert_eq!(err.step(), Some(boom.id.as_str()));
    assert_eq!(find(&out.steps, "nap")[0].status, StepStatus::Cancelled);
    assert_eq!(find(&out.steps, "plus")[0].status, StepStatus::Cancelled);
}

/// A failure inside a map, with another step in flight: the run reports the
/// element's failure (not the cancellation it causes), and the other steps
/// are cancelled.
#[tokio::test]
async fn a_failing_map_element_is_the_runs_error() {
    let calls = Arc::new(AtomicUsize::new(0));
    let reg = registry(calls.clone());
    let exec = executor(Cache::disabled(), Duration::from_secs(30));
    let src = "slow = nap(20000)\nxs = [boom(x) for x in [50, 20000]]\nanswer [[slow], xs]";
    let started = std::time::Instant::now();
    let out = run(src, &reg, &exec).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the slow steps were not cancelled");
    let err = out.result.expect_err("fails");
    assert!(err.to_string().contains("the boom module always fails"), "{err:?}");
    assert_eq!(find(&out.steps, "nap")[0].status, StepStatus::Cancelled);
}

#[tokio::test]
async fn slow_steps_time_out() {
    let reg = registry(Arc::new(AtomicUsize::new(0)));
    let exec = executor(Cache::disabled(), Duration::from_millis(100));
    let out = run("answer nap(5000)", &reg, &exec).await;
    assert!(matches!(out.result, Err(ExecError::Timeout { .. })), "{:?}", out.result.err());
}

#[tokio::test]
async fn wrong_output_types_are_caught() {
    let reg = registry(Arc::new(AtomicUsize::new(0)));
    let exec = executor(Cache::disabled(), Duration::from_secs(1));
    let out = run("answer liar()", &reg, &exec).await;
    let err = out.result.expect_err("caught");
    assert!(err.to_string().contains("returned Text, but its declared type is Int"), "{err}");
}

#[tokio::test]
async fn maps_run_the_body_per_element_and_filters_keep_some() {
    let calls = Arc::new(AtomicUsize::new(0));
    let reg = registry(calls.clone());
    let exec = executor(Cache::new(None, 1 << 20), Duration::from_secs(5));
    let out = run("base = nap(5)\nanswer [plus(x, base) for x in [1, 2, 3]]", &reg, &exec).await;
    assert_eq!(out.result.expect("runs").summary(), "[6, 7, 8]");
    let map = find(&out.steps, "map")[0];
    assert_eq!(map.elements, Some((3, 3)));
    assert_eq!(map.children.iter().filter(|c| c.op == "plus").count(), 3);
    assert!(map.children.iter().any(|c| c.id.starts_with(&format!("{}[2].", map.id))));

    // The same body step for equal elements computes once (cache).
    let out = run("answer [nap(7) for x in [1, 2, 3]]", &reg, &exec).await;
    assert_eq!(out.result.expect("runs").summary(), "[7, 7, 7]");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "base nap + one nap(7)");
}

#[tokio::test]
async fn answers_list_their_supporting_steps() {
    let reg = registry(Arc::new(AtomicUsize::new(0)));
    let exec = executor(Cache::disabled(), Duration::from_secs(5));
    let out = run("a = nap(1)\nb = plus(a, 2)\nanswer plus(b, 3)", &reg, &exec).await;
    assert_eq!(out.supporting_steps.len(), 3);
    assert_eq!(out.answer_step.as_deref(), Some("s3"));
}

#[tokio::test]
async fn missing_inputs_are_reported_before_running() {
    let reg = registry(Arc::new(AtomicUsize::new(0)));
    let exec = executor(Cache::disabled(), Duration::from_secs(5));
    let program = vprog_grammar::parse("answer question").expect("parses");
    let plan = vprog_runtime::check::check(&program, &reg).plan.expect("plan");
    let out = exec.run(&plan, &RunInputs::default()).await;
    assert_eq!(out.result.expect_err("missing").to_string(), "the program uses `question`, but no question was given");
}

/// `frames(n)`: n tiny synthetic frames, one per second.
struct MakeFrames(Signature);

#[async_trait]
impl Module for MakeFrames {
    fn signature(&self) -> &Signature {
        &self.0
    }
    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let n = args.int("n")?;
        let frames =
            (0..n).map(|i| vprog_runtime::value::Frame { time: i as f64, width: 1, height: 1, rgb: vec![0u8; 3].into() }).collect();
        Ok(Value::Frames(Arc::new(frames)))
    }
}

/// `per_frame(frames)`: declares `max_batch(4)`; records each call's size and
/// returns one (box-less) detection entry per frame.
struct PerFrame {
    sig: Signature,
    sizes: Arc<std::sync::Mutex<Vec<usize>>>,
}

#[async_trait]
impl Module for PerFrame {
    fn signature(&self) -> &Signature {
        &self.sig
    }
    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let frames = args.frames("frames")?;
        self.sizes.lock().expect("lock").push(frames.len());
        let per =
            frames.iter().map(|f| vprog_runtime::value::FrameDetections { time: f.time, width: 1, height: 1, boxes: vec![] }).collect();
        Ok(Value::Detections(Arc::new(vprog_runtime::value::Detections { frames: per })))
    }
}

#[tokio::test]
async fn batched_modules_get_frames_in_chunks_and_outputs_are_joined() {
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reg = Registry::new();
    let make = Signature::new("frames", "1.0.0", Returns::Is(Type::Frames), "Makes frames.").param(Param::of("n", Type::Int, ""));
    reg.register(Arc::new(MakeFrames(make))).expect("unique");
    let per = Signature::new("per_frame", "1.0.0", Returns::Is(Type::Detections), "Per frame.")
        .param(Param::of("frames", Type::Frames, ""))
        .max_batch(4);
    reg.register(Arc::new(PerFrame { sig: per, sizes: sizes.clone() })).expect("unique");
    let exec = executor(Cache::disabled(), Duration::from_secs(5));
    let out = run("answer per_frame(frames(10))", &reg, &exec).await;
    match out.result.expect("runs") {
        Value::Detections(d) => {
            let times: Vec<f64> = d.frames.iter().map(|f| f.time).collect();
            assert_eq!(times, (0..10).map(f64::from).collect::<Vec<_>>());
        }
        other => panic!("expected detections, got {}", other.summary()),
    }
    assert_eq!(*sizes.lock().expect("lock"), vec![4, 4, 2]);
}
