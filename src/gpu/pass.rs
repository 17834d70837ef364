//! One pass of the GPU backend over a batch of images: the images go up once, and each stage (pyramid + P-Net,
//! crops + R-Net, crops + O-Net) is one submission for the whole batch with one small readback. The levels of
//! every image are segments of the same dispatches, and the crops of every image are rows of the same batches.

use std::sync::MutexGuard;

use super::buffers::BufferPool;
use super::kernels::{Kernel, Params, Plan, Segment, Stamps, TimedAs, View};
use super::nets::{level_parts, total_floats, Part};
use super::{GpuBackend, READBACK, STORAGE};
use crate::backend::{ImageView, Landmarking, Pass, Refinement};
use crate::cpu::tensor::Plane;
use crate::error::{Error, Result};
use crate::netdef::{ONET_HEADS, PNET_HEADS, RNET_HEADS};
use crate::pipeline::boxes::Proposal;
use crate::pipeline::crops::CropBox;
use crate::pipeline::pyramid::PyramidLevel;
use crate::pipeline::workspace::reset;
use crate::timings::{DeviceMeasures, Readback};

/// Words a P-Net candidate record takes: level job, row, column, score, four regressions.
const RECORD: usize = 8;
/// Candidate slots reserved before the count is known; when more cells pass, the stage runs again with room for all.
pub(crate) const CANDIDATE_SLOTS: usize = 1 << 15;
/// Candidate records the first P-Net readback takes (128 KiB); more are read only when more cells passed.
const FIRST_READ: usize = 4096;
/// Where one image of the batch sits: its size, its first 32-bit word in the uploaded RGB bytes and its first
/// float in the normalised images.
#[derive(Clone, Copy, Debug)]
pub(super) struct Placed {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) rgb_word: usize,
    pub(super) float: usize,
}

/// One pyramid level of one image of the batch, or a strip of rows of one (`window`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LevelJob {
    pub image: usize,
    /// The level, or for a strip its rows: `height` is then the strip's.
    pub level: PyramidLevel,
    pub window: Option<Window>,
}

/// Where a strip sits: its rows of the full level, and the rows of the full image that its image holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// The full level's height.
    pub level_height: usize,
    /// The strip's first row in the full level.
    pub first_row: usize,
    /// The full image's height.
    pub image_height: usize,
    /// The full image's row that the strip's image starts at.
    pub first_input_row: usize,
}

impl LevelJob {
    /// A whole level.
    pub fn whole(image: usize, level: PyramidLevel) -> Self {
        LevelJob {
            image,
            level,
            window: None,
        }
    }
}

impl GpuBackend {
    /// How many of `images`, from the first, fit one pass: their float32 copies together within one storage
    /// binding and within `BATCH_FLOATS`, so that a large batch is split rather than exhausting the device.
    pub(crate) fn images_per_pass(&self, images: &[ImageView<'_>]) -> usize {
        let limit = self.max_binding_floats().min(super::BATCH_FLOATS);
        // An image that may need tiles (its float copy, or its largest level, over a binding) goes alone: the
        // pass over it decides from its levels.
        let alone = |i: &ImageView<'_>| {
            let (width, height) = (i.width as usize, i.height as usize);
            let scaled = |n: usize| (n as f64 * self.first_scale.min(1.0)) as usize + 1;
            let level = PyramidLevel {
                scale: self.first_scale,
                height: scaled(height),
                width: scaled(width),
            };
            width * height * 3 > self.max_binding_floats()
                || self.level_floats(height, level) > self.max_binding_floats()
        };
        if images.first().is_some_and(alone) {
            return 1;
        }
        let mut total = 0;
        let fitting = images
            .iter()
            .take_while(|i| {
                total += i.width as usize * i.height as usize * 3;
                total <= limit && !alone(i)
            })
            .count();
        fitting.max(images.len().min(1))
    }

    /// Uploads the images (8-bit RGB, as they are: normalisation happens on the GPU) and locks the buffer pool.
    pub(crate) fn start<'a>(&'a self, images: &[ImageView<'_>]) -> Result<GpuPass<'a>> {
        self.ctx.check_alive()?;
        let limit = self.max_binding_floats();
        let mut placed = Vec::with_capacity(images.len());
        let (mut words, mut floats) = (0, 0);
        for image in images {
            let (width, height) = (image.width as usize, image.height as usize);
            if width * height * 3 > limit {
                return Err(Error::ImageTooLarge {
                    width: image.width,
                    height: image.height,
                    reason: format!(
                        "its float32 copy exceeds the adapter's storage binding limit of {} bytes; use the CPU path",
                        limit * 4
                    ),
                });
            }
            placed.push(Placed {
                width,
                height,
                rgb_word: words,
                float: floats,
            });
            words += image.rgb.len().div_ceil(4);
            floats += width * height * 3;
        }
        if floats > limit {
            let (width, height) = (images[0].width, images[0].height);
            return Err(Error::ImageTooLarge {
                width,
                height,
                reason: format!(
                    "the batch of {} images exceeds the adapter's storage binding limit of {} bytes",
                    images.len(),
                    limit * 4
                ),
            });
        }
        let rgb_bytes = (words.max(1) * 4) as u64;
        let mut pool = self.lock_pool();
        self.ctx.scoped(|| {
            let rgb = pool.get(&self.ctx, "rgb", rgb_bytes, STORAGE);
            for (image, at) in images.iter().zip(&placed) {
                self.ctx.write_padded(&rgb, (at.rgb_word * 4) as u64, image.rgb);
            }
        })?;
        Ok(GpuPass {
            gpu: self,
            pool,
            images: placed,
            rgb_words: words,
            rgb_bytes,
            floats,
            measured: DeviceMeasures::default(),
        })
    }
}

pub(crate) struct GpuPass<'a> {
    pub(super) gpu: &'a GpuBackend,
    pub(super) pool: MutexGuard<'a, BufferPool>,
    pub(super) images: Vec<Placed>,
    /// Words of the uploaded 8-bit images, one after the other.
    pub(super) rgb_words: usize,
    /// Bytes of the upload buffer (at least one word).
    pub(super) rgb_bytes: u64,
    /// Floats of all normalised images.
    pub(super) floats: usize,
    /// The device time of the submissions (when the device has timestamp queries) and the readbacks since
    /// `take_device_measures` last ran.
    measured: DeviceMeasures,
}

impl GpuPass<'_> {
    /// Adds the device time of a submission whose results have been read (so its timestamps are written).
    fn add_device_time(&mut self, stamps: Option<Stamps>) -> Result<()> {
        if let Some(stamps) = stamps {
            self.measured += self.gpu.ctx.read_elapsed(&stamps)?;
        }
        Ok(())
    }

    /// Waits for the GPU and reads the first `bytes` of `buffer` (MAP_READ), counted as the stage's readback.
    fn read_back(&mut self, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let (values, time) = self.gpu.ctx.read_timed(buffer, bytes)?;
        self.measured += DeviceMeasures {
            readback: Some(Readback { bytes, time }),
            ..Default::default()
        };
        Ok(values)
    }

    /// Runs a stage inside error scopes, so that buffer creation and uploads are covered as well as the dispatches.
    pub(super) fn scoped<T>(&mut self, stage: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let gpu = self.gpu;
        gpu.ctx.scoped(|| stage(self))?
    }

    pub(super) fn buffer(&mut self, name: &'static str, floats: usize, usage: wgpu::BufferUsages) -> View {
        let bytes = (floats * 4) as u64;
        View::new(&self.pool.get(&self.gpu.ctx, name, bytes, usage), bytes)
    }

    /// Splits level jobs into groups whose tensors each fit one storage binding. Usually one group: all levels
    /// of all images go through one dispatch per layer.
    pub(crate) fn level_groups(&self, jobs: &[LevelJob]) -> Result<Vec<std::ops::Range<usize>>> {
        let limit = self.gpu.max_binding_floats();
        let mut groups = Vec::new();
        let (mut start, mut sum) = (0, 0);
        for (i, job) in jobs.iter().enumerate() {
            let floats = self
                .gpu
                .pnet
                .largest_floats(&level_parts(&[job.level]))
                .max(self.row_sum_floats(job));
            if floats > limit {
                let image = &self.images[job.image];
                return Err(Error::ImageTooLarge {
                    width: image.width as u32,
                    height: image.height as u32,
                    reason: format!(
                        "a pyramid level of {}×{} needs {} bytes, over the adapter's binding limit",
                        job.level.width,
                        job.level.height,
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
        groups.push(start..jobs.len());
        Ok(groups)
    }

    /// Records the crops of boxes `first..first + count` of the batch (already uploaded to `boxes`, image by
    /// image; `owners[i]` is the image of box i) into `crops`: one segment per image in that range.
    fn record_crops(
        &self,
        plan: &mut Plan,
        owners: &[usize],
        first: usize,
        count: usize,
        size: usize,
        [normalized, boxes, crops]: [&View; 3],
    ) {
        let patch = size * size * 3;
        let mut segments = Vec::new();
        let mut run = first;
        while run < first + count {
            let owner = owners[run];
            let end = (run..first + count)
                .find(|&i| owners[i] != owner)
                .unwrap_or(first + count);
            let image = &self.images[owner];
            segments.push(Segment {
                count: (end - run) as u32,
                in_h: image.height as u32,
                in_w: image.width as u32,
                in_off: image.float as u32,
                out_off: ((run - first) * patch) as u32,
                start: ((run - first) * size * size) as u32,
                a: run as u32,
                ..Default::default()
            });
            run = end;
        }
        plan.dispatch(
            Kernel::CropResize,
            Params {
                // One work item per output pixel.
                total: (count * size * size) as u32,
                size: size as u32,
                ..Default::default()
            },
            segments,
            Some(normalized.clone()),
            crops.clone(),
            Some(boxes.clone()),
        );
    }

    fn upload_boxes(&mut self, name: &'static str, boxes: &[CropBox]) -> View {
        let packed: Vec<[f32; 4]> = boxes.iter().map(|b| [b.y1, b.x1, b.y2, b.x2]).collect();
        let view = self.buffer(name, boxes.len() * 4, STORAGE);
        self.gpu
            .ctx
            .queue
            .write_buffer(&view.buffer, 0, bytemuck::cast_slice(&packed));
        view
    }

    /// P-Net on `jobs`: the records (job, row, column, score, four regressions) of the cells above `threshold`, in
    /// job order, then row-major.
    /// With `host_level`, see [`GpuPass::run_pnet`].
    pub(super) fn select_cells(
        &mut self,
        jobs: &[LevelJob],
        threshold: f32,
        host_level: Option<&[f32]>,
    ) -> Result<Vec<[u32; RECORD]>> {
        let cells: usize = jobs
            .iter()
            .map(|j| j.level.pnet_map_size().0 * j.level.pnet_map_size().1)
            .sum();
        let mut slots = cells.min(CANDIDATE_SLOTS);
        let (mut count, mut words) = self.scoped(|pass| pass.run_pnet(jobs, threshold, slots, host_level))?;
        if count > slots {
            // More cells passed than were reserved: run the stage again with room for all of them.
            slots = count;
            (count, words) = self.scoped(|pass| pass.run_pnet(jobs, threshold, slots, host_level))?;
        }
        let mut records: Vec<[u32; RECORD]> = words
            .get(1..1 + count * RECORD)
            .unwrap_or(&[])
            .as_chunks::<RECORD>()
            .0
            .to_vec();
        // The GPU appends in any order; job (image, then level), then row-major cells, is the order the
        // pipeline's tie rule needs.
        records.sort_unstable_by_key(|r| (r[0], r[1], r[2]));
        Ok(records)
    }

    /// Records and submits P-Net on `jobs` with room for `slots` candidate records; returns the count and the
    /// words read back. With `host_level`, the one job's level (or strip) was resampled on the host: it is
    /// uploaded as it is, and no image is normalised or resized.
    fn run_pnet(
        &mut self,
        jobs: &[LevelJob],
        threshold: f32,
        slots: usize,
        host_level: Option<&[f32]>,
    ) -> Result<(usize, Vec<u32>)> {
        let ctx = &self.gpu.ctx;
        let mut plan = Plan::with_arenas(["pnet_params", "pnet_segments"]);
        debug_assert!(host_level.is_none() || jobs.len() == 1);
        let resample = match host_level {
            None => {
                plan.time_as(TimedAs::Pyramid);
                let normalized = self.record_normalize(&mut plan);
                let (taps, offsets) = self.upload_taps(jobs);
                Some((normalized, taps, offsets))
            }
            Some(_) => None,
        };
        let levels: Vec<PyramidLevel> = jobs.iter().map(|j| j.level).collect();

        let groups = match resample {
            Some(_) => self.level_groups(jobs)?,
            // One job: one group.
            None => std::iter::once(0..jobs.len()).collect(),
        };
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
        let row_sums = match resample {
            Some(_) => groups
                .iter()
                .map(|g| jobs[g.clone()].iter().map(|j| self.row_sum_floats(j)).sum::<usize>())
                .max()
                .unwrap_or(0),
            None => 0,
        };
        let rows = self.buffer("pnet_rows", row_sums, STORAGE);
        let ping = self.buffer(
            "pnet_ping",
            (0..layers - 1).step_by(2).map(|i| largest(Some(i))).max().unwrap_or(0),
            STORAGE,
        );
        let pong = self.buffer(
            "pnet_pong",
            (1..layers - 1).step_by(2).map(|i| largest(Some(i))).max().unwrap_or(0),
            STORAGE,
        );
        let heads = self.buffer("pnet_heads", largest(Some(layers - 1)), STORAGE);
        let candidates = self.buffer("candidates", 1 + slots * RECORD, STORAGE);
        ctx.queue.write_buffer(&candidates.buffer, 0, bytemuck::bytes_of(&0u32));

        for group in groups {
            let parts = level_parts(&levels[group.clone()]);
            // The resampling is timed apart from P-Net (a compute pass of its own each).
            plan.time_as(TimedAs::Pyramid);
            match (&resample, host_level) {
                (Some((normalized, taps, offsets)), _) => self.record_resize(
                    &mut plan,
                    &jobs[group.clone()],
                    &parts,
                    &offsets[group.clone()],
                    [normalized, &rows, &pyramid, taps],
                ),
                (None, Some(level)) => ctx.queue.write_buffer(&pyramid.buffer, 0, bytemuck::cast_slice(level)),
                (None, None) => {}
            }
            plan.time_as(TimedAs::Network);
            let maps = self
                .gpu
                .pnet
                .record(&mut plan, &parts, &pyramid, [&ping, &pong], &heads, 0);
            let mut start = 0u32;
            let segments = maps
                .iter()
                .zip(group.clone())
                .map(|(m, job)| {
                    let s = Segment {
                        in_off: m.offset as u32,
                        out_h: m.h as u32,
                        out_w: m.w as u32,
                        start,
                        a: job as u32,
                        ..Default::default()
                    };
                    start += (m.h * m.w) as u32;
                    s
                })
                .collect();
            debug_assert!(maps.iter().all(|m| m.c == PNET_HEADS));
            plan.dispatch(
                Kernel::PnetSelect,
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
        let read = self.buffer("candidates_read", 1 + slots * RECORD, READBACK);
        let first_bytes = ((1 + first_records * RECORD) * 4) as u64;
        plan.copy(&candidates.buffer, &read.buffer, first_bytes);
        let stamps = plan.submit(ctx, &self.gpu.kernels, &mut self.pool)?;
        let mut words: Vec<u32> = bytemuck::pod_collect_to_vec(&self.read_back(&read.buffer, first_bytes)?);
        self.add_device_time(stamps)?;
        let count = words.first().copied().unwrap_or(0) as usize;
        if count > first_records {
            let bytes = ((1 + count.min(slots) * RECORD) * 4) as u64;
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(&candidates.buffer, 0, &read.buffer, 0, bytes);
            ctx.queue.submit([encoder.finish()]);
            words = bytemuck::pod_collect_to_vec(&self.read_back(&read.buffer, bytes)?);
        }
        Ok((count, words))
    }

    /// Crops every image's `boxes` to `size`² on the GPU and runs `net` on them in chunks that fit the device's
    /// limits; returns per image the heads rows (`width` floats each, the last one the face probability). With
    /// `host`, the crops are cut from that image on the host instead (an image too large to upload whole) and
    /// each chunk is its own submission.
    pub(super) fn run_crops(
        &mut self,
        boxes: &[Vec<CropBox>],
        size: usize,
        net: Net,
        width: usize,
        host: Option<Plane<'_, u8>>,
    ) -> Result<Vec<Vec<f32>>> {
        let flat: Vec<CropBox> = boxes.iter().flatten().copied().collect();
        let owners: Vec<usize> = boxes
            .iter()
            .enumerate()
            .flat_map(|(i, b)| std::iter::repeat_n(i, b.len()))
            .collect();
        let n = flat.len();
        if n == 0 {
            return Ok(vec![Vec::new(); boxes.len()]);
        }
        let gpu = self.gpu;
        // Each stage its own buffers, so that frames after the first reuse every buffer and bind group.
        let names = net.buffer_names();
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

        let box_view = self.upload_boxes(names[0], &flat);
        let normalized = self.normalized();
        let crops = self.buffer(names[1], chunk * one[0].floats(), STORAGE);
        let ping = self.buffer(names[2], chunk * per_crop, STORAGE);
        let pong = self.buffer(names[3], chunk * per_crop, STORAGE);
        let results = self.buffer(names[4], n * width, STORAGE);

        let mut plan = Plan::with_arenas([names[6], names[7]]);
        let mut host_crops = Vec::new();
        for first in (0..n).step_by(chunk) {
            let m = chunk.min(n - first);
            match host {
                Some(image) => {
                    if first > 0 {
                        // The crops buffer is refilled for this chunk: the previous chunk's work goes first.
                        let done = std::mem::replace(&mut plan, Plan::with_arenas([names[6], names[7]]));
                        done.submit(&gpu.ctx, &gpu.kernels, &mut self.pool)?;
                    }
                    host_crops.clear();
                    host_crops.resize(m * one[0].floats(), 0.0f32);
                    crate::cpu::crop::crop_and_resize(image, &flat[first..first + m], size, &mut host_crops);
                    gpu.ctx
                        .queue
                        .write_buffer(&crops.buffer, 0, bytemuck::cast_slice(&host_crops));
                }
                None => self.record_crops(&mut plan, &owners, first, m, size, [&normalized, &box_view, &crops]),
            }
            let input = [Part { count: m, ..one[0] }];
            net.record(&mut plan, &input, &crops, [&ping, &pong], &results, first * width);
        }
        plan.dispatch(
            Kernel::Heads,
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
        let read = self.buffer(names[5], n * width, READBACK);
        plan.copy(&results.buffer, &read.buffer, read.bytes);
        let stamps = plan.submit(&gpu.ctx, &gpu.kernels, &mut self.pool)?;
        let rows: Vec<f32> = bytemuck::pod_collect_to_vec(&self.read_back(&read.buffer, read.bytes)?);
        self.add_device_time(stamps)?;
        let mut rest = rows[..n * width].chunks_exact(width);
        Ok(boxes
            .iter()
            .map(|b| rest.by_ref().take(b.len()).flatten().copied().collect())
            .collect())
    }
}

/// A P-Net candidate record (job, row, column, score, four regressions) as a proposal, its row moved down by
/// `first_row` (a strip's first output row).
pub(super) fn proposal(r: &[u32; RECORD], first_row: u32) -> Proposal {
    Proposal {
        row: r[1] + first_row,
        col: r[2],
        score: f32::from_bits(r[3]),
        reg: [4, 5, 6, 7].map(|i| f32::from_bits(r[i])),
    }
}

/// R-Net's heads rows (per image) as verdicts, appended to `out[image]`.
pub(super) fn refinements(rows: &[Vec<f32>], out: &mut [Vec<Refinement>]) {
    for (out, rows) in out.iter_mut().zip(rows) {
        out.extend(rows.chunks_exact(RNET_HEADS).map(|o| Refinement {
            score: o[5],
            reg: [o[0], o[1], o[2], o[3]],
        }));
    }
}

/// O-Net's heads rows (per image) as verdicts, appended to `out[image]`.
pub(super) fn landmarkings(rows: &[Vec<f32>], out: &mut [Vec<Landmarking>]) {
    for (out, rows) in out.iter_mut().zip(rows) {
        out.extend(rows.chunks_exact(ONET_HEADS).map(|o| {
            let mut landmarks = [0.0; 10];
            landmarks.copy_from_slice(&o[4..14]);
            Landmarking {
                score: o[15],
                reg: [o[0], o[1], o[2], o[3]],
                landmarks,
            }
        }));
    }
}

#[derive(Clone, Copy)]
pub(super) enum Net {
    R,
    O,
}

impl Net {
    /// Pool names of the stage's boxes, crops, ping, pong, results, readback, parameters and segments.
    fn buffer_names(self) -> [&'static str; 8] {
        match self {
            Net::R => [
                "rnet_boxes",
                "rnet_crops",
                "rnet_ping",
                "rnet_pong",
                "rnet_results",
                "rnet_read",
                "rnet_params",
                "rnet_segments",
            ],
            Net::O => [
                "onet_boxes",
                "onet_crops",
                "onet_ping",
                "onet_pong",
                "onet_results",
                "onet_read",
                "onet_params",
                "onet_segments",
            ],
        }
    }
}

impl Pass for GpuPass<'_> {
    fn propose(&mut self, levels: &[Vec<PyramidLevel>], threshold: f32, out: &mut [Vec<Vec<Proposal>>]) -> Result<()> {
        for (out, levels) in out.iter_mut().zip(levels) {
            reset(out, levels.len());
        }
        let jobs: Vec<LevelJob> = levels
            .iter()
            .enumerate()
            .flat_map(|(image, levels)| levels.iter().map(move |&level| LevelJob::whole(image, level)))
            .collect();
        let records = self.select_cells(&jobs, threshold, None)?;
        let mut slot_of_job = Vec::with_capacity(jobs.len());
        for (image, levels) in levels.iter().enumerate() {
            slot_of_job.extend((0..levels.len()).map(|level| (image, level)));
        }
        for r in &records {
            if let Some(&(image, level)) = slot_of_job.get(r[0] as usize) {
                out[image][level].push(proposal(r, 0));
            }
        }
        Ok(())
    }

    fn refine(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Refinement>]) -> Result<()> {
        let rows = self.scoped(|pass| pass.run_crops(boxes, 24, Net::R, RNET_HEADS, None))?;
        refinements(&rows, out);
        Ok(())
    }

    fn landmark(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Landmarking>]) -> Result<()> {
        let rows = self.scoped(|pass| pass.run_crops(boxes, 48, Net::O, ONET_HEADS, None))?;
        landmarkings(&rows, out);
        Ok(())
    }

    fn take_device_measures(&mut self) -> DeviceMeasures {
        std::mem::take(&mut self.measured)
    }
}

/// Test access: one image's pyramid and crops through the same recording code as detection.
#[cfg(test)]
impl GpuPass<'_> {
    pub(super) fn pyramid_of_first_image(&mut self, levels: &[PyramidLevel]) -> Result<Vec<f32>> {
        let jobs: Vec<LevelJob> = levels.iter().map(|&level| LevelJob::whole(0, level)).collect();
        let mut plan = Plan::default();
        let normalized = self.record_normalize(&mut plan);
        let (taps, offsets) = self.upload_taps(&jobs);
        let parts = level_parts(levels);
        let floats = total_floats(&parts);
        let pyramid = self.buffer("pyramid", floats, STORAGE);
        let row_sums = jobs.iter().map(|j| self.row_sum_floats(j)).sum();
        let rows = self.buffer("pnet_rows", row_sums, STORAGE);
        self.record_resize(
            &mut plan,
            &jobs,
            &parts,
            &offsets,
            [&normalized, &rows, &pyramid, &taps],
        );
        self.finish_and_read(plan, &pyramid, floats)
    }

    pub(super) fn crops_of_first_image(&mut self, boxes: &[CropBox], size: usize) -> Result<Vec<f32>> {
        let mut plan = Plan::default();
        let normalized = self.record_normalize(&mut plan);
        let box_view = self.upload_boxes("boxes", boxes);
        let floats = boxes.len() * size * size * 3;
        let crops = self.buffer("crops", floats, STORAGE);
        let owners = vec![0; boxes.len()];
        self.record_crops(
            &mut plan,
            &owners,
            0,
            boxes.len(),
            size,
            [&normalized, &box_view, &crops],
        );
        self.finish_and_read(plan, &crops, floats)
    }

    fn finish_and_read(&mut self, mut plan: Plan, view: &View, floats: usize) -> Result<Vec<f32>> {
        let read = self.buffer("test_read", floats, READBACK);
        plan.copy(&view.buffer, &read.buffer, read.bytes);
        let _ = plan.submit(&self.gpu.ctx, &self.gpu.kernels, &mut self.pool)?;
        let mut values: Vec<f32> = bytemuck::pod_collect_to_vec(&self.gpu.ctx.read(&read.buffer, read.bytes)?);
        values.truncate(floats);
        Ok(values)
    }
}
