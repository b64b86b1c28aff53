//! The OpenAI-compatible backend against a scripted HTTP server on
//! 127.0.0.1: one scripted reply per connection, each request recorded.
//! The reply bodies are under `tests/fixtures/openai/`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vprog_planner::backend::{Completion, Finish, LlmBackend, LlmError, Message, Request};
use vprog_planner::openai::{OpenAiBackend, OpenAiConfig};

/// llama.cpp's server (b6990) with `logprobs: true`: text, usage, timings.
const LLAMACPP_OK: &str = include_str!("fixtures/openai/llamacpp_ok.json");
/// vLLM, cut by `max_tokens`, one token at vLLM's -9999 for -inf.
const VLLM_LENGTH: &str = include_str!("fixtures/openai/vllm_length.json");
/// A reply continuing the prefix `answer choose`.
const CONTINUATION: &str = include_str!("fixtures/openai/continuation.json");
/// A reply that ignored the prefill and starts over with `answer choose`.
const RESTARTED: &str = include_str!("fixtures/openai/restarted.json");
/// A proxy's sign-in page served with 200.
const GARBAGE: &str = include_str!("fixtures/openai/garbage.html");
/// A chat completion cut in the middle of a string.
const TRUNCATED: &str = include_str!("fixtures/openai/truncated.json");
/// `"choices": []`.
const EMPTY_CHOICES: &str = include_str!("fixtures/openai/empty_choices.json");
/// `"content": null` (a reasoning model out of tokens).
const NULL_CONTENT: &str = include_str!("fixtures/openai/null_content.json");
/// llama.cpp's server out of KV-cache slots.
const ERROR_500: &str = include_str!("fixtures/openai/error_500.json");
/// A hosted API refusing the key.
const ERROR_401: &str = include_str!("fixtures/openai/error_401.json");
/// A hosted API's rate limit.
const ERROR_429: &str = include_str!("fixtures/openai/error_429.json");

/// The sum of the six `logprob`s in `llamacpp_ok.json`.
const LLAMACPP_LOGPROB: f64 = -0.0123 - 0.25 - 0.0004 - 1.5 - 0.0871 - 0.002;

/// The scripted server's answer to one connection.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Content-Length sent, when not the body's length (a body that breaks off).
    declared_len: Option<usize>,
    /// Wait between reading the request and answering.
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: &str) -> Reply {
        Reply::new(status, "application/json", body)
    }

    fn new(status: u16, content_type: &str, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: body.as_bytes().to_vec(),
            declared_len: None,
            delay: Duration::ZERO,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    fn declaring(mut self, len: usize) -> Reply {
        self.declared_len = Some(len);
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// A scripted server: the n-th connection gets the n-th reply, the last
/// reply repeating forever.
struct Server {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(script: Vec<Reply>) -> Server {
        assert!(!script.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut next = 0;
            while let Ok((stream, _)) = listener.accept().await {
                let reply = script[next.min(script.len() - 1)].clone();
                next += 1;
                tokio::spawn(answer(stream, reply, Arc::clone(&log)));
            }
        });
        Server { base_url: format!("http://{addr}/v1"), seen }
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("request log").clone()
    }

    /// A configuration for this server: fast retries, a 5 s limit.
    fn config(&self) -> OpenAiConfig {
        let mut config = OpenAiConfig::new(&self.base_url, "qwen2.5-coder-7b-instruct");
        config.backoff = Duration::from_millis(10);
        config.timeout = Duration::from_secs(5);
        config
    }
}

/// Read one request, record it, send `reply`, close.
async fn answer(mut stream: TcpStream, reply: Reply, seen: Arc<Mutex<Vec<Seen>>>) {
    let Ok(Some(request)) = tokio::time::timeout(Duration::from_secs(10), read_request(&mut stream)).await else {
        return;
    };
    seen.lock().expect("request log").push(request);
    tokio::time::sleep(reply.delay).await;
    let reason = match reply.status {
        200 => "OK",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Whatever",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.declared_len.unwrap_or(reply.body.len())
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // The client may have given up (timeout tests): write errors are fine.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&reply.body).await;
    let _ = stream.shutdown().await;
}

/// One HTTP/1.1 request: head, then a Content-Length body.
async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    let len: usize = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Some(Seen { method, path, headers, body })
}

fn request() -> Request {
    let mut request = Request::new(
        vec![Message::system("Write a vprog program that answers the question."), Message::user("What does the speaker say luck is?")],
        64,
    );
    request.seed = 42;
    request.temperature = 0.25;
    request.stop = vec!["\n\n".to_owned()];
    request
}

/// `backend.complete(request)`, failing the test rather than hanging.
async fn complete(backend: &OpenAiBackend, request: &Request) -> Result<Completion, LlmError> {
    tokio::time::timeout(Duration::from_secs(30), backend.complete(request)).await.expect("complete() hung")
}

fn backend(config: OpenAiConfig) -> OpenAiBackend {
    OpenAiBackend::new(config).expect("valid configuration")
}

#[tokio::test]
async fn success_parses_the_reply_and_sends_the_request() {
    let server = Server::start(vec![Reply::json(200, LLAMACPP_OK)]).await;
    let b = backend(server.config().with_api_key("sk-test-123"));
    let reply = complete(&b, &request()).await.expect("completion");

    assert_eq!(reply.text, "cues = retrieve_subtitles");
    assert_eq!(reply.finish, Finish::Stop);
    assert_eq!(reply.prompt_tokens, Some(412));
    assert_eq!(reply.completion_tokens, Some(6));
    let logprob = reply.logprob.expect("log-probability");
    assert!((logprob - LLAMACPP_LOGPROB).abs() < 1e-9, "{logprob} != {LLAMACPP_LOGPROB}");
    assert!((logprob - -1.8518).abs() < 1e-9, "{logprob}");
    assert!(!reply.constrained);
    assert_eq!(reply.reused_tokens, None);
    assert!(reply.elapsed > Duration::ZERO && reply.elapsed < Duration::from_secs(5), "{:?}", reply.elapsed);

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(r.header("authorization"), Some("Bearer sk-test-123"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["model"], "qwen2.5-coder-7b-instruct");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Write a vprog program that answers the question."},
            {"role": "user", "content": "What does the speaker say luck is?"}
        ])
    );
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["seed"], 42);
    assert_eq!(body["temperature"], 0.25);
    assert_eq!(body["stop"], json!(["\n\n"]));
    assert_eq!(body["logprobs"], true);
    assert_eq!(body["stream"], false);
    assert!(body.get("continue_final_message").is_none(), "{body}");
}

#[tokio::test]
async fn success_without_a_key_vllm_reply_cut_by_length() {
    let server = Server::start(vec![Reply::json(200, VLLM_LENGTH)]).await;
    let mut config = server.config().api_key_from_env("VPROG_TEST_OPENAI_KEY_NEVER_SET");
    config.base_url.push('/'); // tolerated
    let b = backend(config);
    let mut req = request();
    req.stop.clear();
    let reply = complete(&b, &req).await.expect("completion");

    assert_eq!(reply.text, "frames = sample_frames");
    assert_eq!(reply.finish, Finish::Length);
    assert_eq!((reply.prompt_tokens, reply.completion_tokens), (Some(388), Some(4)));
    assert_eq!(reply.logprob, Some(-9999.6875));

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].header("authorization"), None, "{:?}", seen[0].headers);
    let body = seen[0].json();
    assert!(body.get("stop").is_none(), "empty stop list sent: {body}");
    assert_eq!(body["model"], "qwen2.5-coder-7b-instruct");
}

#[tokio::test]
async fn prefix_is_sent_as_a_trailing_assistant_message_and_a_restart_is_stripped() {
    let server = Server::start(vec![Reply::json(200, CONTINUATION), Reply::json(200, RESTARTED), Reply::json(200, CONTINUATION)]).await;
    let b = backend(server.config());
    let mut req = request();
    req.prefix = "answer choose".to_owned();

    // A server that continues the prefix: the reply is kept as it is.
    let continued = complete(&b, &req).await.expect("completion");
    assert_eq!(continued.text, "(question, options, evidence: cues)");
    // A server that started over: the repeated prefix is removed.
    let restarted = complete(&b, &req).await.expect("completion");
    assert_eq!(restarted.text, "(question, options, evidence: cues)");

    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        let messages = r.json()["messages"].clone();
        let messages = messages.as_array().expect("messages");
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[2], json!({"role": "assistant", "content": "answer choose"}));
        assert!(r.json().get("continue_final_message").is_none());
    }

    // vLLM's fields, when asked for.
    let mut config = server.config();
    config.continue_final_message = true;
    let vllm = backend(config);
    complete(&vllm, &req).await.expect("completion");
    let body = server.requests()[2].json();
    assert_eq!((&body["continue_final_message"], &body["add_generation_prompt"]), (&json!(true), &json!(false)));
}

#[tokio::test]
async fn http_500_is_retried_until_success() {
    let e500 = Reply::json(500, ERROR_500);
    let server = Server::start(vec![e500.clone(), e500, Reply::json(200, LLAMACPP_OK)]).await;
    let b = backend(server.config()); // 3 retries
    let reply = complete(&b, &request()).await.expect("completion after two 500s");
    assert_eq!(reply.text, "cues = retrieve_subtitles");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn http_500_forever_gives_the_last_error_after_retries() {
    let server = Server::start(vec![Reply::json(500, ERROR_500)]).await;
    let mut config = server.config();
    config.retries = 2;
    let error = complete(&backend(config), &request()).await.expect_err("always 500");
    match &error {
        LlmError::Http { status, message, url } => {
            assert_eq!(*status, 500);
            assert!(message.contains("llama_decode: failed to find a memory slot for batch of size 512"), "{message}");
            assert!(message.contains("3 attempts"), "{message}");
            assert!(url.ends_with("/v1/chat/completions"), "{url}");
        }
        other => panic!("expected Http, got {other:?}"),
    }
    assert!(error.is_transient());
    assert_eq!(server.requests().len(), 3);
}

/// The error of one attempt at a server giving `reply`, and the requests it saw.
async fn one_attempt(reply: Reply) -> (LlmError, usize) {
    let server = Server::start(vec![reply]).await;
    let mut config = server.config();
    config.retries = 0;
    let error = complete(&backend(config), &request()).await.expect_err("not a chat completion");
    (error, server.requests().len())
}

#[tokio::test]
async fn bodies_that_are_not_chat_completions() {
    let (error, n) = one_attempt(Reply::new(200, "text/html", GARBAGE)).await;
    assert_eq!(n, 1);
    match &error {
        LlmError::BadResponse { reason, excerpt, .. } => {
            assert!(reason.contains("not JSON"), "{reason}");
            assert!(excerpt.starts_with("<!DOCTYPE html>\n<html><head><title>Sign in"), "{excerpt}");
            assert_eq!(excerpt.chars().count(), 120);
        }
        other => panic!("expected BadResponse, got {other:?}"),
    }
    assert!(error.to_string().contains("<!DOCTYPE html>"), "{error}");

    let (error, _) = one_attempt(Reply::json(200, TRUNCATED)).await;
    match &error {
        LlmError::BadResponse { reason, excerpt, .. } => {
            assert!(reason.contains("truncated"), "{reason}");
            assert!(excerpt.starts_with("{\"id\":\"chatcmpl-9\""), "{excerpt}");
        }
        other => panic!("expected BadResponse, got {other:?}"),
    }

    let (error, _) = one_attempt(Reply::json(200, EMPTY_CHOICES)).await;
    assert!(matches!(&error, LlmError::BadResponse { reason, .. } if reason.contains("`choices` is empty")), "{error:?}");

    let (error, _) = one_attempt(Reply::json(200, "{\"object\":\"chat.completion\"}")).await;
    assert!(matches!(&error, LlmError::BadResponse { reason, .. } if reason.contains("no `choices`")), "{error:?}");

    let (error, _) = one_attempt(Reply::json(200, NULL_CONTENT)).await;
    assert!(matches!(&error, LlmError::BadResponse { reason, .. } if reason.contains("content")), "{error:?}");

    // The connection closes 200 bytes short of the declared length.
    let (error, _) = one_attempt(Reply::json(200, LLAMACPP_OK).declaring(LLAMACPP_OK.len() + 200)).await;
    assert!(matches!(&error, LlmError::BadResponse { reason, .. } if reason.contains("broke off")), "{error:?}");
}

#[tokio::test]
async fn bad_bodies_are_retried() {
    let server = Server::start(vec![Reply::new(200, "text/html", GARBAGE)]).await;
    let mut config = server.config();
    config.retries = 1;
    let error = complete(&backend(config), &request()).await.expect_err("garbage");
    assert!(matches!(&error, LlmError::BadResponse { reason, .. } if reason.contains("2 attempts")), "{error:?}");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = Server::start(vec![Reply::json(200, LLAMACPP_OK).after(Duration::from_secs(5))]).await;
    let mut config = server.config();
    config.timeout = Duration::from_millis(300);
    config.retries = 0;
    let b = backend(config.clone());
    let started = Instant::now();
    let error = complete(&b, &request()).await.expect_err("too slow");
    let took = started.elapsed();
    assert!(matches!(error, LlmError::Timeout { after, attempts: 1, .. } if after == Duration::from_millis(300)), "{error:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");

    // Retried once: both attempts time out, and the error says so.
    config.retries = 1;
    let started = Instant::now();
    let error = complete(&backend(config), &request()).await.expect_err("too slow");
    assert!(matches!(error, LlmError::Timeout { attempts: 2, .. }), "{error:?}");
    assert!(error.to_string().contains("(2 attempts)"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn an_unreachable_server() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address").port()
    };
    let mut config = OpenAiConfig::new(format!("http://127.0.0.1:{port}/v1"), "qwen");
    config.retries = 0;
    let started = Instant::now();
    let error = complete(&backend(config), &request()).await.expect_err("nothing listens");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    match &error {
        LlmError::Unreachable { url, reason } => {
            assert_eq!(url, &format!("http://127.0.0.1:{port}/v1/chat/completions"));
            assert!(reason.to_lowercase().contains("refused"), "{reason}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn http_401_is_not_retried_and_names_the_key_variable() {
    let server = Server::start(vec![Reply::json(401, ERROR_401)]).await;
    let config = server.config().api_key_from_env("VPROG_TEST_OPENAI_KEY_NEVER_SET"); // 3 retries
    let error = complete(&backend(config), &request()).await.expect_err("unauthorized");
    match &error {
        LlmError::Http { status: 401, message, .. } => {
            assert!(message.starts_with("Incorrect API key provided"), "{message}");
            assert!(message.contains("$VPROG_TEST_OPENAI_KEY_NEVER_SET is unset or empty"), "{message}");
        }
        other => panic!("expected Http 401, got {other:?}"),
    }
    assert!(!error.is_transient());
    assert_eq!(server.requests().len(), 1);

    // With a key: it was refused.
    let server = Server::start(vec![Reply::json(401, ERROR_401)]).await;
    let error = complete(&backend(server.config().with_api_key("sk-wrong")), &request()).await.expect_err("unauthorized");
    assert!(matches!(&error, LlmError::Http { status: 401, message, .. } if message.contains("was refused")), "{error:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn http_429_honours_retry_after() {
    let server = Server::start(vec![Reply::json(429, ERROR_429).header("Retry-After", "0"), Reply::json(200, LLAMACPP_OK)]).await;
    let mut config = server.config();
    // Far longer than the test may take: only Retry-After: 0 makes it quick.
    config.backoff = Duration::from_secs(20);
    let started = Instant::now();
    let reply = complete(&backend(config), &request()).await.expect("completion after a 429");
    assert_eq!(reply.text, "cues = retrieve_subtitles");
    assert!(started.elapsed() < Duration::from_secs(3), "Retry-After ignored: took {:?}", started.elapsed());
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn configuration_is_checked() {
    for url in ["127.0.0.1:8080/v1", "ftp://127.0.0.1/v1", "http://", "  "] {
        match OpenAiBackend::new(OpenAiConfig::new(url, "qwen")) {
            Err(LlmError::Invalid(message)) => assert!(message.contains("http://"), "{message}"),
            other => panic!("{url:?}: expected Invalid, got {other:?}"),
        }
    }
    assert!(matches!(OpenAiBackend::new(OpenAiConfig::new("http://127.0.0.1:8080/v1", " ")), Err(LlmError::Invalid(_))));

    let b = backend(OpenAiConfig::new("http://127.0.0.1:8080/v1/", "qwen").with_api_key("sk-secret"));
    assert_eq!(b.describe(), "openai:http://127.0.0.1:8080/v1 model qwen");
    assert_eq!(b.endpoint(), "http://127.0.0.1:8080/v1/chat/completions");
    assert!(!b.constrains());
    assert!(!format!("{b:?}").contains("sk-secret"), "{b:?}");
}
