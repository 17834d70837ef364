//! P-Net, R-Net and O-Net on the CPU, built once from [`Weights`] with their weights packed for the kernels.

use rayon::prelude::*;

use super::crop_conv::{CropConvPool, Pool};
use super::layers::{face_probability, max_pool, Conv, Dense};
use super::planar_conv::{row_planar, PlanarConvPool2};
use super::tensor::Tensor;
use crate::error::{Error, Result};
use crate::netdef::{self, Layer, Padding, ONET_HEADS, PNET_HEADS, RNET_HEADS};
use crate::weights::Weights;

/// R-Net and O-Net inputs per batch: enough rows for efficient GEMMs, few enough to keep the activations of a
/// batch (O-Net: 23·23·32 floats a crop after its first convolution and pool) in cache-sized pieces, and many
/// batches for rayon to spread.
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

/// One layer ready for the CPU kernels.
#[derive(Clone, Debug)]
pub(crate) enum CpuLayer {
    Conv(Conv),
    Pool {
        size: usize,
        stride: usize,
        padding: Padding,
    },
    Dense(Dense),
}

/// The layers packed for the CPU kernels; a Winograd convolution followed by a 1×1 convolution becomes one fused
/// layer (P-Net's last two, see `winograd::Pointwise`).
pub(crate) fn cpu_layers(layers: Vec<Layer>) -> Vec<CpuLayer> {
    let mut layers = layers.into_iter().peekable();
    let mut packed = Vec::new();
    while let Some(layer) = layers.next() {
        packed.push(match layer {
            Layer::Conv { kh, kw, weights } => CpuLayer::Conv(match Conv::new(kh, kw, &weights) {
                Conv::Winograd(conv) => match layers.next_if(|l| matches!(l, Layer::Conv { kh: 1, kw: 1, .. })) {
                    Some(Layer::Conv { weights: next, .. }) => Conv::winograd_pointwise(conv, &next),
                    _ => Conv::Winograd(conv),
                },
                conv => conv,
            }),
            Layer::Pool { size, stride, padding } => CpuLayer::Pool { size, stride, padding },
            Layer::Dense(weights) => CpuLayer::Dense(Dense::new(&weights)),
        });
    }
    packed
}

/// The two tensors that the layers of a network write in turn, kept between calls so that running a network
/// allocates nothing once they have grown to its sizes.
#[derive(Debug, Default)]
pub(crate) struct Activations([Tensor; 2]);

/// Runs `layers` (at least one) on the NHWC batch `x`; returns the last layer's output, which lives in `act`. A
/// dense layer leaves `n` rows of its width, as an n×1×1×width tensor. (The networks' first layers have kernels
/// of their own, see `CpuNets`; the GPU parity tests run single layers.)
#[cfg(all(test, feature = "gpu"))]
pub(crate) fn forward<'t>(layers: &[CpuLayer], x: &Tensor, act: &'t mut Activations) -> &'t Tensor {
    run(layers, Some(x), act)
}

/// Runs `layers` (at least one) on `x`, or without `x` on what an earlier layer left in `act`'s second buffer.
fn run<'t>(layers: &[CpuLayer], x: Option<&Tensor>, act: &'t mut Activations) -> &'t Tensor {
    debug_assert!(!layers.is_empty());
    let [first, second] = &mut act.0;
    for (i, layer) in layers.iter().enumerate() {
        // Layer i writes buffer i % 2 and reads the other one (or `x`, for layer 0).
        let (input, output) = match i % 2 {
            0 => (&*second, &mut *first),
            _ => (&*first, &mut *second),
        };
        let input = match x {
            Some(x) if i == 0 => x,
            _ => input,
        };
        match layer {
            CpuLayer::Conv(conv) => conv.forward(input, output),
            CpuLayer::Pool { size, stride, padding } => max_pool(input, *size, *stride, *padding, output),
            CpuLayer::Dense(dense) => dense.forward(input, output),
        }
    }
    &act.0[(layers.len() - 1) % 2]
}

/// The three networks on the CPU. Inputs are normalised pixels `(v − 127.5) / 128`, HWC (NHWC for batches),
/// except inside the crate, where P-Net's levels come row-planar (see `pnet_forward`).
#[derive(Clone, Debug)]
pub struct CpuNets {
    /// P-Net's first convolution and its pool, on row-planar input.
    pnet_first: PlanarConvPool2,
    /// P-Net's other layers.
    pnet: Vec<CpuLayer>,
    /// R-Net's and O-Net's first convolution and its pool, crop by crop, and their other layers.
    rnet_first: CropConvPool,
    rnet: Vec<CpuLayer>,
    onet_first: CropConvPool,
    onet: Vec<CpuLayer>,
}

impl CpuNets {
    /// Packs checked weights for the CPU kernels.
    pub fn new(w: &Weights) -> Self {
        let mut pnet = netdef::pnet(w);
        // P-Net begins with a convolution and a 2×2, stride-2 max-pool (netdef.rs): they run as one layer.
        let pnet_first = match pnet.drain(..2).as_slice() {
            [Layer::Conv { kh, kw, weights }, Layer::Pool {
                size: 2,
                stride: 2,
                padding,
            }] => PlanarConvPool2::new(*kh, *kw, weights, *padding),
            _ => unreachable!("P-Net's definition begins with a convolution and a 2×2 max-pool"),
        };
        let (mut rnet, mut onet) = (netdef::rnet(w), netdef::onet(w));
        CpuNets {
            pnet_first,
            pnet: cpu_layers(pnet),
            rnet_first: first_crop_layer(&mut rnet),
            rnet: cpu_layers(rnet),
            onet_first: first_crop_layer(&mut onet),
            onet: cpu_layers(onet),
        }
    }

    /// P-Net on one `height`×`width` HWC input (`input.len() == height·width·3`).
    pub fn pnet(&self, input: &[f32], height: usize, width: usize) -> Result<PnetMaps> {
        check_len("pnet input", input.len(), height * width * 3)?;
        check_finite("pnet input", input)?;
        let x = row_planar(&Tensor::from_vec(1, height, width, 3, input.to_vec()));
        let mut act = Activations::default();
        let out = self.pnet_forward(&x, &mut act);
        let cells = out.h * out.w;
        let mut maps = PnetMaps {
            height: out.h,
            width: out.w,
            face_prob: Vec::with_capacity(cells),
            bbox_reg: Vec::with_capacity(cells * 4),
        };
        for cell in out.data().chunks_exact(PNET_HEADS) {
            maps.bbox_reg.extend_from_slice(&cell[..4]);
            maps.face_prob.push(face_probability(cell[4], cell[5]));
        }
        Ok(maps)
    }

    /// P-Net's heads map (`PNET_HEADS` values a cell: box regression, face logits) for a 1×H×W×3 input laid out
    /// row-planar ([`Layout::RowPlanar`](super::resize::Layout::RowPlanar)), as the CPU's pyramid makes it.
    pub(crate) fn pnet_forward<'t>(&self, x: &Tensor, act: &'t mut Activations) -> &'t Tensor {
        // The first layer writes the second buffer, where `run` looks for its input.
        self.pnet_first.forward(x, &mut act.0[1]);
        run(&self.pnet, None, act)
    }

    /// R-Net on `n` 24×24 HWC inputs, `n·24·24·3` values.
    pub fn rnet(&self, inputs: &[f32]) -> Result<Vec<RnetOutput>> {
        let patch = 24 * 24 * 3;
        check_multiple("rnet input", inputs.len(), patch)?;
        check_finite("rnet input", inputs)?;
        Ok(inputs
            .par_chunks(patch * CROP_BATCH)
            .flat_map_iter(|batch| {
                let x = Tensor::from_vec(batch.len() / patch, 24, 24, 3, batch.to_vec());
                let mut act = Activations::default();
                let rows = self.rnet_forward(&x, &mut act).data();
                rows.chunks_exact(RNET_HEADS).map(rnet_output).collect::<Vec<_>>()
            })
            .collect())
    }

    /// R-Net's heads rows (`RNET_HEADS` values each) for an n×24×24×3 batch.
    pub(crate) fn rnet_forward<'t>(&self, x: &Tensor, act: &'t mut Activations) -> &'t Tensor {
        // The first layer writes the second buffer, where `run` looks for its input.
        self.rnet_first.forward(x, &mut act.0[1]);
        run(&self.rnet, None, act)
    }

    /// O-Net on `n` 48×48 HWC inputs, `n·48·48·3` values.
    pub fn onet(&self, inputs: &[f32]) -> Result<Vec<OnetOutput>> {
        let patch = 48 * 48 * 3;
        check_multiple("onet input", inputs.len(), patch)?;
        check_finite("onet input", inputs)?;
        Ok(inputs
            .par_chunks(patch * CROP_BATCH)
            .flat_map_iter(|batch| {
                let x = Tensor::from_vec(batch.len() / patch, 48, 48, 3, batch.to_vec());
                let mut act = Activations::default();
                let rows = self.onet_forward(&x, &mut act).data();
                rows.chunks_exact(ONET_HEADS).map(onet_output).collect::<Vec<_>>()
            })
            .collect())
    }

    /// O-Net's heads rows (`ONET_HEADS` values each) for an n×48×48×3 batch.
    pub(crate) fn onet_forward<'t>(&self, x: &Tensor, act: &'t mut Activations) -> &'t Tensor {
        self.onet_first.forward(x, &mut act.0[1]);
        run(&self.onet, None, act)
    }
}

/// Takes a crop network's first two layers, a convolution and a max-pool, as one layer.
fn first_crop_layer(layers: &mut Vec<Layer>) -> CropConvPool {
    match layers.drain(..2).as_slice() {
        [Layer::Conv { kh, kw, weights }, Layer::Pool { size, stride, padding }] => CropConvPool::new(
            *kh,
            *kw,
            weights,
            Pool {
                size: *size,
                stride: *stride,
                padding: *padding,
            },
        ),
        _ => unreachable!("R-Net's and O-Net's definitions begin with a convolution and a max-pool"),
    }
}

/// One R-Net heads row: box regression (4), face logits (2).
pub(crate) fn rnet_output(o: &[f32]) -> RnetOutput {
    RnetOutput {
        face_prob: face_probability(o[4], o[5]),
        bbox_reg: [o[0], o[1], o[2], o[3]],
    }
}

/// One O-Net heads row: box regression (4), landmarks (10), face logits (2).
pub(crate) fn onet_output(o: &[f32]) -> OnetOutput {
    let mut landmarks = [0.0; 10];
    landmarks.copy_from_slice(&o[4..14]);
    OnetOutput {
        face_prob: face_probability(o[14], o[15]),
        bbox_reg: [o[0], o[1], o[2], o[3]],
        landmarks,
    }
}

/// NaN or infinity would flow through every layer into the scores and boxes: refused up front.
fn check_finite(what: &'static str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFiniteInput {
            what,
            index,
            value: values[index],
        }),
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
    if found.is_multiple_of(unit) {
        Ok(())
    } else {
        Err(Error::InputSize {
            what,
            expected: format!("a multiple of {unit}"),
            found,
        })
    }
}
