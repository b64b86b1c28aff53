//! A loaded plugin: checked, compiled (or loaded from the cache), described,
//! and callable as a vprog module. One instance serves every call; an
//! instance that trapped is thrown away and the next call gets a fresh one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use serde::Serialize;
use vprog_runtime::module::{Args, CachePolicy, Module, ModuleError, Param, ParamType, Returns, Signature};
use vprog_runtime::types::Type;
use vprog_runtime::{StepContext, Value};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Resource};
use wasmtime::{Store, Trap};

use crate::convert::{self, Arg};
use crate::engine::{PluginHost, TICK};
use crate::error::PluginError;
use crate::host::{HostFrame, HostState, LimitHit};
use crate::limits::{Grants, Limits};
use crate::wit::since_v0_1_0::{self as v0_1_0, Argument, Input};
use crate::wit::{Contract, PACKAGE};

/// What `vprog plugin check` reports about a plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// The file.
    pub path: PathBuf,
    /// BLAKE3 of its bytes (hex).
    pub hash: String,
    /// Size in bytes.
    pub bytes: usize,
    /// Module name.
    pub name: String,
    /// Its declared version.
    pub version: String,
    /// `name(p: Type, ...) -> Type`.
    pub signature: String,
    /// Its documentation.
    pub doc: String,
    /// What it imports (all provided by the host).
    pub imports: Vec<String>,
    /// What it exports.
    pub exports: Vec<String>,
    /// Milliseconds to compile, or to load from the cache.
    pub compile_ms: f64,
    /// Whether the compiled code came from the on-disk cache.
    pub compile_cached: bool,
    /// The limits every call runs under.
    #[serde(skip)]
    pub limits: Limits,
    /// What it was granted.
    pub grants: Vec<String>,
}

/// A plugin linked against the host module of the contract it declares.
enum Pre {
    V0_1_0(v0_1_0::PluginPre<HostState>),
}

impl Pre {
    /// The contract the plugin was built against.
    fn contract(&self) -> Contract {
        match self {
            Pre::V0_1_0(_) => Contract::V0_1_0,
        }
    }
}

/// An instance, with the bindings of its contract.
enum Instance {
    V0_1_0(v0_1_0::Plugin),
}

/// A live instance and how much of its stdio has been reported.
struct Live {
    store: Store<HostState>,
    instance: Instance,
    stdout_seen: usize,
    stderr_seen: usize,
}

/// A plugin ready to be called.
pub struct Plugin {
    info: PluginInfo,
    signature: Signature,
    /// Declared parameter types, in order.
    params: Vec<(String, Type)>,
    returns: Type,
    pre: Pre,
    host: Arc<PluginHost>,
    limits: Limits,
    grants: Grants,
    live: Mutex<Option<Live>>,
}

/// What one call left behind, for the trace.
struct CallReport {
    fuel_used: u64,
    fresh_instance: bool,
    stdout: String,
    stderr: String,
}

impl Plugin {
    /// Reads, checks, compiles and describes the plugin at `path`.
    pub fn load(host: &Arc<PluginHost>, path: &Path, limits: Limits, grants: Grants) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|e| PluginError::io(path, e))?;
        check_header(path, &bytes)?;
        let (hits, misses) = host.cache_stats();
        let t = Instant::now();
        let component = Component::from_binary(&host.engine, &bytes)
            .map_err(|e| PluginError::Corrupt { path: path.into(), reason: format!("{e:#}") })?;
        let compile_ms = t.elapsed().as_secs_f64() * 1e3;
        let compile_cached = host.cache_stats() == (hits + 1, misses);
        let (imports, exports, contract) = check_world(path, &host.engine, &component)?;
        let instance_pre = host
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Corrupt { path: path.into(), reason: format!("cannot link: {e:#}") })?;
        let missing = |e: wasmtime::Error| PluginError::MissingExport { path: path.into(), exports: format!("{e:#}") };
        let pre = match contract {
            Contract::V0_1_0 => Pre::V0_1_0(v0_1_0::PluginPre::new(instance_pre).map_err(missing)?),
        };
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let mut plugin = Plugin {
            info: PluginInfo {
                path: path.into(),
                hash,
                bytes: bytes.len(),
                name: String::new(),
                version: String::new(),
                signature: String::new(),
                doc: String::new(),
                imports,
                exports,
                compile_ms,
                compile_cached,
                limits: limits.clone(),
                grants: grants.describe(),
            },
            signature: Signature::new("", "", Returns::Is(Type::Any), ""),
            params: Vec::new(),
            returns: Type::Any,
            pre,
            host: host.clone(),
            limits,
            grants,
            live: Mutex::new(None),
        };
        plugin.describe()?;
        Ok(plugin)
    }

    /// The same plugin with `grants`; the next call runs in a fresh instance
    /// that has them. (Loading describes a plugin with nothing granted.)
    pub fn with_grants(mut self, grants: Grants) -> Plugin {
        self.info.grants = grants.describe();
        self.signature.cache = if grants.any() { CachePolicy::Never } else { CachePolicy::Memory };
        self.grants = grants;
        *self.live.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        self
    }

    /// Where its results may be cached (nowhere once anything is granted).
    pub fn cache_policy(&self) -> CachePolicy {
        self.signature.cache
    }

    /// What was found when loading it.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The host it runs on.
    pub fn host(&self) -> &Arc<PluginHost> {
        &self.host
    }

    /// Calls `describe` and turns its answer into a checked signature.
    fn describe(&mut self) -> Result<(), PluginError> {
        let path = self.info.path.clone();
        let bad = |reason: String| PluginError::BadSignature { path: path.clone(), reason };
        let mut live = self.instantiate().map_err(|e| {
            let reason = match e {
                PluginError::Call { reason, .. } => reason,
                e => e.to_string(),
            };
            let hint = if reason.contains("fuel") { " (raise --plugin-fuel)" } else { "" };
            PluginError::Start { path: path.clone(), reason: format!("{reason}{hint}") }
        })?;
        self.arm(&mut live.store)?;
        let Instance::V0_1_0(bindings) = &live.instance;
        let sig = match bindings.vprog_plugin_module().call_describe(&mut live.store) {
            Ok(sig) => sig,
            Err(e) => {
                return Err(PluginError::Start { path: path.clone(), reason: format!("`describe` failed: {}", self.explain(&e, &live)) })
            }
        };
        let name = sig.name.trim().to_string();
        if name.is_empty()
            || !name.starts_with(|c: char| c.is_ascii_lowercase())
            || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || name.len() > 64
        {
            return Err(bad(format!(
                "the name `{name}` is not a valid module name (lowercase letters, digits and `_`, starting with a letter)"
            )));
        }
        if sig.version.trim().is_empty() || sig.version.len() > 64 {
            return Err(bad("the version is empty or too long".into()));
        }
        let mut params = Vec::new();
        let mut rt_params = Vec::new();
        for p in &sig.params {
            let ty = convert::to_type(&p.ty);
            if !convert::input_supported(&ty) {
                return Err(bad(format!(
                    "parameter `{}` has type {ty}, which plugins cannot take in vprog:plugin@{} (supported: {})",
                    p.name,
                    self.pre.contract().version(),
                    convert::INPUT_TYPES
                )));
            }
            if p.name.is_empty() || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad(format!("parameter name `{}` is not an identifier", p.name)));
            }
            if params.iter().any(|(n, _): &(String, Type)| *n == p.name) {
                return Err(bad(format!("parameter `{}` is declared twice", p.name)));
            }
            let mut rp = Param::required(leak(&p.name), ParamType::Is(ty.clone()), leak(&p.doc));
            if p.optional {
                rp = rp.optional();
            }
            rt_params.push(rp);
            params.push((p.name.clone(), ty));
        }
        let returns = convert::to_type(&sig.returns);
        if !convert::output_supported(&returns) {
            return Err(bad(format!(
                "the return type {returns} cannot be returned by plugins in vprog:plugin@{} (supported: {})",
                self.pre.contract().version(),
                convert::OUTPUT_TYPES
            )));
        }
        // The file's hash is part of the version, so a rebuilt plugin never
        // reuses results cached for the old one.
        let version = format!("{}+{}", sig.version.trim(), &self.info.hash[..12]);
        let mut signature = Signature::new(leak(&name), leak(&version), Returns::Is(returns.clone()), leak(&sig.doc));
        signature.params = rt_params;
        signature.cache = if self.grants.any() { CachePolicy::Never } else { CachePolicy::Memory };
        self.info.name = name;
        self.info.version = sig.version.trim().to_string();
        self.info.doc = sig.doc.clone();
        self.info.signature = signature.display();
        self.signature = signature;
        self.params = params;
        self.returns = returns;
        *self.live.lock().unwrap_or_else(PoisonError::into_inner) = Some(live);
        Ok(())
    }

    fn instantiate(&self) -> Result<Live, PluginError> {
        let state = HostState::new(&self.limits, &self.grants)?;
        let mut store = Store::new(&self.host.engine, state);
        store.limiter(|s| &mut s.limiter);
        self.arm(&mut store)?;
        let fail = |e: wasmtime::Error| PluginError::Call {
            module: self.info.name.clone(),
            reason: format!("cannot instantiate {}: {e:#}", self.info.path.display()),
        };
        let instance = match &self.pre {
            Pre::V0_1_0(pre) => Instance::V0_1_0(pre.instantiate(&mut store).map_err(fail)?),
        };
        Ok(Live { store, instance, stdout_seen: 0, stderr_seen: 0 })
    }

    /// Refuels the store and sets the wall-clock deadline for the next call.
    fn arm(&self, store: &mut Store<HostState>) -> Result<(), PluginError> {
        store.set_fuel(self.limits.fuel).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        let ticks = self.limits.timeout.as_millis().div_ceil(TICK.as_millis()).max(1) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        Ok(())
    }

    /// A trap or host error in plain words, with the plugin's stderr.
    fn explain(&self, e: &wasmtime::Error, live: &Live) -> String {
        let l = &self.limits;
        let mut why = match (&live.store.data().limiter.hit, e.downcast_ref::<Trap>()) {
            (Some(LimitHit::Memory { wanted, limit }), _) => format!(
                "exceeded its memory limit of {} MiB (it asked for {} MiB; raise it with --plugin-memory)",
                limit >> 20,
                wanted.div_ceil(1 << 20)
            ),
            (Some(LimitHit::Table { wanted, limit }), _) => format!("exceeded its table limit of {limit} elements (it asked for {wanted})"),
            (None, Some(Trap::OutOfFuel)) => {
                format!("ran out of fuel: it used all {} units allowed per call (raise it with --plugin-fuel)", l.fuel)
            }
            (None, Some(Trap::Interrupt)) => {
                format!("exceeded its time limit of {:.1} s per call (raise it with --plugin-timeout)", l.timeout.as_secs_f64())
            }
            (None, Some(Trap::StackOverflow)) => "overflowed its stack (unbounded recursion?)".to_string(),
            (None, Some(Trap::UnreachableCodeReached)) => "trapped: it reached `unreachable` (a panic or abort)".to_string(),
            (None, Some(t)) => format!("trapped: {t}"),
            (None, None) => {
                let text = format!("{e:#}");
                if text.contains("beyond capacity of MemoryOutputPipe") {
                    format!("wrote more than {} KiB to stdout or stderr", l.max_stdio_bytes >> 10)
                } else {
                    text
                }
            }
        };
        if let Some(bt) = e.downcast_ref::<wasmtime::WasmBacktrace>() {
            let frames: Vec<String> = bt.frames().iter().take(4).filter_map(|f| f.func_name().map(str::to_string)).collect();
            if !frames.is_empty() {
                why.push_str(&format!(" (in {})", frames.join(" ← ")));
            }
        }
        let stderr = tail(&live.store.data().stderr.contents()[live.stderr_seen..], 600);
        if !stderr.is_empty() {
            why.push_str(&format!("; its stderr: {stderr}"));
        }
        why
    }

    /// Runs one call on the blocking thread this is invoked from.
    fn call_sync(&self, args: &Args) -> Result<(Value, CallReport), PluginError> {
        let name = self.info.name.clone();
        let fail = |reason: String| PluginError::Call { module: name.clone(), reason };
        let mut guard = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        // A chatty instance is replaced before its stdio buffers fill (after
        // each call, `*_seen` is all it has written).
        if guard.as_ref().is_some_and(|l| l.stdout_seen.max(l.stderr_seen) > self.limits.max_stdio_bytes / 2) {
            *guard = None;
        }
        let fresh_instance = guard.is_none();
        let mut live = match guard.take() {
            Some(live) => live,
            None => self.instantiate()?,
        };
        // Arguments, with frames lent as handles.
        let mut wit_args = Vec::with_capacity(self.params.len());
        for (pname, ty) in &self.params {
            let Some(v) = args.get(pname) else { continue };
            let value = match convert::to_input(pname, ty, v).map_err(&fail)? {
                Arg::Plain(i) => i,
                Arg::Frames(frames) => {
                    let mut handles = Vec::with_capacity(frames.len());
                    for f in frames {
                        handles.push(live.store.data_mut().lend(f).map_err(|e| fail(format!("cannot lend a frame: {e:#}")))?);
                    }
                    Input::Frames(handles)
                }
            };
            wit_args.push(Argument { name: pname.clone(), value });
        }
        self.arm(&mut live.store)?;
        let Instance::V0_1_0(bindings) = &live.instance;
        let result = bindings.vprog_plugin_module().call_call(&mut live.store, &wit_args);
        let fuel_used = self.limits.fuel.saturating_sub(live.store.get_fuel().unwrap_or(0));
        let (out, err) = (live.store.data().stdout.contents(), live.store.data().stderr.contents());
        let stdout = tail(&out[live.stdout_seen.min(out.len())..], 4000);
        let stderr = tail(&err[live.stderr_seen.min(err.len())..], 4000);
        let report = CallReport { fuel_used, fresh_instance, stdout, stderr };
        let outcome = match result {
            Err(e) => {
                // The instance may be in any state after a trap: drop it.
                return Err(fail(self.explain(&e, &live)));
            }
            Ok(r) => r,
        };
        for a in wit_args {
            if let Input::Frames(handles) = a.value {
                for h in handles {
                    let _ = live.store.data_mut().take_back(Resource::<HostFrame>::new_own(h.rep()));
                }
            }
        }
        (live.stdout_seen, live.stderr_seen) = (out.len(), err.len());
        *guard = Some(live);
        drop(guard);
        let output = outcome.map_err(|msg| fail(format!("reported an error: {}", tail(msg.as_bytes(), 2000))))?;
        let size = convert::output_size(&output);
        if size > self.limits.max_output_bytes {
            return Err(fail(format!(
                "returned {:.1} MiB, more than the output limit of {} MiB",
                size as f64 / (1 << 20) as f64,
                self.limits.max_output_bytes >> 20
            )));
        }
        let value = convert::from_output(&self.returns, output).map_err(&fail)?;
        Ok((value, report))
    }
}

/// Checks the first bytes: WebAssembly, and a component rather than a core module.
fn check_header(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        let reason =
            if bytes.is_empty() { "the file is empty".to_string() } else { "it does not start with the WebAssembly magic `\\0asm`".into() };
        return Err(PluginError::Corrupt { path: path.into(), reason });
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Err(PluginError::CoreModule { path: path.into() }),
        [_, _, 1, 0] => Ok(()),
        _ => Err(PluginError::Corrupt { path: path.into(), reason: format!("unknown WebAssembly version/layer {:?}", &bytes[4..8]) }),
    }
}

const WASI_PROVIDED: [&str; 6] = ["wasi:cli/", "wasi:clocks/", "wasi:filesystem/", "wasi:io/", "wasi:random/", "wasi:sockets/"];

/// Checks imports and exports against what this host provides and expects;
/// returns both lists and the contract version the plugin declares (every
/// `vprog:plugin` interface it names must carry the same supported version).
fn check_world(path: &Path, engine: &wasmtime::Engine, component: &Component) -> Result<(Vec<String>, Vec<String>, Contract), PluginError> {
    let ty = component.component_type();
    let ours = format!("{PACKAGE}/");
    let mut contract: Option<Contract> = None;
    let mut declare = |name: &str, version: &str| -> Result<(), PluginError> {
        let wrong = || PluginError::WrongVersion { path: path.into(), found: name.to_string(), supported: crate::wit::supported() };
        match (Contract::of_version(version), contract) {
            (None, _) => Err(wrong()),
            (Some(c), Some(seen)) if c != seen => Err(wrong()),
            (Some(c), _) => {
                contract = Some(c);
                Ok(())
            }
        }
    };
    let mut imports = Vec::new();
    for (name, _) in ty.imports(engine) {
        let (iface, version) = name.split_once('@').unwrap_or((name, ""));
        if let Some(rest) = iface.strip_prefix(&ours) {
            declare(name, version)?;
            if !matches!(rest, "frames" | "types") {
                return Err(PluginError::UnknownImport { path: path.into(), import: name.to_string() });
            }
        } else if !(WASI_PROVIDED.iter().any(|p| iface.starts_with(p)) && version.starts_with("0.2.")) {
            return Err(PluginError::UnknownImport { path: path.into(), import: name.to_string() });
        }
        imports.push(name.to_string());
    }
    let mut exports = Vec::new();
    let mut found = false;
    for (name, item) in ty.exports(engine) {
        exports.push(name.to_string());
        let (iface, version) = name.split_once('@').unwrap_or((name, ""));
        if iface == format!("{PACKAGE}/module") {
            declare(name, version)?;
            found = matches!(item.ty, ComponentItem::ComponentInstance(_));
        }
    }
    match (found, contract) {
        (true, Some(c)) => Ok((imports, exports, c)),
        _ => {
            let exports = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
            Err(PluginError::MissingExport { path: path.into(), exports })
        }
    }
}

/// The last `max` bytes of `bytes` as lossy UTF-8, trimmed.
fn tail(bytes: &[u8], max: usize) -> String {
    let start = bytes.len().saturating_sub(max);
    let s = String::from_utf8_lossy(&bytes[start..]).trim().to_string();
    if start > 0 {
        format!("…{s}")
    } else {
        s
    }
}

/// Plugin signatures live as long as the process (the registry holds
/// `&'static str` names, as for built-ins); a plugin is loaded once per run.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// A plugin as a module of the registry.
pub struct PluginModule(pub Arc<Plugin>);

#[async_trait]
impl Module for PluginModule {
    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let plugin = self.0.clone();
        let started = Instant::now();
        let (value, report) = ctx.blocking(move || plugin.call_sync(&args).map_err(|e| ModuleError::Failed(e.to_string()))).await?;
        ctx.note("plugin", format!("{} ({} bytes, blake3 {})", self.0.info.path.display(), self.0.info.bytes, &self.0.info.hash[..16]));
        ctx.note("instance", if report.fresh_instance { "instantiated for this call" } else { "reused" });
        ctx.note("fuel_used", report.fuel_used);
        ctx.note("wall_ms", (started.elapsed().as_secs_f64() * 1e3 * 10.0).round() / 10.0);
        if !self.0.grants.any() {
            ctx.note("grants", "none");
        } else {
            ctx.note("grants", self.0.grants.describe());
        }
        if !report.stdout.is_empty() {
            ctx.note("stdout", report.stdout);
        }
        if !report.stderr.is_empty() {
            ctx.note("stderr", report.stderr);
        }
        Ok(value)
    }
}
