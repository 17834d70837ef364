//! Images too large for the device's storage bindings: their float copy, or one of their pyramid levels with its
//! P-Net activations, would not fit one binding. Such an image is detected on its own, level by level and strip by
//! strip: each strip of P-Net output rows uploads only the image rows that its AREA taps read, runs the resize and
//! P-Net on them (one submission), and reads back its cells. R-Net and O-Net inputs are cut from the image on the
//! host (a few thousand samples a crop) and uploaded chunk by chunk. The cells and verdicts are the ones the whole
//! image would give: a strip's resize uses the full level's taps, and its rows start on an even level row, so
//! that P-Net's pooling windows fall where they fall on the whole level.

use super::nets::level_parts;
use super::pass::{landmarkings, proposal, refinements, GpuPass, LevelJob, Net, Window};
use super::GpuBackend;
use crate::backend::{ImageView, Landmarking, Pass, Refinement};
use crate::cpu::resize::{resize_area_into, Layout, ResizeScratch};
use crate::cpu::tensor::Tensor;
use crate::error::{Error, Result};
use crate::netdef::{ONET_HEADS, RNET_HEADS};
use crate::pipeline::boxes::Proposal;
use crate::pipeline::crops::CropBox;
use crate::pipeline::pyramid::{AreaTaps, PyramidLevel};
use crate::pipeline::workspace::reset;
use crate::timings::DeviceMeasures;

/// Level rows that P-Net output rows `m0..m1` read: conv 3, pool 2 (stride 2), conv 3, conv 3.
fn level_rows(m0: usize, m1: usize, level_height: usize) -> (usize, usize) {
    (2 * m0, (2 * m1 + 10).min(level_height))
}

impl GpuBackend {
    /// Whether `image` must be tiled: its float copy, or one of its levels, exceeds a binding.
    pub(crate) fn needs_tiles(&self, image: &ImageView<'_>, levels: &[PyramidLevel]) -> bool {
        let limit = self.max_binding_floats();
        image.width as usize * image.height as usize * 3 > limit
            || levels
                .iter()
                .any(|&level| self.level_floats(image.height as usize, level) > limit)
    }

    /// Floats of the largest binding one level job needs: its P-Net tensors, or the AREA resize's row sums (every
    /// input row at the level's width).
    pub(crate) fn level_floats(&self, input_rows: usize, level: PyramidLevel) -> usize {
        self.pnet
            .largest_floats(&level_parts(&[level]))
            .max(input_rows * level.width * 3)
    }

    /// The strips of one level: P-Net output rows `m0..m1`, each strip's job and its image rows within the limit.
    /// With `host_resampled`, the level comes from the host and only P-Net's tensors must fit.
    fn strips(
        &self,
        image: &ImageView<'_>,
        level: PyramidLevel,
        taps: &AreaTaps,
        host_resampled: bool,
    ) -> Result<Vec<Strip>> {
        let limit = self.max_binding_floats();
        let (map_rows, _) = level.pnet_map_size();
        let (width, height) = (image.width as usize, image.height as usize);
        let mut rows_per_strip = map_rows.max(1);
        loop {
            let strips: Vec<Strip> = (0..map_rows)
                .step_by(rows_per_strip)
                .map(|m0| {
                    let m1 = (m0 + rows_per_strip).min(map_rows);
                    let (r0, r1) = level_rows(m0, m1, level.height);
                    let first_input = taps.index[taps.starts[r0]];
                    let end_input = taps.index[taps.starts[r1] - 1] + 1;
                    Strip {
                        first_map_row: m0,
                        input_rows: first_input..end_input,
                        job: LevelJob {
                            image: 0,
                            level: PyramidLevel {
                                height: r1 - r0,
                                ..level
                            },
                            window: Some(Window {
                                level_height: level.height,
                                first_row: r0,
                                image_height: height,
                                first_input_row: first_input,
                            }),
                        },
                    }
                })
                .collect();
            let fits = |s: &Strip| {
                let rows = s.input_rows.len();
                match host_resampled {
                    true => self.pnet.largest_floats(&level_parts(&[s.job.level])) <= limit,
                    false => rows * width * 3 <= limit && self.level_floats(rows, s.job.level) <= limit,
                }
            };
            if strips.iter().all(fits) {
                return Ok(strips);
            }
            if rows_per_strip == 1 {
                return Err(Error::ImageTooLarge {
                    width: image.width,
                    height: image.height,
                    reason: format!(
                        "even one output row of its {}×{} pyramid level exceeds the adapter's binding limit",
                        level.width, level.height
                    ),
                });
            }
            rows_per_strip = rows_per_strip.div_ceil(2);
        }
    }
}

/// One strip of a level: its first P-Net output row, the image rows it uploads, and its job.
struct Strip {
    first_map_row: usize,
    input_rows: std::ops::Range<usize>,
    job: LevelJob,
}

/// The pass of one image too large for the device's bindings.
pub(crate) struct TiledPass<'a> {
    gpu: &'a GpuBackend,
    image: ImageView<'a>,
    /// The device times and readbacks of the strips' and chunks' passes.
    measured: DeviceMeasures,
}

impl<'a> TiledPass<'a> {
    pub fn new(gpu: &'a GpuBackend, image: ImageView<'a>) -> Self {
        TiledPass {
            gpu,
            image,
            measured: DeviceMeasures::default(),
        }
    }

    /// Adds the device times and readbacks that `pass` measured since they were last taken.
    fn add_measured(&mut self, pass: &mut GpuPass<'_>) {
        self.measured += pass.take_device_measures();
    }

    /// R-Net or O-Net on host-cut crops of the image.
    fn crops(&mut self, boxes: &[Vec<CropBox>], size: usize, net: Net, width: usize) -> Result<Vec<Vec<f32>>> {
        let mut pass = self.gpu.start(&[])?;
        let image = self.image.into();
        let rows = pass.scoped(|pass| pass.run_crops(boxes, size, net, width, Some(image)))?;
        self.add_measured(&mut pass);
        Ok(rows)
    }
}

impl Pass for TiledPass<'_> {
    fn propose(&mut self, levels: &[Vec<PyramidLevel>], threshold: f32, out: &mut [Vec<Vec<Proposal>>]) -> Result<()> {
        let (Some(levels), Some(out)) = (levels.first(), out.first_mut()) else {
            return Ok(());
        };
        let image = self.image;
        let row_bytes = image.width as usize * 3;
        for (&level, cells) in levels.iter().zip(reset(out, levels.len()).iter_mut()) {
            let taps = AreaTaps::new(image.height as usize, level.height);
            // A small level of a huge image reads so many image rows a strip that even one strip's rows would not
            // fit a binding: such a level is resampled on the host (it is small, and the resize is the same
            // float32 AREA filter) and only P-Net runs on the GPU.
            let (strips, host_level) = match self.gpu.strips(&image, level, &taps, false) {
                Ok(strips) => (strips, None),
                Err(_) => {
                    let mut resampled = Tensor::default();
                    resize_area_into(
                        image.into(),
                        None,
                        (level.height, level.width),
                        Layout::Interleaved,
                        &mut ResizeScratch::default(),
                        &mut resampled,
                    );
                    (self.gpu.strips(&image, level, &taps, true)?, Some(resampled))
                }
            };
            for strip in strips {
                let mut pass;
                let records = match &host_level {
                    None => {
                        let rows = &strip.input_rows;
                        let view = ImageView {
                            width: image.width,
                            height: rows.len() as u32,
                            rgb: &image.rgb[rows.start * row_bytes..rows.end * row_bytes],
                        };
                        pass = self.gpu.start(&[view])?;
                        pass.select_cells(&[strip.job], threshold, None)?
                    }
                    Some(resampled) => {
                        let first_row = strip.first_map_row * 2;
                        let row_floats = level.width * 3;
                        let rows = &resampled.data()[first_row * row_floats..][..strip.job.level.height * row_floats];
                        pass = self.gpu.start(&[])?;
                        pass.select_cells(&[strip.job], threshold, Some(rows))?
                    }
                };
                self.add_measured(&mut pass);
                cells.extend(records.iter().map(|r| proposal(r, strip.first_map_row as u32)));
            }
        }
        Ok(())
    }

    fn refine(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Refinement>]) -> Result<()> {
        let rows = self.crops(boxes, 24, Net::R, RNET_HEADS)?;
        refinements(&rows, out);
        Ok(())
    }

    fn landmark(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Landmarking>]) -> Result<()> {
        let rows = self.crops(boxes, 48, Net::O, ONET_HEADS)?;
        landmarkings(&rows, out);
        Ok(())
    }

    fn take_device_measures(&mut self) -> DeviceMeasures {
        std::mem::take(&mut self.measured)
    }
}
