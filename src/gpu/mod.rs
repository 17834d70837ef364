//! The wgpu backend. Images go up once per pass; normalisation, the pyramid, the crops and the three networks run
//! as WGSL kernels; each stage is one submission for the whole batch of images, and only small results come back:
//! the P-Net cells above the threshold (compacted on the GPU), and a few floats per R-Net or O-Net crop.

mod buffers;
mod context;
mod kernels;
mod nets;
mod pass;
mod resample;
mod tiled;
mod warp;
mod weight_windows;

use std::sync::{Mutex, MutexGuard};

pub(crate) use context::GpuContext;
#[cfg(test)]
pub(crate) use pass::{GpuPass, LevelJob, CANDIDATE_SLOTS};

use crate::backend::{Backend, ImageView, Stages};
use crate::error::Result;
use crate::netdef;
use crate::pipeline::pyramid::PyramidLevel;
use crate::weights::Weights;
use buffers::BufferPool;
use kernels::Kernels;
use nets::GpuNet;
#[cfg(test)]
use {
    crate::pipeline::crops::CropBox,
    kernels::{Plan, View},
    nets::{total_floats, Part},
    std::time::Duration,
};

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE;
const READBACK: wgpu::BufferUsages = wgpu::BufferUsages::MAP_READ;

/// Crops per chunk at most, whatever the limits allow: keeps device memory modest.
const MAX_CHUNK: usize = 4096;
/// Floats of normalised images one pass takes at most (256 MiB; 10 frames of 1920×1080): a larger batch is split
/// into several passes, so that its pyramids and P-Net maps stay within a modest share of the device's memory.
const BATCH_FLOATS: usize = 64 << 20;

/// The GPU backend: device, pipelines and weights built once; buffers pooled across detections.
pub(crate) struct GpuBackend {
    ctx: GpuContext,
    kernels: Kernels,
    pnet: GpuNet,
    rnet: GpuNet,
    onet: GpuNet,
    pool: Mutex<BufferPool>,
    /// Crops per chunk at most (tests lower it to cross chunk boundaries with few crops).
    pub(crate) chunk_cap: usize,
    /// Floats one binding may hold at most, below the adapter's limit (tests lower it to force level groups).
    pub(crate) binding_cap: usize,
    /// The scale of an image's largest pyramid level, `12 / min_face_size` (the detector sets it): batching keeps
    /// an image whose largest level may not fit a binding apart.
    pub(crate) first_scale: f64,
}

impl GpuBackend {
    pub fn new(ctx: GpuContext, weights: &Weights) -> Result<Self> {
        // The weights and segment tables are bound as 64 KiB uniform windows: WebGPU's default limit, which every
        // adapter offers, but a shared device may have been created with lower (downlevel) limits.
        let uniform = ctx.limits.max_uniform_buffer_binding_size;
        if uniform < kernels::UNIFORM_BINDING_BYTES {
            return Err(crate::error::Error::Gpu(format!(
                "the device's max_uniform_buffer_binding_size is {uniform} bytes; the kernels need {} (WebGPU's \
                 default limit): create the device with at least wgpu::Limits::default()",
                kernels::UNIFORM_BINDING_BYTES
            )));
        }
        let kernels = Kernels::new(&ctx)?;
        let (pnet, rnet, onet) = ctx.scoped(|| {
            (
                GpuNet::upload(&ctx, &netdef::pnet(weights), "pnet"),
                GpuNet::upload(&ctx, &netdef::rnet(weights), "rnet"),
                GpuNet::upload(&ctx, &netdef::onet(weights), "onet"),
            )
        })?;
        Ok(GpuBackend {
            ctx,
            kernels,
            pnet,
            rnet,
            onet,
            pool: Mutex::default(),
            chunk_cap: MAX_CHUNK,
            binding_cap: usize::MAX,
            first_scale: crate::pipeline::pyramid::CELL / 20.0,
        })
    }

    /// The adapter, as "name (backend, type)".
    pub fn description(&self) -> &str {
        &self.ctx.description
    }

    fn lock_pool(&self) -> MutexGuard<'_, BufferPool> {
        // A panic elsewhere while holding the lock leaves only cached buffers behind: still usable.
        self.pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bytes of device memory in the buffer pool.
    #[cfg(test)]
    pub(crate) fn pool_bytes(&self) -> u64 {
        self.lock_pool().bytes()
    }

    /// Buffers and bind groups created so far.
    #[cfg(test)]
    pub(crate) fn created(&self) -> (usize, usize) {
        let pool = self.lock_pool();
        (pool.created_buffers, pool.created_bind_groups)
    }

    fn max_binding_floats(&self) -> usize {
        let bytes = self
            .ctx
            .limits
            .max_storage_buffer_binding_size
            .min(self.ctx.limits.max_buffer_size);
        ((bytes / 4) as usize).min(self.binding_cap)
    }
}

impl Backend for GpuBackend {
    fn run(&self, images: &[ImageView<'_>], levels: &[Vec<PyramidLevel>], stages: &mut Stages<'_>) -> Result<()> {
        if let ([image], [levels]) = (images, levels) {
            if self.needs_tiles(image, levels) {
                return stages(&mut tiled::TiledPass::new(self, *image));
            }
        }
        stages(&mut self.start(images)?)
    }

    fn batch_len(&self, images: &[ImageView<'_>]) -> usize {
        self.images_per_pass(images)
    }

    fn warp(
        &self,
        image: ImageView<'_>,
        transforms: &[crate::align::Similarity],
        size: u32,
    ) -> Result<Vec<image::RgbImage>> {
        self.warp_faces(image, transforms, size)
    }
}

/// Test access to single kernels, for the GPU = CPU checks in `crate::parity_tests`.
#[cfg(test)]
impl GpuBackend {
    /// Runs `layers` on `count` images of `h`×`w`×`c` floats; returns the last layer's output.
    pub fn run_layers(&self, layers: &[crate::netdef::Layer], input: &[f32], shape: [usize; 4]) -> Result<Vec<f32>> {
        Ok(self.run_layers_timed(layers, input, shape)?.0)
    }

    /// `run_layers`, with the device time of the layers where the device has timestamp queries.
    pub fn run_layers_timed(
        &self,
        layers: &[crate::netdef::Layer],
        input: &[f32],
        shape: [usize; 4],
    ) -> Result<(Vec<f32>, Option<Duration>)> {
        let [count, h, w, c] = shape;
        let net = self.ctx.scoped(|| GpuNet::upload(&self.ctx, layers, "test"))?;
        let parts = [Part {
            count,
            h,
            w,
            c,
            offset: 0,
        }];
        let largest = net.largest_floats(&parts);
        let out_floats = net.shapes(&parts).last().map_or(0, |s| total_floats(s));
        let mut pool = self.lock_pool();
        let mut view = |name: &'static str, floats: usize, usage| {
            View::new(
                &pool.get(&self.ctx, name, (floats * 4) as u64, usage),
                (floats * 4) as u64,
            )
        };
        let (src, ping, pong, out) = (
            view("test_in", input.len(), STORAGE),
            view("test_ping", largest, STORAGE),
            view("test_pong", largest, STORAGE),
            view("test_out", out_floats, STORAGE),
        );
        let read = view("test_read", out_floats, READBACK);
        self.ctx.queue.write_buffer(&src.buffer, 0, bytemuck::cast_slice(input));
        let mut plan = Plan::default();
        net.record(&mut plan, &parts, &src, [&ping, &pong], &out, 0);
        plan.copy(&out.buffer, &read.buffer, read.bytes);
        let stamps = plan.submit(&self.ctx, &self.kernels, &mut pool)?;
        let mut values: Vec<f32> = bytemuck::pod_collect_to_vec(&self.ctx.read(&read.buffer, read.bytes)?);
        values.truncate(out_floats);
        let device = match stamps {
            Some(stamps) => self.ctx.read_elapsed(&stamps)?.device,
            None => None,
        };
        Ok((values, device))
    }

    /// The normalised pyramid levels of `image`, packed one after the other.
    pub fn pyramid(&self, image: ImageView<'_>, levels: &[PyramidLevel]) -> Result<Vec<f32>> {
        self.start(&[image])?.pyramid_of_first_image(levels)
    }

    /// The `size`² crops of `boxes` from `image`.
    pub fn crops(&self, image: ImageView<'_>, boxes: &[CropBox], size: usize) -> Result<Vec<f32>> {
        self.start(&[image])?.crops_of_first_image(boxes, size)
    }
}
