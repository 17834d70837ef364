//! P-Net, R-Net and O-Net on the CPU, built once from [`Weights`] with their weights packed for the kernels.

use rayon::prelude::*;

use super::layers::{face_probability, max_pool, Conv, Dense, Padding};
use super::tensor::Tensor;
use crate::error::{Error, Result};
use crate::weights::Weights;

/// R-Net and O-Net inputs per batch: enough rows for efficient GEMMs, few enough to keep the activations of a
/// batch (O-Net: 48·48·32 floats a crop after conv1) in cache-sized pieces, and many batches for rayon to spread.
pub(crate) const CROP_BATCH: usize = 32;

/// P-Net's output maps for one input: `height`×`width` cells, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct PnetMaps {
    /// Rows of the output map.
    pub height: usize,
    /// Columns of the output map.
    pub width: usize,
    /// Face probability (softmax index 1) of each cell.
    pub face_prob: Vec<f32>,
    /// Box regression `[dx1, dy1, dx2, dy2]` of each cell, 4 values a cell.
    pub bbox_reg: Vec<f32>,
}

/// R-Net's output for one 24×24 input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RnetOutput {
    /// Face probability.
    pub face_prob: f32,
    /// Box regression `[dx1, dy1, dx2, dy2]`, relative to the box size.
    pub bbox_reg: [f32; 4],
}

/// O-Net's output for one 48×48 input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OnetOutput {
    /// Face probability.
    pub face_prob: f32,
    /// Box regression `[dx1, dy1, dx2, dy2]`, relative to the box size.
    pub bbox_reg: [f32; 4],
    /// `[x1..x5, y1..y5]` relative to the box, 0..1: left eye, right eye, nose, left and right mouth corner.
    pub landmarks: [f32; 10],
}

/// The three networks on the CPU. Inputs are normalised pixels `(v − 127.5) / 128`, HWC (NHWC for batches).
#[derive(Clone, Debug)]
pub struct CpuNets {
    pnet: [Conv; 4],
    rnet_convs: [Conv; 3],
    rnet_dense: [Dense; 2],
    onet_convs: [Conv; 4],
    onet_dense: [Dense; 2],
}

fn conv(w: &Weights, net: &str, layer: &str, prelu: Option<&str>, shape: [usize; 4]) -> Conv {
    let [kh, kw, cin, cout] = shape;
    Conv {
        kh,
        kw,
        cin,
        cout,
        kernel: w.tensor(&format!("{net}.{layer}.weight")).to_vec(),
        bias: w.tensor(&format!("{net}.{layer}.bias")).to_vec(),
        alpha: prelu.map(|p| w.tensor(&format!("{net}.{p}.alpha")).to_vec()),
    }
}

fn dense(w: &Weights, net: &str, layer: &str, prelu: Option<&str>, input: usize, output: usize) -> Dense {
    Dense {
        input,
        output,
        kernel: w.tensor(&format!("{net}.{layer}.weight")).to_vec(),
        bias: w.tensor(&format!("{net}.{layer}.bias")).to_vec(),
        alpha: prelu.map(|p| w.tensor(&format!("{net}.{p}.alpha")).to_vec()),
    }
}

/// Several output heads over the same input as one layer: their kernels side by side, so one GEMM computes all.
fn concat_heads(heads: &[Dense]) -> Dense {
    let input = heads[0].input;
    let output = heads.iter().map(|h| h.output).sum();
    let mut kernel = Vec::with_capacity(input * output);
    for row in 0..input {
        for h in heads {
            kernel.extend_from_slice(&h.kernel[row * h.output..(row + 1) * h.output]);
        }
    }
    Dense {
        input,
        output,
        kernel,
        bias: heads.iter().flat_map(|h| h.bias.clone()).collect(),
        alpha: None,
    }
}

/// The first dense layer reads the last conv's 3×3 map flattened in (W, H, C) order (Keras `Permute((2,1,3))`).
/// Reorder its rows once so that it reads our (H, W, C) tensors directly.
fn rows_from_whc_to_hwc(mut d: Dense, side: usize, channels: usize) -> Dense {
    let mut kernel = vec![0.0; d.kernel.len()];
    for y in 0..side {
        for x in 0..side {
            for c in 0..channels {
                let hwc = (y * side + x) * channels + c;
                let whc = (x * side + y) * channels + c;
                kernel[hwc * d.output..(hwc + 1) * d.output]
                    .copy_from_slice(&d.kernel[whc * d.output..(whc + 1) * d.output]);
            }
        }
    }
    d.kernel = kernel;
    d
}

fn as_conv(d: Dense) -> Conv {
    Conv {
        kh: 1,
        kw: 1,
        cin: d.input,
        cout: d.output,
        kernel: d.kernel,
        bias: d.bias,
        alpha: None,
    }
}

impl CpuNets {
    /// Packs checked weights for the CPU kernels.
    pub fn new(w: &Weights) -> Self {
        let pnet_heads = concat_heads(&[
            dense(w, "pnet", "conv4_1", None, 32, 4), // box regression
            dense(w, "pnet", "conv4_2", None, 32, 2), // face logits
        ]);
        CpuNets {
            pnet: [
                conv(w, "pnet", "conv1", Some("prelu1"), [3, 3, 3, 10]),
                conv(w, "pnet", "conv2", Some("prelu2"), [3, 3, 10, 16]),
                conv(w, "pnet", "conv3", Some("prelu3"), [3, 3, 16, 32]),
                as_conv(pnet_heads),
            ],
            rnet_convs: [
                conv(w, "rnet", "conv1", Some("prelu1"), [3, 3, 3, 28]),
                conv(w, "rnet", "conv2", Some("prelu2"), [3, 3, 28, 48]),
                conv(w, "rnet", "conv3", Some("prelu3"), [2, 2, 48, 64]),
            ],
            rnet_dense: [
                rows_from_whc_to_hwc(dense(w, "rnet", "fc4", Some("prelu4"), 576, 128), 3, 64),
                concat_heads(&[
                    dense(w, "rnet", "fc5_1", None, 128, 4),
                    dense(w, "rnet", "fc5_2", None, 128, 2),
                ]),
            ],
            onet_convs: [
                conv(w, "onet", "conv1", Some("prelu1"), [3, 3, 3, 32]),
                conv(w, "onet", "conv2", Some("prelu2"), [3, 3, 32, 64]),
                conv(w, "onet", "conv3", Some("prelu3"), [3, 3, 64, 64]),
                conv(w, "onet", "conv4", Some("prelu4"), [2, 2, 64, 128]),
            ],
            onet_dense: [
                rows_from_whc_to_hwc(dense(w, "onet", "fc5", Some("prelu5"), 1152, 256), 3, 128),
                concat_heads(&[
                    dense(w, "onet", "fc6_1", None, 256, 4),
                    dense(w, "onet", "fc6_2", None, 256, 10),
                    dense(w, "onet", "fc6_3", None, 256, 2),
                ]),
            ],
        }
    }

    /// P-Net on one `height`×`width` HWC input (`input.len() == height·width·3`).
    pub fn pnet(&self, input: &[f32], height: usize, width: usize) -> Result<PnetMaps> {
        check_len("pnet input", input.len(), height * width * 3)?;
        Ok(self.pnet_tensor(&Tensor::from_vec(1, height, width, 3, input.to_vec())))
    }

    pub(crate) fn pnet_tensor(&self, x: &Tensor) -> PnetMaps {
        let [c1, c2, c3, heads] = &self.pnet;
        let x = max_pool(&c1.forward(x), 2, 2, Padding::Same);
        let x = c3.forward(&c2.forward(&x));
        let out = heads.forward(&x);
        let cells = out.h * out.w;
        let mut maps = PnetMaps {
            height: out.h,
            width: out.w,
            face_prob: Vec::with_capacity(cells),
            bbox_reg: Vec::with_capacity(cells * 4),
        };
        for cell in out.data.chunks_exact(6) {
            maps.bbox_reg.extend_from_slice(&cell[..4]);
            maps.face_prob.push(face_probability(cell[4], cell[5]));
        }
        maps
    }

    /// R-Net on `n` 24×24 HWC inputs, `n·24·24·3` values.
    pub fn rnet(&self, inputs: &[f32]) -> Result<Vec<RnetOutput>> {
        let patch = 24 * 24 * 3;
        check_multiple("rnet input", inputs.len(), patch)?;
        Ok(inputs
            .par_chunks(patch * CROP_BATCH)
            .flat_map_iter(|batch| self.rnet_batch(batch))
            .collect())
    }

    pub(crate) fn rnet_batch(&self, batch: &[f32]) -> Vec<RnetOutput> {
        let n = batch.len() / (24 * 24 * 3);
        let [c1, c2, c3] = &self.rnet_convs;
        let x = Tensor::from_vec(n, 24, 24, 3, batch.to_vec());
        let x = max_pool(&c1.forward(&x), 3, 2, Padding::Same);
        let x = max_pool(&c2.forward(&x), 3, 2, Padding::Valid);
        let x = c3.forward(&x);
        let [fc, heads] = &self.rnet_dense;
        let out = heads.forward(&fc.forward(&x.data));
        out.chunks_exact(6)
            .map(|o| RnetOutput {
                face_prob: face_probability(o[4], o[5]),
                bbox_reg: [o[0], o[1], o[2], o[3]],
            })
            .collect()
    }

    /// O-Net on `n` 48×48 HWC inputs, `n·48·48·3` values.
    pub fn onet(&self, inputs: &[f32]) -> Result<Vec<OnetOutput>> {
        let patch = 48 * 48 * 3;
        check_multiple("onet input", inputs.len(), patch)?;
        Ok(inputs
            .par_chunks(patch * CROP_BATCH)
            .flat_map_iter(|batch| self.onet_batch(batch))
            .collect())
    }

    pub(crate) fn onet_batch(&self, batch: &[f32]) -> Vec<OnetOutput> {
        let n = batch.len() / (48 * 48 * 3);
        let [c1, c2, c3, c4] = &self.onet_convs;
        let x = Tensor::from_vec(n, 48, 48, 3, batch.to_vec());
        let x = max_pool(&c1.forward(&x), 3, 2, Padding::Same);
        let x = max_pool(&c2.forward(&x), 3, 2, Padding::Valid);
        let x = max_pool(&c3.forward(&x), 2, 2, Padding::Same);
        let x = c4.forward(&x);
        let [fc, heads] = &self.onet_dense;
        let out = heads.forward(&fc.forward(&x.data));
        out.chunks_exact(16)
            .map(|o| OnetOutput {
                face_prob: face_probability(o[14], o[15]),
                bbox_reg: [o[0], o[1], o[2], o[3]],
                landmarks: o[4..14].try_into().unwrap_or_default(),
            })
            .collect()
    }
}

fn check_len(what: &'static str, found: usize, expected: usize) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::InputSize {
            what,
            expected: expected.to_string(),
            found,
        })
    }
}

fn check_multiple(what: &'static str, found: usize, unit: usize) -> Result<()> {
    if found % unit == 0 {
        Ok(())
    } else {
        Err(Error::InputSize {
            what,
            expected: format!("a multiple of {unit}"),
            found,
        })
    }
}
