//! What the host gives a plugin instance: lent frames, a WASI context that
//! grants nothing unless asked, captured stdio, and memory/table limits.

use std::time::Duration;

use vprog_runtime::value::Frame;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime::ResourceLimiter;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::error::PluginError;
use crate::limits::{Grants, Limits};
use crate::wit::since_v0_1_0::vprog::plugin::{frames, types};

/// A frame lent to a plugin for one call (shares the host's pixels).
pub struct HostFrame(pub Frame);

/// Why the limiter refused to grow a memory or table (recorded so the trap
/// that follows can be explained).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LimitHit {
    Memory { wanted: usize, limit: usize },
    Table { wanted: usize, limit: usize },
}

/// Memory and table limits for one store.
pub(crate) struct Limiter {
    memory: usize,
    table_elements: usize,
    instances: usize,
    pub(crate) hit: Option<LimitHit>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.hit = Some(LimitHit::Memory { wanted: desired, limit: self.memory });
            return Err(wasmtime::Error::msg(format!("memory limit of {} MiB reached", self.memory >> 20)));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.hit = Some(LimitHit::Table { wanted: desired, limit: self.table_elements });
            return Err(wasmtime::Error::msg(format!("table limit of {} elements reached", self.table_elements)));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

/// The state of one plugin instance's store.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

/// A clock stuck at the Unix epoch (the default when `clock` is not granted):
/// time-dependent plugins stay deterministic, and so cacheable.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl HostState {
    /// A fresh state with exactly `grants`.
    pub(crate) fn new(limits: &Limits, grants: &Grants) -> Result<HostState, PluginError> {
        let stdout = MemoryOutputPipe::new(limits.max_stdio_bytes);
        let stderr = MemoryOutputPipe::new(limits.max_stdio_bytes);
        let mut b = WasiCtxBuilder::new();
        b.stdout(stdout.clone()).stderr(stderr.clone());
        b.allow_tcp(grants.net).allow_udp(grants.net).allow_ip_name_lookup(grants.net);
        if grants.net {
            b.inherit_network();
        }
        if grants.env {
            b.inherit_env();
        }
        if !grants.clock {
            b.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
        }
        for d in &grants.dirs {
            let guest = d.host.to_string_lossy().into_owned();
            let perms = if d.read_only { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
            b.preopened_dir(&d.host, &guest, perms)
                .map_err(|e| PluginError::BadGrant { spec: format!("dir={}", d.host.display()), reason: e.to_string() })?;
        }
        Ok(HostState {
            wasi: b.build(),
            table: ResourceTable::new(),
            limiter: Limiter { memory: limits.memory_bytes, table_elements: limits.table_elements, instances: limits.instances, hit: None },
            stdout,
            stderr,
        })
    }

    /// Lends a frame to the guest for one call.
    pub(crate) fn lend(&mut self, frame: Frame) -> wasmtime::Result<Resource<HostFrame>> {
        Ok(self.table.push(HostFrame(frame))?)
    }

    /// Takes a lent frame back.
    pub(crate) fn take_back(&mut self, frame: Resource<HostFrame>) -> wasmtime::Result<()> {
        self.table.delete(frame)?;
        Ok(())
    }

    fn frame(&self, r: &Resource<HostFrame>) -> wasmtime::Result<&Frame> {
        Ok(&self.table.get(r)?.0)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

impl frames::Host for HostState {}

impl frames::HostFrame for HostState {
    fn time(&mut self, f: Resource<HostFrame>) -> wasmtime::Result<f64> {
        Ok(self.frame(&f)?.time)
    }

    fn width(&mut self, f: Resource<HostFrame>) -> wasmtime::Result<u32> {
        Ok(self.frame(&f)?.width)
    }

    fn height(&mut self, f: Resource<HostFrame>) -> wasmtime::Result<u32> {
        Ok(self.frame(&f)?.height)
    }

    fn pixels(&mut self, f: Resource<HostFrame>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.frame(&f)?.rgb.to_vec())
    }

    fn crop(&mut self, f: Resource<HostFrame>, x: u32, y: u32, width: u32, height: u32) -> wasmtime::Result<Vec<u8>> {
        Ok(crop(self.frame(&f)?, x, y, width, height))
    }

    fn thumbnail(&mut self, f: Resource<HostFrame>, max_side: u32) -> wasmtime::Result<(u32, u32, Vec<u8>)> {
        Ok(thumbnail(self.frame(&f)?, max_side))
    }

    fn drop(&mut self, f: Resource<HostFrame>) -> wasmtime::Result<()> {
        // Frames are only lent (borrowed), so the guest never owns one; a
        // drop is still honoured.
        self.table.delete(f)?;
        Ok(())
    }
}

/// The RGB24 pixels of a rectangle of `f`, clamped to the frame.
pub fn crop(f: &Frame, x: u32, y: u32, width: u32, height: u32) -> Vec<u8> {
    let x0 = x.min(f.width) as usize;
    let y0 = y.min(f.height) as usize;
    let x1 = x.saturating_add(width).min(f.width) as usize;
    let y1 = y.saturating_add(height).min(f.height) as usize;
    let stride = f.width as usize * 3;
    let mut out = Vec::with_capacity((x1 - x0) * (y1 - y0) * 3);
    for row in y0..y1 {
        out.extend_from_slice(&f.rgb[row * stride + x0 * 3..row * stride + x1 * 3]);
    }
    out
}

/// `f` shrunk by area averaging so its longer side is at most `max_side`
/// (never enlarged): width, height and RGB24 pixels.
pub fn thumbnail(f: &Frame, max_side: u32) -> (u32, u32, Vec<u8>) {
    let (w, h) = (f.width.max(1) as usize, f.height.max(1) as usize);
    let longer = w.max(h);
    let max_side = (max_side.max(1) as usize).min(longer);
    let tw = (w * max_side).div_ceil(longer).max(1);
    let th = (h * max_side).div_ceil(longer).max(1);
    if f.rgb.len() < w * h * 3 {
        return (0, 0, Vec::new());
    }
    let mut out = Vec::with_capacity(tw * th * 3);
    for ty in 0..th {
        let (y0, y1) = (ty * h / th, ((ty + 1) * h / th).max(ty * h / th + 1));
        for tx in 0..tw {
            let (x0, x1) = (tx * w / tw, ((tx + 1) * w / tw).max(tx * w / tw + 1));
            let mut sum = [0u64; 3];
            for y in y0..y1 {
                let row = &f.rgb[(y * w + x0) * 3..(y * w + x1) * 3];
                for px in row.chunks_exact(3) {
                    sum[0] += px[0] as u64;
                    sum[1] += px[1] as u64;
                    sum[2] += px[2] as u64;
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u64;
            out.extend(sum.iter().map(|s| ((s + n / 2) / n) as u8));
        }
    }
    (tw as u32, th as u32, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(w: u32, h: u32) -> Frame {
        let rgb: Vec<u8> = (0..w * h).flat_map(|i| [(i % 256) as u8, 0, 255]).collect();
        Frame { time: 1.5, width: w, height: h, rgb: Arc::from(rgb) }
    }

    #[test]
    fn crop_clamps_to_the_frame() {
        let f = frame(4, 3);
        assert_eq!(crop(&f, 1, 1, 2, 1), vec![5, 0, 255, 6, 0, 255]);
        assert_eq!(crop(&f, 3, 2, 10, 10), vec![11, 0, 255]);
        assert!(crop(&f, 9, 9, 2, 2).is_empty());
    }

    #[test]
    fn thumbnail_averages_areas() {
        let f = frame(4, 2);
        let (w, h, px) = thumbnail(&f, 2);
        assert_eq!((w, h), (2, 1));
        // Left half: values 0,1,4,5 → mean 2.5 → 3 (rounded); right: 2,3,6,7 → 4.5 → 5.
        assert_eq!(px, vec![3, 0, 255, 5, 0, 255]);
        let (w, h, _) = thumbnail(&f, 100);
        assert_eq!((w, h), (4, 2), "never enlarged");
    }
}
