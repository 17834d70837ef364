//! The wgpu side of a detector: adapter choice, device and queue (own or shared), error scopes that turn wgpu's
//! validation and out-of-memory errors into values, device-loss tracking, and blocking readback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::kernels::{Stamps, TimedAs};
use crate::error::{Error, Result};
use crate::timings::{sum_measured, DeviceMeasures};

/// A device and queue, with what the detector needs to know about them.
pub(crate) struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// "name (backend, type)" of the adapter, or what the application said of its shared device.
    pub description: String,
    pub limits: wgpu::Limits,
    /// Timestamp queries around each stage's compute pass, when the device has the feature.
    pub timer: Option<Timer>,
    lost: Arc<AtomicBool>,
}

/// Compute passes one submission can time: a start and an end slot each in the query set.
pub(crate) const TIMED_PASSES: u32 = 16;

/// A timestamp query set (the start and end of up to [`TIMED_PASSES`] compute passes) and the length of one tick.
pub(crate) struct Timer {
    pub queries: wgpu::QuerySet,
    pub nanoseconds_per_tick: f64,
}

/// Whether an adapter is real hardware: `Device::Auto` never picks a software rasteriser (lavapipe, SwiftShader,
/// WARP), which is slower than the CPU path.
pub(crate) fn is_hardware(info: &wgpu::AdapterInfo) -> bool {
    matches!(
        info.device_type,
        wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu | wgpu::DeviceType::VirtualGpu
    )
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// An instance over `backends`, unless WGPU_BACKEND (and the other WGPU_* variables) say otherwise, e.g.
/// WGPU_BACKEND=vulkan in CI.
fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
    descriptor.backends = backends;
    wgpu::Instance::new(descriptor.with_env())
}

impl GpuContext {
    /// Any adapter, software ones included (`Device::Gpu`). The error carries wgpu's own message.
    pub fn any_adapter() -> Result<Self> {
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance),
            ..Default::default()
        };
        let adapter = pollster::block_on(instance(wgpu::Backends::all()).request_adapter(&options)).map_err(|e| {
            Error::DeviceUnavailable {
                device: "gpu",
                reason: format!("no wgpu adapter: {e}"),
            }
        })?;
        Self::open(adapter)
    }

    /// The best hardware adapter, or `Ok(Err(reason))` when there is none (`Device::Auto` then uses the CPU).
    pub fn hardware_adapter() -> Result<std::result::Result<Self, String>> {
        // Vulkan, Metal and DX12 by default: a GL adapter is rarely worth more than the CPU path, and probing GL
        // on a headless machine only prints EGL warnings.
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let adapters = pollster::block_on(instance(backends).enumerate_adapters(backends));
        let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            _ => 2,
        };
        let seen: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
        match adapters
            .into_iter()
            .filter(|a| is_hardware(&a.get_info()))
            .min_by_key(rank)
        {
            Some(adapter) => Self::open(adapter).map(Ok),
            None if seen.is_empty() => Ok(Err("no wgpu adapter".into())),
            None => Ok(Err(format!(
                "only software adapters ({}), slower than the CPU path",
                seen.join(", ")
            ))),
        }
    }

    fn open(adapter: wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        // Ask for what the adapter offers; the kernels need nothing beyond WebGPU's defaults and chunk their work
        // to whatever limits the device ends up with.
        // Timestamp queries are optional: asked for only where the adapter has them, and used only for reporting.
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("mtcnn"),
            required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
            required_limits: adapter.limits(),
            memory_hints: wgpu::MemoryHints::Performance,
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|e| Error::DeviceUnavailable {
                device: "gpu",
                reason: format!("{}: {e}", describe(&info)),
            })?;
        // wgpu's default handler panics on errors outside a scope. Every operation of ours runs inside scopes, so
        // this one only logs what would otherwise abort the process.
        device.on_uncaptured_error(Arc::new(|e| log::error!("wgpu error outside an error scope: {e}")));
        Ok(Self::with_device(device, queue, describe(&info)))
    }

    /// A device and queue that the application already owns.
    pub fn with_device(device: wgpu::Device, queue: wgpu::Queue, description: String) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            log::error!("wgpu device lost ({reason:?}): {message}");
            flag.store(true, Ordering::SeqCst);
        });
        let limits = device.limits();
        let timer = device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
            .then(|| Timer {
                queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("stage timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2 * TIMED_PASSES,
                }),
                nanoseconds_per_tick: f64::from(queue.get_timestamp_period()),
            });
        GpuContext {
            device,
            queue,
            description,
            limits,
            timer,
            lost,
        }
    }

    /// `Err(DeviceLost)` once the device is gone.
    pub fn check_alive(&self) -> Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(Error::DeviceLost);
        }
        Ok(())
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns what they caught into errors.
    pub fn scoped<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        self.check_alive()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        self.check_alive()?;
        if let Some(e) = oom {
            return Err(Error::GpuOutOfMemory(e.to_string()));
        }
        if let Some(e) = validation {
            return Err(Error::Gpu(e.to_string()));
        }
        Ok(value)
    }

    /// Writes `bytes` into `buffer` from `offset` (a multiple of 4). Queue writes must be whole words, so a last
    /// partial word goes separately, zero-padded; the caller's bytes are not copied first.
    pub fn write_padded(&self, buffer: &wgpu::Buffer, offset: u64, bytes: &[u8]) {
        let whole = bytes.len() / 4 * 4;
        if whole > 0 {
            self.queue.write_buffer(buffer, offset, &bytes[..whole]);
        }
        if whole < bytes.len() {
            let mut tail = [0u8; 4];
            tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
            self.queue.write_buffer(buffer, offset + whole as u64, &tail);
        }
    }

    /// The device time of the compute passes whose timestamps `stamps` holds: all of them, and the pyramid's
    /// alone when some passes were the pyramid's. The caller has already waited for the submission that wrote
    /// them.
    pub fn read_elapsed(&self, stamps: &Stamps) -> Result<DeviceMeasures> {
        let bytes = 16 * stamps.passes.len() as u64;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&self.read(&stamps.buffer, bytes)?);
        let per_tick = self.timer.as_ref().map_or(0.0, |t| t.nanoseconds_per_tick);
        let (mut total, mut pyramid) = (std::time::Duration::ZERO, None);
        for (pair, &what) in ticks.chunks_exact(2).zip(&stamps.passes) {
            let elapsed = std::time::Duration::from_nanos((pair[1].saturating_sub(pair[0]) as f64 * per_tick) as u64);
            total += elapsed;
            if what == TimedAs::Pyramid {
                pyramid = sum_measured(pyramid, Some(elapsed));
            }
        }
        Ok(DeviceMeasures {
            device: Some(total),
            pyramid_device: pyramid,
            readback: None,
        })
    }

    /// Waits for the GPU, maps `buffer` (MAP_READ) and copies its first `size` bytes out.
    pub fn read(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        self.read_timed(buffer, size).map(|(bytes, _)| bytes)
    }

    /// [`GpuContext::read`], also returning how long the readback itself took: the time from the GPU having
    /// finished its work to the bytes being in host memory (mapping the buffer and copying it out).
    pub fn read_timed(&self, buffer: &wgpu::Buffer, size: u64) -> Result<(Vec<u8>, std::time::Duration)> {
        self.wait()?;
        let start = std::time::Instant::now();
        let slice = buffer.slice(..size);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = sender.send(r);
        });
        self.wait()?;
        if !matches!(receiver.recv(), Ok(Ok(()))) {
            return Err(self
                .check_alive()
                .err()
                .unwrap_or_else(|| Error::Gpu("buffer mapping failed".into())));
        }
        let bytes = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu(format!("mapped range: {e:?}")))?
            .to_vec();
        buffer.unmap();
        Ok((bytes, start.elapsed()))
    }

    /// Blocks until the GPU has finished everything submitted (and run the callbacks that finishing resolves).
    fn wait(&self) -> Result<()> {
        match self.device.poll(wgpu::PollType::wait_indefinitely()) {
            Ok(_) => Ok(()),
            Err(e) => Err(self
                .check_alive()
                .err()
                .unwrap_or_else(|| Error::Gpu(format!("waiting for the GPU: {e}")))),
        }
    }
}
