//! The pure-Rust CPU backend: im2col + SGEMM convolutions with fused bias and PReLU, rayon across pyramid levels,
//! blocks of output rows and batches of crops.

pub(crate) mod crop;
mod gemm;
pub(crate) mod layers;
pub(crate) mod nets;
pub(crate) mod resize;
pub(crate) mod tensor;

use rayon::prelude::*;

pub use nets::CpuNets;

use crate::backend::{Backend, ImageView, Landmarking, Pass, Refinement};
use crate::error::Result;
use crate::pipeline::boxes::Proposal;
use crate::pipeline::crops::CropBox;
use crate::pipeline::pyramid::PyramidLevel;
use crop::crop_and_resize;
use nets::CROP_BATCH;
use resize::resize_area;
use tensor::Tensor;

/// The CPU backend: the packed networks, shared by every detection.
pub(crate) struct CpuBackend {
    nets: CpuNets,
}

impl CpuBackend {
    pub fn new(nets: CpuNets) -> Self {
        CpuBackend { nets }
    }
}

impl Backend for CpuBackend {
    fn begin<'a>(&'a self, image: ImageView<'a>) -> Result<Box<dyn Pass + 'a>> {
        // The package normalises the whole image once, before resizing and cropping; the values are exact in f32.
        let data = image.rgb.iter().map(|&v| (f32::from(v) - 127.5) / 128.0).collect();
        let image = Tensor::from_vec(1, image.height as usize, image.width as usize, 3, data);
        Ok(Box::new(CpuPass {
            nets: &self.nets,
            image,
        }))
    }
}

struct CpuPass<'a> {
    nets: &'a CpuNets,
    image: Tensor,
}

impl CpuPass<'_> {
    /// Crops `boxes` to `size`×`size` in batches and runs `net` on each batch, in parallel, keeping the order.
    fn crops_through<T: Send>(
        &self,
        boxes: &[CropBox],
        size: usize,
        net: impl Fn(&CpuNets, &[f32]) -> Vec<T> + Sync,
    ) -> Vec<T> {
        let patch = size * size * 3;
        let per_batch: Vec<Vec<T>> = boxes
            .par_chunks(CROP_BATCH)
            .map(|chunk| {
                let mut input = vec![0.0f32; chunk.len() * patch];
                crop_and_resize(&self.image, chunk, size, &mut input);
                net(self.nets, &input)
            })
            .collect();
        per_batch.into_iter().flatten().collect()
    }
}

impl Pass for CpuPass<'_> {
    fn propose(&mut self, levels: &[PyramidLevel], threshold: f32) -> Result<Vec<Vec<Proposal>>> {
        Ok(levels
            .par_iter()
            .map(|level| {
                let scaled = resize_area(&self.image, level.height, level.width);
                let maps = self.nets.pnet_tensor(scaled);
                let mut cells = Vec::new();
                for (i, &score) in maps.face_prob.iter().enumerate() {
                    if score > threshold {
                        let r = &maps.bbox_reg[i * 4..i * 4 + 4];
                        cells.push(Proposal {
                            row: (i / maps.width) as u32,
                            col: (i % maps.width) as u32,
                            score,
                            reg: [r[0], r[1], r[2], r[3]],
                        });
                    }
                }
                cells
            })
            .collect())
    }

    fn refine(&mut self, boxes: &[CropBox]) -> Result<Vec<Refinement>> {
        Ok(self.crops_through(boxes, 24, |nets, input| {
            nets.rnet_batch(input)
                .into_iter()
                .map(|o| Refinement {
                    score: o.face_prob,
                    reg: o.bbox_reg,
                })
                .collect()
        }))
    }

    fn landmark(&mut self, boxes: &[CropBox]) -> Result<Vec<Landmarking>> {
        Ok(self.crops_through(boxes, 48, |nets, input| {
            nets.onet_batch(input)
                .into_iter()
                .map(|o| Landmarking {
                    score: o.face_prob,
                    reg: o.bbox_reg,
                    landmarks: o.landmarks,
                })
                .collect()
        }))
    }
}
