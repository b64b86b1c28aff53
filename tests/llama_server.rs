//! The OpenAI-compatible backend against a real llama.cpp server on
//! localhost serving the same GGUF file as the local backend (Qwen2.5-Coder
//! 0.5B): `vprog plan` and `vprog plan-eval` through it, every question
//! answered by the server without a backend error.
//!
//! Ignored by default: building the server takes about 10 minutes on 2
//! cores, more than CI can spend. Run it with
//!
//! ```sh
//! bash scripts/build-llama-server.sh
//! VPROG_LLAMA_SERVER=~/.cache/vprog/llama.cpp/llama-server cargo test --test llama_server -- --ignored --nocapture
//! ```

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process, killed when the test ends however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The HTTP status of `GET path` on `port`, if the server answers.
fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[ignore = "needs llama.cpp's server: bash scripts/build-llama-server.sh, then VPROG_LLAMA_SERVER=PATH cargo test --test llama_server -- --ignored"]
fn plans_through_a_real_llama_cpp_server() {
    let server = PathBuf::from(std::env::var_os("VPROG_LLAMA_SERVER").expect("set VPROG_LLAMA_SERVER to the llama-server binary"));
    let store = vprog_modules::ModelStore::from_env();
    let id = vprog_models::catalog::QWEN_CODER_05B;
    let gguf = vprog_modules::llm::model_path(&store, id).unwrap_or_else(|e| panic!("{e}"));
    let port = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a free port").local_addr().expect("its address").port();
    let child = Command::new(&server)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--ctx-size", "8192", "--threads", "2", "--parallel", "1"])
        .arg("--model")
        .arg(&gguf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", server.display()));
    let mut server = Server(child);
    let t0 = Instant::now();
    while get_status(port, "/health") != Some(200) {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("llama-server exited ({status}) before serving: run it by hand to see why (missing libraries? rebuild with scripts/build-llama-server.sh)");
        }
        assert!(t0.elapsed() < Duration::from_secs(180), "llama-server did not become healthy within 180 s");
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("llama-server healthy after {:.1} s", t0.elapsed().as_secs_f64());
    let url = format!("openai:http://127.0.0.1:{port}/v1");
    let vprog = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vprog")).current_dir(repo()).args(args).output().expect("vprog runs");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    // One question: a checked program comes back (the server's, or the fallback).
    let (code, out, err) =
        vprog(&["plan", "media/vtest.avi", "How many people walk through the scene?", "--llm", &url, "--model", "qwen", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(json[0]["program"].as_str().is_some_and(|p| p.contains("answer")), "{out}");
    assert!(json[0]["attempts"][0]["reply"].as_str().is_some_and(|r| !r.is_empty()), "the server wrote a reply: {out}");

    // Ten NExT-QA test-split questions: none fails at the backend.
    let csv = repo().join("../shared/data/nextqa/val.csv");
    let n = std::env::var("VPROG_LLAMA_QUESTIONS").unwrap_or_else(|_| "10".into());
    let (code, out, err) = vprog(&[
        "plan-eval",
        csv.to_str().expect("utf-8 path"),
        "--split",
        "test",
        "--spread",
        "-n",
        &n,
        "--llm",
        &url,
        "--model",
        "qwen",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    eprintln!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    assert_eq!(s["backend_errors"], 0, "{out}");
    assert_eq!(s["questions"].as_u64().map(|q| q.to_string()), Some(n.clone()));
    let with_program = s["valid_after_repair"].as_u64().unwrap_or(0) + s["fallback"].as_u64().unwrap_or(0);
    assert_eq!(with_program.to_string(), n, "every question gets a program: {out}");
    assert!(s["backend"].as_str().is_some_and(|b| b.contains(&format!("127.0.0.1:{port}"))), "{out}");
}
