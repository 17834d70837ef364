//! The pyramid on the GPU, as part of P-Net's stage: the uploaded 8-bit images are normalised, then resampled to
//! every level job with TensorFlow's AREA filter in two passes (row sums, then columns), driven by tables of taps
//! that the host computes once per pass (`pipeline::pyramid::AreaTaps`).

use super::kernels::{Kernel, Params, Plan, Segment, View};
use super::nets::Part;
use super::pass::{GpuPass, LevelJob};
use super::STORAGE;
use crate::pipeline::pyramid::{area_normaliser, AreaTaps};

/// Image rows one work item of the AREA resize's row pass sums (`resize_rows.wgsl`).
const ROW_SUM_BAND: usize = 8;

/// One output row's or column's AREA taps: first input index, tap count, first and last weight bits.
type AreaEntry = [u32; 4];

/// The table entries of `rows` output cells of `t` from `first`, input indices moved down by `shift`.
fn area_entries(t: &AreaTaps, first: usize, rows: usize, shift: usize) -> impl Iterator<Item = AreaEntry> + '_ {
    t.starts.windows(2).skip(first).take(rows).map(move |w| {
        let (a, b) = (w[0], w[1] - 1);
        debug_assert!(t.index[a..=b].windows(2).all(|p| p[1] == p[0] + 1 || p[1] == p[0]));
        debug_assert!(t.weight[a + 1..b.max(a + 1)].iter().all(|&v| v == 1.0));
        [
            (t.index[a] - shift) as u32,
            (b + 1 - a) as u32,
            t.weight[a].to_bits(),
            t.weight[b].to_bits(),
        ]
    })
}

impl GpuPass<'_> {
    /// The normalised images (written by P-Net's stage, read by the crops).
    pub(super) fn normalized(&mut self) -> View {
        let floats = self.floats;
        self.buffer("image", floats, STORAGE)
    }

    /// The AREA taps of every level job in one table of vec4s: per output row, then per output column,
    /// (first input index, tap count, first weight bits, last weight bits). Taps between the first and the last
    /// weigh 1. Returns the table and, per job, the entries of its first row and first column and its normaliser.
    pub(super) fn area_tables(&self, jobs: &[LevelJob]) -> (Vec<AreaEntry>, Vec<(u32, u32, f32)>) {
        let mut table = Vec::new();
        let mut offsets = Vec::new();
        for job in jobs {
            let image = &self.images[job.image];
            // A strip takes its rows of the full level's taps, pointing into its own image's rows.
            let (ty, first, shift) = match job.window {
                None => (AreaTaps::new(image.height, job.level.height), 0, 0),
                Some(w) => (
                    AreaTaps::new(w.image_height, w.level_height),
                    w.first_row,
                    w.first_input_row,
                ),
            };
            let tx = AreaTaps::new(image.width, job.level.width);
            let row_start = table.len() as u32;
            table.extend(area_entries(&ty, first, job.level.height, shift));
            let column_start = table.len() as u32;
            table.extend(area_entries(&tx, 0, job.level.width, 0));
            offsets.push((row_start, column_start, area_normaliser(&ty, &tx)));
        }
        (table, offsets)
    }

    /// Records the normalisation of the uploaded images; returns the normalised images.
    pub(super) fn record_normalize(&mut self, plan: &mut Plan) -> View {
        let normalized = self.normalized();
        let rgb = View::new(
            &self.pool.get(&self.gpu.ctx, "rgb", self.rgb_bytes, STORAGE),
            self.rgb_bytes,
        );
        let segments = self
            .images
            .iter()
            .map(|i| Segment {
                in_off: i.rgb_word as u32,
                out_off: i.float as u32,
                start: i.rgb_word as u32,
                a: (i.width * i.height * 3) as u32,
                ..Default::default()
            })
            .collect();
        plan.dispatch(
            Kernel::Normalize,
            Params {
                // One work item per word of the upload.
                total: self.rgb_words as u32,
                ..Default::default()
            },
            segments,
            Some(rgb),
            normalized.clone(),
            None,
        );
        normalized
    }

    /// Uploads the AREA taps of `jobs`; returns the table and each job's (row starts, column starts, normaliser).
    pub(super) fn upload_taps(&mut self, jobs: &[LevelJob]) -> (View, Vec<(u32, u32, f32)>) {
        let (table, offsets) = self.area_tables(jobs);
        let taps = self.buffer("taps", table.len() * 4, STORAGE);
        self.gpu
            .ctx
            .queue
            .write_buffer(&taps.buffer, 0, bytemuck::cast_slice(&table));
        (taps, offsets)
    }

    /// Floats of the AREA resize's row sums (pass 1) for one level job: every image row at the level's width.
    pub(super) fn row_sum_floats(&self, job: &LevelJob) -> usize {
        self.images[job.image].height * job.level.width * 3
    }

    /// Records the AREA resize of the normalised images into the level `parts` (one per job) of `pyramid`: row
    /// sums into `rows` (pass 1), then the levels (pass 2).
    pub(super) fn record_resize(
        &self,
        plan: &mut Plan,
        jobs: &[LevelJob],
        parts: &[Part],
        offsets: &[(u32, u32, f32)],
        [normalized, rows, pyramid, taps]: [&View; 4],
    ) {
        let (mut row_items, mut row_offset, mut pixel_items) = (0u32, 0u32, 0u32);
        let mut row_segments = Vec::with_capacity(jobs.len());
        let mut column_segments = Vec::with_capacity(jobs.len());
        for ((job, p), &(ys, xs, k)) in jobs.iter().zip(parts).zip(offsets) {
            let image = &self.images[job.image];
            row_segments.push(Segment {
                count: 1,
                in_h: image.height as u32,
                in_w: image.width as u32,
                in_off: image.float as u32,
                out_w: p.w as u32,
                out_off: row_offset,
                start: row_items,
                b: xs,
                ..Default::default()
            });
            column_segments.push(Segment {
                count: 1,
                in_h: image.height as u32,
                in_off: row_offset,
                out_h: p.h as u32,
                out_w: p.w as u32,
                out_off: p.offset as u32,
                start: pixel_items,
                a: ys,
                e: k.to_bits(),
                ..Default::default()
            });
            row_items += (image.height.div_ceil(ROW_SUM_BAND) * p.w) as u32;
            row_offset += self.row_sum_floats(job) as u32;
            pixel_items += (p.h * p.w) as u32;
        }
        plan.dispatch(
            Kernel::ResizeRows,
            Params {
                total: row_items,
                size: ROW_SUM_BAND as u32,
                ..Default::default()
            },
            row_segments,
            Some(normalized.clone()),
            rows.clone(),
            Some(taps.clone()),
        );
        plan.dispatch(
            Kernel::ResizeColumns,
            Params {
                total: pixel_items,
                ..Default::default()
            },
            column_segments,
            Some(rows.clone()),
            pyramid.clone(),
            Some(taps.clone()),
        );
    }
}
