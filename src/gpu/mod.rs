//! The wgpu backend. The image goes up once per detection; normalisation, the pyramid, the crops and the three
//! networks run as WGSL kernels; each stage is one submission, and only small results come back: the P-Net cells
//! above the threshold (compacted on the GPU), and a few floats per R-Net or O-Net crop.

mod buffers;
mod context;
mod kernels;
mod nets;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub(crate) use context::GpuContext;

use crate::backend::{Backend, ImageView, Landmarking, Pass, Refinement};
use crate::error::{Error, Result};
use crate::netdef::{self, ONET_HEADS, PNET_HEADS, RNET_HEADS};
use crate::pipeline::boxes::Proposal;
use crate::pipeline::crops::CropBox;
use crate::pipeline::pyramid::{area_normaliser, AreaTaps, PyramidLevel};
use crate::weights::Weights;
use buffers::BufferPool;
use kernels::{Kernels, Params, Plan, Segment, View};
use nets::{level_parts, total_floats, GpuNet, Part};

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE;
const READBACK: wgpu::BufferUsages = wgpu::BufferUsages::MAP_READ;

/// Words a P-Net candidate record takes: level, row, column, score, four regressions.
const RECORD: usize = 8;
/// Candidate slots reserved before the count is known; when more cells pass, the stage runs again with room for all.
const CANDIDATE_SLOTS: usize = 1 << 15;
#[cfg(test)]
pub(crate) const CANDIDATE_SLOTS_FOR_TESTS: usize = CANDIDATE_SLOTS;
/// Candidate records the first P-Net readback takes (128 KiB); more are read only when more cells passed.
const FIRST_READ: usize = 4096;
/// Crops per chunk at most, whatever the limits allow: keeps device memory modest.
const MAX_CHUNK: usize = 4096;

/// One output row's or column's AREA taps: first input index, tap count, first and last weight bits.
type AreaEntry = [u32; 4];

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
}

impl GpuBackend {
    pub fn new(ctx: GpuContext, weights: &Weights) -> Result<Self> {
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
    fn begin<'a>(&'a self, image: ImageView<'a>) -> Result<Box<dyn Pass + 'a>> {
        Ok(Box::new(self.start(image)?))
    }
}

impl GpuBackend {
    /// Uploads the image (8-bit RGB, as it is: normalisation happens on the GPU) and locks the buffer pool.
    pub(crate) fn start<'a>(&'a self, image: ImageView<'a>) -> Result<GpuPass<'a>> {
        self.ctx.check_alive()?;
        let (width, height) = (image.width as usize, image.height as usize);
        if width * height * 3 > self.max_binding_floats() {
            return Err(Error::ImageTooLarge {
                width: image.width,
                height: image.height,
                reason: format!(
                    "its float32 copy exceeds the adapter's storage binding limit of {} bytes; use the CPU path",
                    self.max_binding_floats() * 4
                ),
            });
        }
        let mut pool = self.lock_pool();
        let mut bytes = image.rgb.to_vec();
        bytes.resize(bytes.len().next_multiple_of(4).max(4), 0);
        self.ctx.scoped(|| {
            let rgb = pool.get(&self.ctx, "rgb", bytes.len() as u64, STORAGE);
            self.ctx.queue.write_buffer(&rgb, 0, &bytes);
        })?;
        Ok(GpuPass {
            gpu: self,
            pool,
            width,
            height,
            rgb_bytes: bytes.len() as u64,
            device_time: None,
        })
    }
}

pub(crate) struct GpuPass<'a> {
    gpu: &'a GpuBackend,
    pool: MutexGuard<'a, BufferPool>,
    width: usize,
    height: usize,
    rgb_bytes: u64,
    /// Device time of the submissions since `take_device_time` last ran, when the device has timestamp queries.
    device_time: Option<Duration>,
}

impl GpuPass<'_> {
    /// Adds the device time of a submission whose results have been read (so its timestamps are written).
    fn add_device_time(&mut self, stamps: Option<wgpu::Buffer>) -> Result<()> {
        if let Some(stamps) = stamps {
            let elapsed = self.gpu.ctx.read_elapsed(&stamps)?;
            self.device_time = Some(self.device_time.unwrap_or_default() + elapsed);
        }
        Ok(())
    }

    /// Runs a stage inside error scopes, so that buffer creation and uploads are covered as well as the dispatches.
    fn scoped<T>(&mut self, stage: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let gpu = self.gpu;
        gpu.ctx.scoped(|| stage(self))?
    }

    fn buffer(&mut self, name: &'static str, floats: usize, usage: wgpu::BufferUsages) -> View {
        let bytes = (floats * 4) as u64;
        View::new(&self.pool.get(&self.gpu.ctx, name, bytes, usage), bytes)
    }

    fn image_floats(&self) -> usize {
        self.width * self.height * 3
    }

    /// The normalised image (written by P-Net's stage, read by the crops).
    fn image(&mut self) -> View {
        let floats = self.image_floats();
        self.buffer("image", floats, STORAGE)
    }

    /// Splits levels into groups whose tensors each fit one storage binding. Usually one group: all levels go
    /// through one dispatch per layer.
    pub(crate) fn level_groups(&self, levels: &[PyramidLevel]) -> Result<Vec<std::ops::Range<usize>>> {
        let limit = self.gpu.max_binding_floats();
        let per_level: Vec<usize> = levels
            .iter()
            .map(|l| self.gpu.pnet.largest_floats(&level_parts(std::slice::from_ref(l))))
            .collect();
        let mut groups = Vec::new();
        let (mut start, mut sum) = (0, 0);
        for (i, &floats) in per_level.iter().enumerate() {
            if floats > limit {
                return Err(Error::ImageTooLarge {
                    width: self.width as u32,
                    height: self.height as u32,
                    reason: format!(
                        "pyramid level {i} needs {} bytes, over the adapter's binding limit",
                        floats * 4
                    ),
                });
            }
            if sum + floats > limit {
                groups.push(start..i);
                (start, sum) = (i, 0);
            }
            sum += floats;
        }
        groups.push(start..levels.len());
        Ok(groups)
    }

    /// The AREA taps of every level in one table of vec4s: per output row, then per output column of each level,
    /// (first input index, tap count, first weight bits, last weight bits). Taps between the first and the last
    /// weigh 1. Returns the table and, per level, the entries of its first row and first column and its normaliser.
    fn area_tables(&self, levels: &[PyramidLevel]) -> (Vec<AreaEntry>, Vec<(u32, u32, f32)>) {
        let mut table = Vec::new();
        let mut offsets = Vec::new();
        for level in levels {
            let ty = AreaTaps::new(self.height, level.height);
            let tx = AreaTaps::new(self.width, level.width);
            let mut level_offsets = [0u32; 2];
            for (slot, t) in [&ty, &tx].into_iter().enumerate() {
                level_offsets[slot] = table.len() as u32;
                table.extend(t.starts.windows(2).map(|w| {
                    let (first, last) = (w[0], w[1] - 1);
                    debug_assert!(t.index[first..=last]
                        .windows(2)
                        .all(|p| p[1] == p[0] + 1 || p[1] == p[0]));
                    debug_assert!(t.weight[first + 1..last.max(first + 1)].iter().all(|&v| v == 1.0));
                    [
                        t.index[first] as u32,
                        (last + 1 - first) as u32,
                        t.weight[first].to_bits(),
                        t.weight[last].to_bits(),
                    ]
                }));
            }
            offsets.push((level_offsets[0], level_offsets[1], area_normaliser(&ty, &tx)));
        }
        (table, offsets)
    }

    /// Records the normalisation of the uploaded image; returns the normalised image.
    fn record_normalize(&mut self, plan: &mut Plan) -> View {
        let image = self.image();
        let rgb = View::new(
            &self.pool.get(&self.gpu.ctx, "rgb", self.rgb_bytes, STORAGE),
            self.rgb_bytes,
        );
        let floats = self.image_floats() as u32;
        plan.dispatch(
            kernels::Kernel::Normalize,
            Params {
                total: floats,
                ..Default::default()
            },
            vec![Segment::default()],
            Some(rgb),
            image.clone(),
            None,
        );
        image
    }

    /// Uploads the AREA taps of `levels`; returns the table and each level's (row starts, column starts,
    /// normaliser).
    fn upload_taps(&mut self, levels: &[PyramidLevel]) -> (View, Vec<(u32, u32, f32)>) {
        let (table, offsets) = self.area_tables(levels);
        let taps = self.buffer("taps", table.len() * 4, STORAGE);
        self.gpu
            .ctx
            .queue
            .write_buffer(&taps.buffer, 0, bytemuck::cast_slice(&table));
        (taps, offsets)
    }

    /// Records the AREA resize of the normalised image into the levels `parts` of `pyramid`.
    fn record_resize(
        &self,
        plan: &mut Plan,
        parts: &[Part],
        offsets: &[(u32, u32, f32)],
        [image, pyramid, taps]: [&View; 3],
    ) {
        let mut start = 0u32;
        let segments = parts
            .iter()
            .zip(offsets)
            .map(|(p, &(ys, xs, k))| {
                let s = Segment {
                    count: 1,
                    in_h: self.height as u32,
                    in_w: self.width as u32,
                    out_h: p.h as u32,
                    out_w: p.w as u32,
                    out_off: p.offset as u32,
                    start,
                    a: ys,
                    b: xs,
                    e: k.to_bits(),
                    ..Default::default()
                };
                start += (p.h * p.w) as u32;
                s
            })
            .collect();
        plan.dispatch(
            kernels::Kernel::ResizeArea,
            Params {
                total: start,
                ..Default::default()
            },
            segments,
            Some(image.clone()),
            pyramid.clone(),
            Some(taps.clone()),
        );
    }

    /// Records the crops of boxes `first..first + count` (already uploaded to `boxes`) into `crops`.
    fn record_crops(
        &self,
        plan: &mut Plan,
        first: usize,
        count: usize,
        size: usize,
        [image, boxes, crops]: [&View; 3],
    ) {
        plan.dispatch(
            kernels::Kernel::CropResize,
            Params {
                total: (count * size * size * 3) as u32,
                size: size as u32,
                w_off: first as u32,
                ..Default::default()
            },
            vec![Segment {
                count: count as u32,
                in_h: self.height as u32,
                in_w: self.width as u32,
                ..Default::default()
            }],
            Some(image.clone()),
            crops.clone(),
            Some(boxes.clone()),
        );
    }

    fn upload_boxes(&mut self, boxes: &[CropBox]) -> View {
        let packed: Vec<[f32; 4]> = boxes.iter().map(|b| [b.y1, b.x1, b.y2, b.x2]).collect();
        let view = self.buffer("boxes", boxes.len() * 4, STORAGE);
        self.gpu
            .ctx
            .queue
            .write_buffer(&view.buffer, 0, bytemuck::cast_slice(&packed));
        view
    }

    fn run_pnet(&mut self, levels: &[PyramidLevel], threshold: f32, slots: usize) -> Result<(usize, Vec<u32>)> {
        let ctx = &self.gpu.ctx;
        let mut plan = Plan::default();
        let image = self.record_normalize(&mut plan);
        let (taps, offsets) = self.upload_taps(levels);

        let groups = self.level_groups(levels)?;
        let group_floats = |range: &std::ops::Range<usize>, layer: Option<usize>| -> usize {
            let parts = level_parts(&levels[range.clone()]);
            match layer {
                None => total_floats(&parts),
                Some(i) => total_floats(&self.gpu.pnet.shapes(&parts)[i]),
            }
        };
        let layers = self.gpu.pnet.layer_count();
        let largest = |layer: Option<usize>| groups.iter().map(|g| group_floats(g, layer)).max().unwrap_or(0);
        let pyramid = self.buffer("pyramid", largest(None), STORAGE);
        let ping = self.buffer(
            "ping",
            (0..layers - 1).step_by(2).map(|i| largest(Some(i))).max().unwrap_or(0),
            STORAGE,
        );
        let pong = self.buffer(
            "pong",
            (1..layers - 1).step_by(2).map(|i| largest(Some(i))).max().unwrap_or(0),
            STORAGE,
        );
        let heads = self.buffer("pnet_heads", largest(Some(layers - 1)), STORAGE);
        let candidates = self.buffer("candidates", 1 + slots * RECORD, STORAGE);
        ctx.queue.write_buffer(&candidates.buffer, 0, bytemuck::bytes_of(&0u32));

        for group in groups {
            let parts = level_parts(&levels[group.clone()]);
            self.record_resize(&mut plan, &parts, &offsets[group.clone()], [&image, &pyramid, &taps]);
            let maps = self
                .gpu
                .pnet
                .record(&mut plan, &parts, &pyramid, [&ping, &pong], &heads, 0);
            let mut start = 0u32;
            let segments = maps
                .iter()
                .zip(group.clone())
                .map(|(m, level)| {
                    let s = Segment {
                        in_off: m.offset as u32,
                        out_h: m.h as u32,
                        out_w: m.w as u32,
                        start,
                        a: level as u32,
                        ..Default::default()
                    };
                    start += (m.h * m.w) as u32;
                    s
                })
                .collect();
            debug_assert!(maps.iter().all(|m| m.c == PNET_HEADS));
            plan.dispatch(
                kernels::Kernel::PnetSelect,
                Params {
                    total: start,
                    f0: threshold,
                    u0: slots as u32,
                    ..Default::default()
                },
                segments,
                Some(heads.clone()),
                candidates.clone(),
                None,
            );
        }
        // Usually few cells pass: the first readback takes the count and the first records, a second one the rest
        // only when more passed.
        let first_records = slots.min(FIRST_READ);
        let floats = 1 + slots * RECORD;
        let read = self.buffer("candidates_read", floats, READBACK);
        let first_bytes = ((1 + first_records * RECORD) * 4) as u64;
        plan.copy(&candidates.buffer, &read.buffer, first_bytes);
        let stamps = plan.submit(ctx, &self.gpu.kernels, &mut self.pool)?;
        let mut words: Vec<u32> = bytemuck::pod_collect_to_vec(&ctx.read(&read.buffer, first_bytes)?);
        self.add_device_time(stamps)?;
        let count = words.first().copied().unwrap_or(0) as usize;
        if count > first_records {
            let bytes = ((1 + count.min(slots) * RECORD) * 4) as u64;
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(&candidates.buffer, 0, &read.buffer, 0, bytes);
            ctx.queue.submit([encoder.finish()]);
            words = bytemuck::pod_collect_to_vec(&ctx.read(&read.buffer, bytes)?);
        }
        Ok((count, words))
    }

    /// Crops `boxes` to `size`² on the GPU and runs `net` on them in chunks that fit the device's limits; returns
    /// the heads rows (`width` floats each, the last one the face probability).
    fn run_crops(&mut self, boxes: &[CropBox], size: usize, net: Net, width: usize) -> Result<Vec<f32>> {
        let n = boxes.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let gpu = self.gpu;
        let net = match net {
            Net::R => &gpu.rnet,
            Net::O => &gpu.onet,
        };
        let one = [Part {
            count: 1,
            h: size,
            w: size,
            c: 3,
            offset: 0,
        }];
        let per_crop = net.largest_floats(&one);
        let chunk = (gpu.max_binding_floats() / per_crop)
            .clamp(1, gpu.chunk_cap.max(1))
            .min(n);

        let box_view = self.upload_boxes(boxes);
        let image = self.image();
        let crops = self.buffer("crops", chunk * one[0].floats(), STORAGE);
        let ping = self.buffer("ping", chunk * per_crop, STORAGE);
        let pong = self.buffer("pong", chunk * per_crop, STORAGE);
        let results = self.buffer("results", n * width, STORAGE);

        let mut plan = Plan::default();
        for first in (0..n).step_by(chunk) {
            let m = chunk.min(n - first);
            self.record_crops(&mut plan, first, m, size, [&image, &box_view, &crops]);
            let input = [Part { count: m, ..one[0] }];
            net.record(&mut plan, &input, &crops, [&ping, &pong], &results, first * width);
        }
        plan.dispatch(
            kernels::Kernel::Heads,
            Params {
                total: n as u32,
                cout: width as u32,
                ..Default::default()
            },
            vec![Segment::default()],
            None,
            results.clone(),
            None,
        );
        let read = self.buffer("results_read", n * width, READBACK);
        plan.copy(&results.buffer, &read.buffer, read.bytes);
        let stamps = plan.submit(&gpu.ctx, &gpu.kernels, &mut self.pool)?;
        let mut rows: Vec<f32> = bytemuck::pod_collect_to_vec(&gpu.ctx.read(&read.buffer, read.bytes)?);
        self.add_device_time(stamps)?;
        rows.truncate(n * width);
        Ok(rows)
    }
}

#[derive(Clone, Copy)]
enum Net {
    R,
    O,
}

impl Pass for GpuPass<'_> {
    fn propose(&mut self, levels: &[PyramidLevel], threshold: f32) -> Result<Vec<Vec<Proposal>>> {
        let cells: usize = levels.iter().map(|l| l.pnet_map_size().0 * l.pnet_map_size().1).sum();
        let mut slots = cells.min(CANDIDATE_SLOTS);
        let (mut count, mut words) = self.scoped(|pass| pass.run_pnet(levels, threshold, slots))?;
        if count > slots {
            // More cells passed than were reserved: run the stage again with room for all of them.
            slots = count;
            (count, words) = self.scoped(|pass| pass.run_pnet(levels, threshold, slots))?;
        }
        let mut records: Vec<&[u32]> = words
            .get(1..1 + count * RECORD)
            .unwrap_or(&[])
            .chunks_exact(RECORD)
            .collect();
        // The GPU appends in any order; level, then row-major cells, is the order the pipeline's tie rule needs.
        records.sort_unstable_by_key(|r| (r[0], r[1], r[2]));
        let mut out = vec![Vec::new(); levels.len()];
        for r in records {
            if let Some(level) = out.get_mut(r[0] as usize) {
                level.push(Proposal {
                    row: r[1],
                    col: r[2],
                    score: f32::from_bits(r[3]),
                    reg: [4, 5, 6, 7].map(|i| f32::from_bits(r[i])),
                });
            }
        }
        Ok(out)
    }

    fn refine(&mut self, boxes: &[CropBox]) -> Result<Vec<Refinement>> {
        let rows = self.scoped(|pass| pass.run_crops(boxes, 24, Net::R, RNET_HEADS))?;
        Ok(rows
            .chunks_exact(RNET_HEADS)
            .map(|o| Refinement {
                score: o[5],
                reg: [o[0], o[1], o[2], o[3]],
            })
            .collect())
    }

    fn take_device_time(&mut self) -> Option<Duration> {
        self.device_time.take()
    }

    fn landmark(&mut self, boxes: &[CropBox]) -> Result<Vec<Landmarking>> {
        let rows = self.scoped(|pass| pass.run_crops(boxes, 48, Net::O, ONET_HEADS))?;
        Ok(rows
            .chunks_exact(ONET_HEADS)
            .map(|o| {
                let mut landmarks = [0.0; 10];
                landmarks.copy_from_slice(&o[4..14]);
                Landmarking {
                    score: o[15],
                    reg: [o[0], o[1], o[2], o[3]],
                    landmarks,
                }
            })
            .collect())
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
        let device = stamps.map(|s| self.ctx.read_elapsed(&s)).transpose()?;
        Ok((values, device))
    }

    /// The normalised pyramid levels of `image`, packed one after the other.
    pub fn pyramid(&self, image: ImageView<'_>, levels: &[PyramidLevel]) -> Result<Vec<f32>> {
        let mut pass = self.start(image)?;
        let mut plan = Plan::default();
        let normalized = pass.record_normalize(&mut plan);
        let (taps, offsets) = pass.upload_taps(levels);
        let parts = level_parts(levels);
        let floats = total_floats(&parts);
        let pyramid = pass.buffer("pyramid", floats, STORAGE);
        pass.record_resize(&mut plan, &parts, &offsets, [&normalized, &pyramid, &taps]);
        pass.finish_and_read(plan, &pyramid, floats)
    }

    /// The `size`² crops of `boxes` from `image`.
    pub fn crops(&self, image: ImageView<'_>, boxes: &[CropBox], size: usize) -> Result<Vec<f32>> {
        let mut pass = self.start(image)?;
        let mut plan = Plan::default();
        let normalized = pass.record_normalize(&mut plan);
        let box_view = pass.upload_boxes(boxes);
        let floats = boxes.len() * size * size * 3;
        let crops = pass.buffer("crops", floats, STORAGE);
        pass.record_crops(&mut plan, 0, boxes.len(), size, [&normalized, &box_view, &crops]);
        pass.finish_and_read(plan, &crops, floats)
    }
}

#[cfg(test)]
impl GpuPass<'_> {
    fn finish_and_read(&mut self, mut plan: Plan, view: &View, floats: usize) -> Result<Vec<f32>> {
        let read = self.buffer("test_read", floats, READBACK);
        plan.copy(&view.buffer, &read.buffer, read.bytes);
        let _ = plan.submit(&self.gpu.ctx, &self.gpu.kernels, &mut self.pool)?;
        let mut values: Vec<f32> = bytemuck::pod_collect_to_vec(&self.gpu.ctx.read(&read.buffer, read.bytes)?);
        values.truncate(floats);
        Ok(values)
    }
}
