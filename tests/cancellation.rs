//! A step timeout, another step's failure or an interrupt stops the blocking
//! work of the steps in flight (decode loops, detection, OCR, model passes
//! check a stop signal between frames, batches or tokens), and the trace is
//! still written. One test per binary here: the CPU-time check below would
//! see other tests' threads.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::media;
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, ExecError, Executor, RunInputs};

/// CPU seconds this process has used (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<f64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    (fields[11] + fields[12]) / 100.0
}

#[test]
fn a_timed_out_step_stops_burning_cpu_and_an_interrupted_run_writes_its_trace() {
    // Library: HOG people detection on 400 frames takes minutes on two
    // cores; with a 2 s step timeout, the work must stop with the run.
    let registry = vprog_modules::registry();
    let src = "frames = sample(video, fps: 5)\nanswer count(detect(frames, \"person\", detector: \"classic\"))\n";
    let program = vprog_grammar::parse(src).expect("parses");
    let plan = vprog_runtime::check::check(&program, &registry).plan.expect("checks");
    let video = vprog_modules::video::open_video(&media("vtest.avi"), None).expect("opens vtest.avi");
    let inputs = RunInputs { video: Some(video), question: None, options: None };
    let config = ExecConfig { step_timeout: Duration::from_secs(2), ..ExecConfig::default() };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let outcome = rt.block_on(Executor::new(Arc::new(Cache::disabled()), config).run(&plan, &inputs));
    assert!(matches!(outcome.result, Err(ExecError::Timeout { .. })), "{:?}", outcome.result.as_ref().err());
    // One frame in flight per core may finish; after that nothing runs.
    std::thread::sleep(Duration::from_secs(2));
    let before = cpu_seconds();
    std::thread::sleep(Duration::from_secs(2));
    let burnt = cpu_seconds() - before;
    assert!(burnt < 0.5, "{burnt:.2} CPU seconds used in 2 s after the timeout: the detection kept running");
    drop(rt);

    // Binary: SIGINT in the middle of a long transcription stops it within
    // 2 s, exits 130 and writes the trace, with the step marked cancelled.
    let tmp = tempfile::tempdir().expect("tempdir");
    let prog = tmp.path().join("transcribe.vp");
    std::fs::write(&prog, "answer transcribe(video)\n").expect("write");
    let trace = tmp.path().join("trace");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vprog"))
        .args(["run", prog.to_str().expect("utf8"), media("ted/test.mp4").to_str().expect("utf8"), "--no-cache"])
        .args(["--trace", trace.to_str().expect("utf8")])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vprog starts");
    std::thread::sleep(Duration::from_secs(4));
    assert!(child.try_wait().expect("wait").is_none(), "the transcription ended within 4 s: the test needs a longer one");
    let sent = Instant::now();
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let out = child.wait_with_output().expect("vprog exits");
    let took = sent.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < Duration::from_secs(2), "exited {took:?} after SIGINT: {stderr}");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("vprog: interrupted"), "{stderr}");
    let t = vprog_runtime::trace::read_trace(&trace).expect("an interrupted run writes its trace");
    assert_eq!(t.status, "failed");
    assert!(t.error.as_ref().is_some_and(|e| e.message.starts_with("interrupted")), "{:?}", t.error);
    let step = t.steps.iter().find(|s| s.op == "transcribe").expect("transcribe step");
    assert_eq!(step.status, "cancelled");
}
