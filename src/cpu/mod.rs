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

use crate::align::Similarity;
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
    fn begin<'a>(&'a self, images: &[ImageView<'a>]) -> Result<Box<dyn Pass + 'a>> {
        // The package normalises the whole image once, before resizing and cropping; the values are exact in f32.
        let images = images
            .iter()
            .map(|image| {
                let data = image.rgb.iter().map(|&v| (f32::from(v) - 127.5) / 128.0).collect();
                Tensor::from_vec(1, image.height as usize, image.width as usize, 3, data)
            })
            .collect();
        Ok(Box::new(CpuPass {
            nets: &self.nets,
            images,
        }))
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
    images: Vec<Tensor>,
}

/// Crops `boxes` of `image` to `size`×`size` in batches and runs `net` on each batch, in parallel, keeping the
/// order.
fn crops_through<T: Send>(
    nets: &CpuNets,
    image: &Tensor,
    boxes: &[CropBox],
    size: usize,
    net: impl Fn(&CpuNets, &[f32]) -> Vec<T> + Sync,
) -> Vec<T> {
    let patch = size * size * 3;
    let per_batch: Vec<Vec<T>> = boxes
        .par_chunks(CROP_BATCH)
        .map(|chunk| {
            let mut input = vec![0.0f32; chunk.len() * patch];
            crop_and_resize(image, chunk, size, &mut input);
            net(nets, &input)
        })
        .collect();
    per_batch.into_iter().flatten().collect()
}

impl CpuPass<'_> {
    /// `crops_through` for every image of the pass.
    fn each_image<T: Send>(
        &self,
        boxes: &[Vec<CropBox>],
        size: usize,
        net: impl Fn(&CpuNets, &[f32]) -> Vec<T> + Sync,
    ) -> Vec<Vec<T>> {
        self.images
            .iter()
            .zip(boxes)
            .map(|(image, boxes)| crops_through(self.nets, image, boxes, size, &net))
            .collect()
    }
}

impl Pass for CpuPass<'_> {
    fn propose(&mut self, levels: &[Vec<PyramidLevel>], threshold: f32) -> Result<Vec<Vec<Vec<Proposal>>>> {
        let jobs: Vec<(usize, &PyramidLevel)> = levels
            .iter()
            .enumerate()
            .flat_map(|(i, levels)| levels.iter().map(move |l| (i, l)))
            .collect();
        let mut cells: Vec<Vec<Proposal>> = jobs
            .par_iter()
            .map(|&(i, level)| {
                let scaled = resize_area(&self.images[i], level.height, level.width);
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
            .collect();
        // Back from (image, level) jobs to one list of levels per image.
        let mut rest = cells.drain(..);
        Ok(levels.iter().map(|l| rest.by_ref().take(l.len()).collect()).collect())
    }

    fn refine(&mut self, boxes: &[Vec<CropBox>]) -> Result<Vec<Vec<Refinement>>> {
        Ok(self.each_image(boxes, 24, |nets, input| {
            nets.rnet_batch(input)
                .into_iter()
                .map(|o| Refinement {
                    score: o.face_prob,
                    reg: o.bbox_reg,
                })
                .collect()
        }))
    }

    fn landmark(&mut self, boxes: &[Vec<CropBox>]) -> Result<Vec<Vec<Landmarking>>> {
        Ok(self.each_image(boxes, 48, |nets, input| {
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
