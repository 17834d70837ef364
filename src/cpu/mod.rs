//! The pure-Rust CPU backend: direct and Winograd convolutions on GEMM-style register tiles with bias and PReLU
//! fused, rayon across pyramid levels, rows of outputs and batches of crops.
//!
//! Every hot loop is a `multiversion` function compiled for the baseline, AVX2 + FMA, NEON and AVX-512, and the
//! best version the CPU has runs. The AVX-512 version also asks for AVX512-FP16, which marks Intel's Xeons since
//! Sapphire Rapids, with two 512-bit FMA units a core; AMD's Zen 4 and Zen 5 lack it and run the AVX2 version (on
//! Zen 4, whose 512-bit operations take two passes, an AVX-512 build of the AVX2 tiles measured 20 % slower; the
//! wider tiles below were not measured there). The AVX-512 register tiles span 32 output channels instead of 16,
//! so that enough independent sums keep both units busy. Every version sums each output in the same order, so
//! the versions that fuse multiply-adds give the same bits.

pub(crate) mod crop;
mod crop_conv;
mod crop_order;
mod direct_conv;
mod gemm;
mod kernel_version;
pub(crate) mod layers;
mod levels;
pub(crate) mod nets;
mod planar_conv;
pub(crate) mod resize;
mod row_blocks;
pub(crate) mod tensor;
mod thread_scratch;
mod winograd;
mod winograd_algorithms;

use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

pub use kernel_version::CpuKernels;
pub use nets::CpuNets;

use crate::align::Similarity;
use crate::backend::{Backend, ImageView, Landmarking, Pass, Refinement, Stages};
use crate::error::Result;
use crate::netdef::{ONET_HEADS, RNET_HEADS};
use crate::pipeline::boxes::Proposal;
use crate::pipeline::crops::CropBox;
use crate::pipeline::pyramid::PyramidLevel;
use crate::pipeline::workspace::reset;
use crop::crop_and_resize;
use crop_order::CropOrder;
use levels::{group_count, propose_levels, LevelScratch, Spent};
use nets::{onet_output, rnet_output, Activations, CROP_BATCH};
use row_blocks::RowBlocks;
use tensor::{Plane, Tensor};

/// The CPU backend: the packed networks, shared by every detection, and the scratch of past passes.
pub(crate) struct CpuBackend {
    nets: CpuNets,
    /// One scratch per pass running at the same time; a pass takes one and puts it back, so that a stream of
    /// detections reuses the same memory.
    scratch: Mutex<Vec<Scratch>>,
}

/// The memory one CPU pass works in.
#[derive(Debug, Default)]
struct Scratch {
    /// The image being proposed on, regrouped for the pyramid's resizes.
    row_blocks: RowBlocks<u8>,
    /// One per worker thread for P-Net's groups of levels.
    level_groups: Vec<LevelScratch>,
    /// One per worker thread for the crop stages.
    crop_groups: Vec<CropGroup>,
    /// The crop stages' boxes, top to bottom.
    crop_order: CropOrder,
}

/// A batch of crops and the activations of a network on it.
#[derive(Debug, Default)]
struct CropGroup {
    input: Tensor,
    activations: Activations,
}

impl CpuBackend {
    pub fn new(nets: CpuNets) -> Self {
        CpuBackend {
            nets,
            scratch: Mutex::new(Vec::new()),
        }
    }

    fn take_scratch(&self) -> Scratch {
        let mut pool = self.scratch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pool.pop().unwrap_or_default()
    }

    fn return_scratch(&self, scratch: Scratch) {
        let mut pool = self.scratch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pool.push(scratch);
    }
}

impl Backend for CpuBackend {
    fn run(&self, images: &[ImageView<'_>], _levels: &[Vec<PyramidLevel>], stages: &mut Stages<'_>) -> Result<()> {
        let mut scratch = self.take_scratch();
        let mut pass = CpuPass {
            nets: &self.nets,
            scratch: &mut scratch,
            images,
        };
        // The stages run on a rayon worker, so that the parallel loops inside them queue their work locally
        // instead of handing it to the pool from outside, once per loop.
        let result = rayon::scope(|_| stages(&mut pass));
        self.return_scratch(scratch);
        result
    }

    fn batch_len(&self, images: &[ImageView<'_>]) -> usize {
        // Each image already keeps both cores busy; batching would only hold several pyramids at once.
        images.len().min(1)
    }

    fn warp(&self, image: ImageView<'_>, transforms: &[Similarity], size: u32) -> Result<Vec<image::RgbImage>> {
        Ok(crate::align::warp_cpu(image, transforms, size))
    }
}

struct CpuPass<'a> {
    nets: &'a CpuNets,
    scratch: &'a mut Scratch,
    /// The 8-bit images, read through [`tensor::Sample`] as normalised values.
    images: &'a [ImageView<'a>],
}

impl CpuPass<'_> {
    /// Crops `boxes[image]` to `size`×`size`, runs `forward` on the crops in batches of [`CROP_BATCH`] and turns
    /// each `heads`-wide output row into a verdict, into `out[image]`. The crops are cut top to bottom
    /// ([`CropOrder`]); the batches are split into one contiguous run per worker thread, each with its own reused
    /// buffers.
    fn crops_through<T: Copy + Default + Send>(
        &mut self,
        boxes: &[Vec<CropBox>],
        size: usize,
        heads: usize,
        forward: impl for<'t> Fn(&CpuNets, &Tensor, &'t mut Activations) -> &'t Tensor + Sync,
        verdict: impl Fn(&[f32]) -> T + Sync,
        out: &mut [Vec<T>],
    ) {
        let Scratch {
            crop_groups,
            crop_order,
            ..
        } = &mut *self.scratch;
        let threads = rayon::current_num_threads().max(1);
        if crop_groups.len() < threads {
            crop_groups.resize_with(threads, CropGroup::default);
        }
        let nets = self.nets;
        for ((boxes, out), &image) in boxes.iter().zip(out.iter_mut()).zip(self.images) {
            let image = Plane::from(image);
            out.resize(boxes.len(), T::default());
            let boxes = crop_order.sort(boxes);
            // An even share a thread (36 crops: 18 and 18, not 32 and 4), in batches of at most CROP_BATCH.
            let per_group = boxes.len().div_ceil(threads).max(1);
            crop_groups[..threads]
                .par_iter_mut()
                .zip(boxes.par_chunks(per_group))
                .zip(out.par_chunks_mut(per_group))
                .for_each(|((group, boxes), out)| {
                    for (boxes, out) in boxes.chunks(CROP_BATCH).zip(out.chunks_mut(CROP_BATCH)) {
                        group.input.reshape(boxes.len(), size, size, 3);
                        crop_and_resize(image, boxes, size, group.input.data_mut());
                        let rows = forward(nets, &group.input, &mut group.activations);
                        for (o, row) in out.iter_mut().zip(rows.data().chunks_exact(heads)) {
                            *o = verdict(row);
                        }
                    }
                });
            crop_order.restore(out);
        }
    }
}

impl Pass for CpuPass<'_> {
    fn propose(&mut self, levels: &[Vec<PyramidLevel>], threshold: f32, out: &mut [Vec<Vec<Proposal>>]) -> Result<()> {
        let Scratch {
            row_blocks,
            level_groups,
            ..
        } = &mut *self.scratch;
        let threads = rayon::current_num_threads().max(1);
        if level_groups.len() < threads {
            level_groups.resize_with(threads, LevelScratch::default);
        }
        for ((&image, levels), out) in self.images.iter().zip(levels).zip(out.iter_mut()) {
            let cells = reset(out, levels.len());
            let slots = &mut level_groups[..group_count(levels, threads)];
            let start = Instant::now();
            row_blocks.fill(image.into());
            // The regrouping is the pyramid's too; it runs before the groups start.
            slots[0].spent.resampling += start.elapsed();
            propose_levels(self.nets, image.into(), row_blocks, levels, threshold, cells, slots);
        }
        Ok(())
    }

    fn take_pyramid_share(&mut self) -> Option<f64> {
        let mut spent = Spent::default();
        for group in &mut self.scratch.level_groups {
            spent += std::mem::take(&mut group.spent);
        }
        spent.resampling_share()
    }

    fn refine(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Refinement>]) -> Result<()> {
        self.crops_through(
            boxes,
            24,
            RNET_HEADS,
            |nets, x, act| nets.rnet_forward(x, act),
            |row| {
                let o = rnet_output(row);
                Refinement {
                    score: o.face_prob,
                    reg: o.bbox_reg,
                }
            },
            out,
        );
        Ok(())
    }

    fn landmark(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Landmarking>]) -> Result<()> {
        self.crops_through(
            boxes,
            48,
            ONET_HEADS,
            |nets, x, act| nets.onet_forward(x, act),
            |row| {
                let o = onet_output(row);
                Landmarking {
                    score: o.face_prob,
                    reg: o.bbox_reg,
                    landmarks: o.landmarks,
                }
            },
            out,
        );
        Ok(())
    }
}

/// A CPU pass that owns its scratch, so that a test can hold it next to another backend's pass.
#[cfg(all(test, feature = "gpu"))]
pub(crate) struct OwnedPass<'a> {
    nets: &'a CpuNets,
    scratch: Scratch,
    images: Vec<ImageView<'a>>,
}

#[cfg(all(test, feature = "gpu"))]
impl CpuBackend {
    pub(crate) fn begin<'a>(&'a self, images: &[ImageView<'a>]) -> OwnedPass<'a> {
        OwnedPass {
            nets: &self.nets,
            scratch: Scratch::default(),
            images: images.to_vec(),
        }
    }
}

#[cfg(all(test, feature = "gpu"))]
impl OwnedPass<'_> {
    fn pass(&mut self) -> CpuPass<'_> {
        CpuPass {
            nets: self.nets,
            scratch: &mut self.scratch,
            images: &self.images,
        }
    }
}

#[cfg(all(test, feature = "gpu"))]
impl Pass for OwnedPass<'_> {
    fn propose(&mut self, levels: &[Vec<PyramidLevel>], threshold: f32, out: &mut [Vec<Vec<Proposal>>]) -> Result<()> {
        self.pass().propose(levels, threshold, out)
    }

    fn refine(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Refinement>]) -> Result<()> {
        self.pass().refine(boxes, out)
    }

    fn landmark(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Landmarking>]) -> Result<()> {
        self.pass().landmark(boxes, out)
    }
}
