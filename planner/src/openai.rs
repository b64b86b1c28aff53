//! Any OpenAI-compatible chat-completions server: vLLM, llama.cpp's server,
//! Ollama, hosted APIs.
//!
//! One request is one `POST {base_url}/chat/completions` with `stream: false`
//! and `logprobs: true`; the reply's text, finish reason, token counts and the
//! sum of the token log-probabilities (when the server sends them) become a
//! [`Completion`]. Transport errors, timeouts, HTTP 429 and 5xx and bodies
//! that are not chat completions are retried with exponential backoff (or
//! the server's `Retry-After`); every wait is bounded, so a request ends
//! after at most `(retries + 1) × timeout` plus the backoff waits.
//!
//! A request's [`Request::prefix`] is sent as a trailing assistant message.
//! llama.cpp's server and Ollama continue such a message; vLLM does so only
//! when asked ([`OpenAiConfig::continue_final_message`]); other servers may
//! start over, so a reply that repeats the prefix has it removed.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{Completion, Finish, LlmBackend, LlmError, Request, Role};

/// The default limit on one whole request (connecting, waiting, reading).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The default limit on opening the connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 3;
/// The default wait before the first retry (doubled for each further one).
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(500);

/// The longest computed backoff wait (unless the configured first wait is longer).
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The longest wait a server's `Retry-After` can ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The most body bytes read; a chat completion is far smaller.
const MAX_BODY: usize = 16 << 20;
/// Characters of a body quoted in a [`LlmError::BadResponse`].
const EXCERPT_CHARS: usize = 120;
/// Characters of a non-JSON error body quoted in a [`LlmError::Http`].
const HTTP_BODY_CHARS: usize = 200;
/// Characters of a server's error message kept in a [`LlmError::Http`].
const HTTP_MESSAGE_CHARS: usize = 1000;

/// Where and how to reach an OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API root, ending before `/chat/completions`
    /// (`http://127.0.0.1:8080/v1`); a trailing slash is tolerated.
    pub base_url: String,
    /// The model name sent with each request (llama.cpp's server accepts any).
    pub model: String,
    /// Sent as `Authorization: Bearer KEY`; `None` (or empty) sends no
    /// header, which local servers do not need.
    pub api_key: Option<String>,
    /// The environment variable the key was read from, named in the error
    /// when the server answers 401 or 403.
    pub api_key_env: Option<String>,
    /// Limit on one whole attempt: connecting, waiting, reading the body.
    pub timeout: Duration,
    /// Limit on opening the connection.
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for errors that may pass
    /// ([`LlmError::is_transient`]).
    pub retries: u32,
    /// The wait before the first retry, doubled for each further one and
    /// capped at 8 s (or at this wait, if longer). A `Retry-After: SECONDS`
    /// header replaces it, capped at 30 s.
    pub backoff: Duration,
    /// Ask for token log-probabilities (`logprobs: true`). Some hosted APIs
    /// refuse the field; turn it off for them.
    pub logprobs: bool,
    /// With a non-empty prefix, also send vLLM's `continue_final_message:
    /// true, add_generation_prompt: false`, without which vLLM starts a new
    /// assistant message after the prefix. Other servers may refuse the
    /// unknown fields, so it is off by default.
    pub continue_final_message: bool,
}

impl OpenAiConfig {
    /// The server at `base_url` serving `model`, without an API key, with
    /// the default limits (120 s per attempt, 10 s to connect, 3 retries
    /// from 500 ms).
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            api_key_env: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            backoff: DEFAULT_BACKOFF,
            logprobs: true,
            continue_final_message: false,
        }
    }

    /// The API key read from the environment variable `var` (surrounding
    /// whitespace removed); unset, empty or not Unicode means no key. The
    /// variable's name is kept for the error a refused key causes.
    pub fn api_key_from_env(mut self, var: &str) -> OpenAiConfig {
        self.api_key = std::env::var(var).ok().map(|key| key.trim().to_owned()).filter(|key| !key.is_empty());
        self.api_key_env = Some(var.to_owned());
        self
    }

    /// This API key (no environment variable involved).
    pub fn with_api_key(mut self, key: impl Into<String>) -> OpenAiConfig {
        self.api_key = Some(key.into());
        self.api_key_env = None;
        self
    }
}

impl std::fmt::Debug for OpenAiConfig {
    // By hand, so that the key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_env", &self.api_key_env)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .field("logprobs", &self.logprobs)
            .field("continue_final_message", &self.continue_final_message)
            .finish()
    }
}

/// A chat-completions client for one server and model.
pub struct OpenAiBackend {
    config: OpenAiConfig,
    /// `base_url` without its trailing slashes.
    base_url: String,
    /// `{base_url}/chat/completions`.
    endpoint: String,
    /// `Bearer KEY`, when there is a key.
    auth: Option<HeaderValue>,
    client: reqwest::Client,
}

impl std::fmt::Debug for OpenAiBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiBackend").field("endpoint", &self.endpoint).field("config", &self.config).finish()
    }
}

impl OpenAiBackend {
    /// A client for `config`'s server; nothing is sent yet.
    ///
    /// [`LlmError::Invalid`] when the base URL is not an `http://` or
    /// `https://` URL, the model name is empty, a time limit is zero, or
    /// the key cannot be sent in a header.
    pub fn new(config: OpenAiConfig) -> Result<OpenAiBackend, LlmError> {
        let base_url = validate_base_url(&config.base_url)?;
        if config.model.trim().is_empty() {
            return Err(LlmError::Invalid(format!(
                "no model name for the language-model server at {base_url} (llama.cpp's server accepts any name; vLLM, Ollama and hosted APIs need the one they serve)"
            )));
        }
        if config.timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(LlmError::Invalid(format!(
                "the time limits for the language-model server at {base_url} must be above zero (timeout {:?}, connect timeout {:?})",
                config.timeout, config.connect_timeout
            )));
        }
        let auth = match config.api_key.as_deref().map(str::trim).filter(|key| !key.is_empty()) {
            None => None,
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                    let from = config.api_key_env.as_deref().map(|var| format!(" (from ${var})")).unwrap_or_default();
                    LlmError::Invalid(format!("the API key{from} has characters an HTTP header cannot carry"))
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            // A redirect would turn the POST into a GET; say where it points instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vprog/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Invalid(format!("cannot set up the HTTP client: {}", error_chain(&e))))?;
        let endpoint = format!("{base_url}/chat/completions");
        Ok(OpenAiBackend { config, base_url, endpoint, auth, client })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The URL requests are posted to (`{base_url}/chat/completions`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The JSON body of `request`, serialized once for all attempts.
    fn request_body(&self, request: &Request) -> Result<Vec<u8>, LlmError> {
        if !request.temperature.is_finite() || request.temperature < 0.0 {
            return Err(LlmError::Invalid(format!("temperature {} is not a number of zero or more", request.temperature)));
        }
        let mut messages: Vec<ChatMessage<'_>> =
            request.messages.iter().map(|m| ChatMessage { role: m.role, content: &m.content }).collect();
        let prefixed = !request.prefix.is_empty();
        if prefixed {
            messages.push(ChatMessage { role: Role::Assistant, content: &request.prefix });
        }
        let continue_final = prefixed && self.config.continue_final_message;
        let body = ChatRequest {
            model: &self.config.model,
            messages,
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            seed: request.seed,
            stop: &request.stop,
            logprobs: self.config.logprobs,
            stream: false,
            continue_final_message: continue_final.then_some(true),
            add_generation_prompt: continue_final.then_some(false),
        };
        serde_json::to_vec(&body).map_err(|e| LlmError::Invalid(format!("cannot encode the request: {e}")))
    }

    /// One request, bounded by the configured timeout as a whole.
    async fn attempt(&self, body: &[u8]) -> Result<Completion, Failure> {
        match tokio::time::timeout(self.config.timeout, self.exchange(body)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::new(self.timeout_error())),
        }
    }

    /// Send `body`, read the whole reply, make it a completion.
    async fn exchange(&self, body: &[u8]) -> Result<Completion, Failure> {
        let mut builder = self
            .client
            .post(&self.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body.to_vec());
        if let Some(auth) = &self.auth {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        let mut response = builder.send().await.map_err(|e| Failure::new(self.transport_error(&e)))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let location = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned);
        let read = read_body(&mut response).await;

        if !status.is_success() {
            let (bytes, unread) = match &read {
                Ok(body) => (body.bytes.as_slice(), None),
                Err(broken) => (broken.partial.as_slice(), Some(&broken.error)),
            };
            let mut message = match server_message(bytes) {
                Some(message) => message,
                None if bytes.iter().all(u8::is_ascii_whitespace) => match unread {
                    Some(e) => format!("(the body could not be read: {})", error_chain(e)),
                    None => format!("(empty body; {})", status.canonical_reason().unwrap_or("no reason given")),
                },
                None => excerpt(bytes, HTTP_BODY_CHARS).trim().to_owned(),
            };
            if status.as_u16() == 401 || status.as_u16() == 403 {
                message.push_str(&self.auth_hint());
            }
            if status.is_redirection() {
                if let Some(location) = location {
                    message.push_str(&format!(" (redirected to {location}; is the base URL right?)"));
                }
            }
            let error = LlmError::Http { url: self.endpoint.clone(), status: status.as_u16(), message };
            return Err(Failure { error, retry_after });
        }

        let body = match read {
            Ok(body) => body,
            Err(broken) if broken.error.is_timeout() => return Err(Failure::new(self.timeout_error())),
            Err(broken) => {
                let reason = format!("the body broke off: {}", error_chain(&broken.error));
                return Err(Failure::new(self.bad_response(reason, &broken.partial)));
            }
        };
        if body.cut {
            return Err(Failure::new(self.bad_response(format!("the body is over {} MiB", MAX_BODY >> 20), &body.bytes)));
        }
        parse_reply(&body.bytes).map_err(|reason| Failure::new(self.bad_response(reason, &body.bytes)))
    }

    fn timeout_error(&self) -> LlmError {
        LlmError::Timeout { url: self.endpoint.clone(), after: self.config.timeout, attempts: 1 }
    }

    fn bad_response(&self, reason: String, body: &[u8]) -> LlmError {
        LlmError::BadResponse { url: self.endpoint.clone(), reason, excerpt: excerpt(body, EXCERPT_CHARS) }
    }

    /// The error of a request that got no reply.
    fn transport_error(&self, e: &reqwest::Error) -> LlmError {
        if e.is_builder() {
            return LlmError::Invalid(format!("cannot make a request to {}: {}", self.endpoint, error_chain(e)));
        }
        if e.is_timeout() {
            if e.is_connect() {
                let reason = format!("no connection within {:?}", self.config.connect_timeout);
                return LlmError::Unreachable { url: self.endpoint.clone(), reason };
            }
            return self.timeout_error();
        }
        LlmError::Unreachable { url: self.endpoint.clone(), reason: error_chain(e) }
    }

    /// What a 401 or 403 probably means.
    fn auth_hint(&self) -> String {
        match (self.config.api_key_env.as_deref(), self.auth.is_some()) {
            (Some(var), false) => format!(" (no API key was sent: ${var} is unset or empty)"),
            (Some(var), true) => format!(" (the API key in ${var} was refused)"),
            (None, false) => " (no API key was sent)".to_owned(),
            (None, true) => " (the API key was refused)".to_owned(),
        }
    }

    /// The wait before retry number `retry` (1 for the first).
    fn retry_wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(MAX_RETRY_AFTER);
        }
        let doubled = self.config.backoff.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        doubled.min(MAX_BACKOFF.max(self.config.backoff))
    }
}

#[async_trait]
impl LlmBackend for OpenAiBackend {
    fn describe(&self) -> String {
        format!("openai:{} model {}", self.base_url, self.config.model)
    }

    fn constrains(&self) -> bool {
        false
    }

    async fn complete(&self, request: &Request) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let body = self.request_body(request)?;
        let most = self.config.retries.saturating_add(1);
        let mut attempts = 1;
        loop {
            let failure = match self.attempt(&body).await {
                Ok(mut completion) => {
                    if !request.prefix.is_empty() {
                        if let Some(rest) = completion.text.strip_prefix(request.prefix.as_str()) {
                            completion.text = rest.to_owned();
                        }
                    }
                    completion.elapsed = started.elapsed();
                    return Ok(completion);
                }
                Err(failure) => failure,
            };
            if attempts >= most || !failure.error.is_transient() {
                return Err(with_attempts(failure.error, attempts));
            }
            let wait = self.retry_wait(attempts, failure.retry_after);
            tracing::warn!(
                attempt = attempts,
                of = most,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "language-model request failed, retrying: {}",
                failure.error
            );
            tokio::time::sleep(wait).await;
            attempts += 1;
        }
    }
}

/// A failed attempt, with the wait the server asked for.
struct Failure {
    error: LlmError,
    retry_after: Option<Duration>,
}

impl Failure {
    fn new(error: LlmError) -> Failure {
        Failure { error, retry_after: None }
    }
}

/// The request body.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    max_tokens: usize,
    temperature: f64,
    seed: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    logprobs: bool,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    continue_final_message: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    add_generation_prompt: Option<bool>,
}

/// One message of the request body.
#[derive(Serialize)]
struct ChatMessage<'a> {
    role: Role,
    content: &'a str,
}

/// A response body, read whole or up to [`MAX_BODY`].
struct Body {
    bytes: Vec<u8>,
    /// Whether it went on past [`MAX_BODY`].
    cut: bool,
}

/// A response body that broke off.
struct BrokenBody {
    error: reqwest::Error,
    partial: Vec<u8>,
}

async fn read_body(response: &mut reqwest::Response) -> Result<Body, BrokenBody> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_BODY {
                    let room = MAX_BODY - bytes.len();
                    bytes.extend_from_slice(&chunk[..room]);
                    return Ok(Body { bytes, cut: true });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Body { bytes, cut: false }),
            Err(error) => return Err(BrokenBody { error, partial: bytes }),
        }
    }
}

/// A chat-completion body as a [`Completion`] (`elapsed` zero), or why not.
fn parse_reply(body: &[u8]) -> Result<Completion, String> {
    let reply: Value = serde_json::from_slice(body).map_err(|e| {
        if e.is_eof() {
            format!("the JSON ends early (truncated?): {e}")
        } else {
            format!("not JSON: {e}")
        }
    })?;
    let Some(object) = reply.as_object() else {
        return Err("the JSON is not an object".to_owned());
    };
    let choices = match object.get("choices") {
        Some(Value::Array(choices)) => choices,
        Some(_) => return Err("`choices` is not a list".to_owned()),
        None => {
            return Err(match server_message(body) {
                Some(message) => format!("the server reported an error: {message}"),
                None => "no `choices`".to_owned(),
            })
        }
    };
    let Some(choice) = choices.first() else {
        return Err("`choices` is empty".to_owned());
    };
    let text = match choice.get("message").and_then(|m| m.get("content")) {
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) => return Err("`choices[0].message.content` is missing or null".to_owned()),
        Some(_) => return Err("`choices[0].message.content` is not a string".to_owned()),
    };
    let finish = match choice.get("finish_reason").and_then(Value::as_str) {
        Some("length") => Finish::Length,
        _ => Finish::Stop,
    };
    let usage = |field: &str| object.get("usage").and_then(|u| u.get(field)).and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
    let token_logprobs: Vec<f64> = choice
        .get("logprobs")
        .and_then(|l| l.get("content"))
        .and_then(Value::as_array)
        .map(|tokens| tokens.iter().filter_map(|t| t.get("logprob").and_then(Value::as_f64)).collect())
        .unwrap_or_default();
    let logprob = (!token_logprobs.is_empty()).then(|| token_logprobs.iter().sum());
    // Without `usage`, each log-probability entry is one generated token.
    let completion_tokens = usage("completion_tokens").or((!token_logprobs.is_empty()).then_some(token_logprobs.len()));
    Ok(Completion {
        text,
        prompt_tokens: usage("prompt_tokens"),
        reused_tokens: None,
        completion_tokens,
        logprob,
        finish,
        constrained: false,
        elapsed: Duration::ZERO,
    })
}

/// The message of a JSON error body: `{"error":{"message":…}}`, or the
/// looser `{"error":"…"}`, `{"message":"…"}` (older vLLM) and
/// `{"detail":"…"}` (FastAPI).
fn server_message(body: &[u8]) -> Option<String> {
    let reply: Value = serde_json::from_slice(body).ok()?;
    let message = match reply.get("error") {
        Some(Value::Object(error)) => error.get("message").and_then(Value::as_str),
        Some(Value::String(error)) => Some(error.as_str()),
        _ => None,
    }
    .or_else(|| reply.get("message").and_then(Value::as_str))
    .or_else(|| reply.get("detail").and_then(Value::as_str))?
    .trim();
    if message.is_empty() {
        return None;
    }
    let mut kept: String = message.chars().take(HTTP_MESSAGE_CHARS).collect();
    if kept.len() < message.len() {
        kept.push('…');
    }
    Some(kept)
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// The first `chars` characters of `body`, invalid UTF-8 replaced.
fn excerpt(body: &[u8], chars: usize) -> String {
    let head = &body[..body.len().min(chars.saturating_mul(4))];
    String::from_utf8_lossy(head).chars().take(chars).collect()
}

/// The causes of `e`, outermost first (reqwest's own text only repeats the URL).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        cause = c.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// `error` with the number of attempts made, when more than one.
fn with_attempts(error: LlmError, attempts: u32) -> LlmError {
    if attempts <= 1 {
        return error;
    }
    let note = format!(" ({attempts} attempts)");
    match error {
        LlmError::Timeout { url, after, .. } => LlmError::Timeout { url, after, attempts },
        LlmError::Unreachable { url, reason } => LlmError::Unreachable { url, reason: reason + &note },
        LlmError::Http { url, status, message } => LlmError::Http { url, status, message: message + &note },
        LlmError::BadResponse { url, reason, excerpt } => LlmError::BadResponse { url, reason: reason + &note, excerpt },
        other => other,
    }
}

/// `base_url` checked and without trailing slashes.
fn validate_base_url(base_url: &str) -> Result<String, LlmError> {
    let trimmed = base_url.trim().trim_end_matches('/');
    let invalid = |why: &str| {
        LlmError::Invalid(format!(
            "the language-model server URL {base_url:?} {why} (expected the API root, like http://127.0.0.1:8080/v1)"
        ))
    };
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(invalid("does not start with http:// or https://"));
    }
    let url = reqwest::Url::parse(trimmed).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("has a query or fragment"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(backoff: Duration) -> OpenAiBackend {
        let mut config = OpenAiConfig::new("http://127.0.0.1:1/v1", "m");
        config.backoff = backoff;
        OpenAiBackend::new(config).expect("valid config")
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = backend(Duration::from_millis(500));
        let waits: Vec<u128> = (1..=7).map(|n| b.retry_wait(n, None).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(b.retry_wait(u32::MAX, None), MAX_BACKOFF);
        assert_eq!(b.retry_wait(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(b.retry_wait(1, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
        // A first wait above the cap is kept, not shortened.
        assert_eq!(backend(Duration::from_secs(20)).retry_wait(3, None), Duration::from_secs(20));
    }

    #[test]
    fn base_urls() {
        assert_eq!(validate_base_url("http://127.0.0.1:8080/v1/").ok().as_deref(), Some("http://127.0.0.1:8080/v1"));
        assert_eq!(validate_base_url("https://api.example.com/v1").ok().as_deref(), Some("https://api.example.com/v1"));
        for bad in ["127.0.0.1:8080/v1", "ftp://host/v1", "http://", "", "http://host/v1?x=1"] {
            assert!(matches!(validate_base_url(bad), Err(LlmError::Invalid(_))), "{bad:?} accepted");
        }
    }

    #[test]
    fn excerpts_are_cut_on_characters() {
        let body = "é".repeat(500);
        assert_eq!(excerpt(body.as_bytes(), 120), "é".repeat(120));
        assert_eq!(excerpt(b"short", 120), "short");
    }
}
