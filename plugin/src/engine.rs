//! The wasmtime engine shared by every plugin of a process: fuel metering,
//! epoch interruption driven by a ticker thread, a bounded wasm stack, the
//! on-disk cache of compiled code, and the linker that provides exactly the
//! host interfaces a plugin may import.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Cache, CacheConfig, Config, Engine};

use crate::error::PluginError;
use crate::host::HostState;

/// How often the epoch advances; call deadlines are counted in these ticks.
pub const TICK: Duration = Duration::from_millis(10);

/// Largest wasm stack a call may use (deeper recursion traps).
pub const MAX_WASM_STACK: usize = 1 << 20;

/// Advances the engine's epoch every [`TICK`] until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    fn start(engine: Engine) -> Result<Ticker, PluginError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("vprog-plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Ticker { stop })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The engine, linker and compiled-code cache plugins are loaded with.
pub struct PluginHost {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    cache: Option<Cache>,
    cache_dir: Option<PathBuf>,
    _ticker: Ticker,
}

impl PluginHost {
    /// A host caching compiled plugins in `cache_dir` (`None`: compile every
    /// time).
    pub fn new(cache_dir: Option<&Path>) -> Result<Arc<PluginHost>, PluginError> {
        let err = |what: &str, e: wasmtime::Error| PluginError::Engine(format!("{what}: {e:#}"));
        let mut config = Config::new();
        config.wasm_component_model(true).consume_fuel(true).epoch_interruption(true).max_wasm_stack(MAX_WASM_STACK);
        let cache = match cache_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| PluginError::Engine(format!("cannot create the plugin cache {}: {e}", dir.display())))?;
                let mut cc = CacheConfig::new();
                cc.with_directory(dir);
                let cache = Cache::new(cc).map_err(|e| err("plugin cache", e))?;
                config.cache(Some(cache.clone()));
                Some(cache)
            }
            None => None,
        };
        let engine = Engine::new(&config).map_err(|e| err("engine", e))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| err("WASI", e))?;
        crate::wit::add_to_linker(&mut linker).map_err(|e| err("the plugin contract", e))?;
        let ticker = Ticker::start(engine.clone())?;
        Ok(Arc::new(PluginHost { engine, linker, cache, cache_dir: cache_dir.map(Path::to_path_buf), _ticker: ticker }))
    }

    /// A host with the default cache directory: `$VPROG_PLUGIN_CACHE`, else
    /// `<user cache dir>/vprog/plugins`.
    pub fn with_default_cache() -> Result<Arc<PluginHost>, PluginError> {
        PluginHost::new(default_cache_dir().as_deref())
    }

    /// Where compiled code is cached, if anywhere.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Compiled-code cache hits and misses so far.
    pub fn cache_stats(&self) -> (usize, usize) {
        self.cache.as_ref().map(|c| (c.cache_hits(), c.cache_misses())).unwrap_or((0, 0))
    }
}

/// `$VPROG_PLUGIN_CACHE`, else `<user cache dir>/vprog/plugins`.
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("VPROG_PLUGIN_CACHE") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => dirs::cache_dir().map(|d| d.join("vprog").join("plugins")),
    }
}
