//! P-Net's first layer on a row-planar image (see [`Layout::RowPlanar`]): a convolution over few input channels
//! and the 2×2, stride-2 max-pool after it, with 8 neighbouring output pixels of one channel in each vector.
//!
//! On an HWC image the direct kernel's register tiles span output channels, and P-Net's 10 output channels fill
//! 10 lanes of 16: the layer ran at a third of the others' speed. Here each input load is 8 neighbouring pixels
//! of one channel, one run of a planar row, multiplied into 5 output channels, and every lane works. Each output
//! sums its taps in the direct kernel's order, (ky, kx, c), fused where the hardware fuses, so the results are
//! bit for bit those of the direct kernel and the max-pool on the same image in HWC. The register tile
//! ([`tile`], [`finish_tile`]) serves R-Net's and O-Net's first layers too (`crop_conv.rs`).
//!
//! [`Layout::RowPlanar`]: super::resize::Layout::RowPlanar

use std::cell::RefCell;
use std::sync::atomic::AtomicUsize;

use multiversion::multiversion;
use multiversion::target::target_cfg_f;
use rayon::prelude::*;

use super::gemm::{prelu, Epilogue};
use super::layers::max_row;
use super::tensor::Tensor;
use super::thread_scratch::grow_on_every_thread;
use crate::netdef::{pool_geometry, Padding, Weighted};
use crate::pipeline::workspace::first_n;

/// Pixels a vector.
pub(crate) const LANES: usize = 8;
/// Pixel vectors a register tile: 2 with AVX2 and NEON (5 × 2 accumulators, two inputs and a broadcast weight
/// take 13 of AVX2's 16 registers), 6 with AVX-512, whose 512-bit vectors hold two of them: 15 of its 32
/// registers accumulate, and each tap's 8 loads feed 15 multiply-adds (with 4: 7 loads for 10, and the layer took
/// a fifth longer, by `perf`'s shares on `network_timings`).
const VECTORS: usize = 2;
const WIDE_VECTORS: usize = 6;
/// Output pixels of the widest register tile: the least a row is computed.
const TILE_PIXELS: usize = LANES * WIDE_VECTORS;
/// Output channels a register tile.
const GROUP: usize = 5;
/// Pooled rows a parallel task (at least).
const TASK_ROWS: usize = 2;

thread_local! {
    /// The (at most) two convolution rows under one pooled row, channel by channel, one per rayon worker.
    static CONV_ROWS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The input rows of a convolution row narrower than a tile, copied with zeros to a tile's width.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}
static CONV_ROWS_GROWN: AtomicUsize = AtomicUsize::new(0);
static PADDED_GROWN: AtomicUsize = AtomicUsize::new(0);

/// A valid, stride-1 convolution with bias and optional PReLU, then a 2×2, stride-2 max-pool, from a row-planar
/// batch to an HWC one.
#[derive(Clone, Debug)]
pub(crate) struct PlanarConvPool2 {
    kh: usize,
    kw: usize,
    cin: usize,
    cout: usize,
    grouped: GroupedWeights,
    padding: Padding,
}

/// A layer's parameters for the planar kernels, its output channels padded with zeros to whole groups.
#[derive(Clone, Debug)]
pub(crate) struct GroupedWeights {
    /// The HWIO kernel as `kh·kw·cin` rows of the padded output channels.
    pub weights: Vec<f32>,
    /// Bias and PReLU slopes, padded likewise.
    pub bias: Vec<f32>,
    pub alpha: Option<Vec<f32>>,
}

impl GroupedWeights {
    pub fn new(w: &Weighted, group: usize) -> Self {
        let padded = w.cout.next_multiple_of(group);
        let pad = |values: &[f32]| {
            let mut out = vec![0.0; values.len() / w.cout * padded];
            for (out, row) in out.chunks_exact_mut(padded).zip(values.chunks_exact(w.cout)) {
                out[..w.cout].copy_from_slice(row);
            }
            out
        };
        GroupedWeights {
            weights: pad(&w.kernel),
            bias: pad(&w.bias),
            alpha: w.alpha.as_deref().map(pad),
        }
    }

    /// The padded output channels.
    pub fn channels(&self) -> usize {
        self.bias.len()
    }

    pub fn epilogue(&self) -> Epilogue<'_> {
        Epilogue {
            bias: &self.bias,
            alpha: self.alpha.as_deref(),
        }
    }
}

impl PlanarConvPool2 {
    pub fn new(kh: usize, kw: usize, w: &Weighted, padding: Padding) -> Self {
        PlanarConvPool2 {
            kh,
            kw,
            cin: w.cin,
            cout: w.cout,
            grouped: GroupedWeights::new(w, GROUP),
            padding,
        }
    }

    /// Writes the pooled convolution of the row-planar `x` into `out` (HWC), reshaped to fit; pooled rows
    /// spread across threads.
    pub fn forward(&self, x: &Tensor, out: &mut Tensor) {
        debug_assert_eq!(x.c, self.cin);
        let (ho, wo) = ((x.h + 1).saturating_sub(self.kh), (x.w + 1).saturating_sub(self.kw));
        let (oh, pad_y) = pool_geometry(ho, 2, 2, self.padding);
        let (ow, pad_x) = pool_geometry(wo, 2, 2, self.padding);
        debug_assert_eq!((pad_y, pad_x), (0, 0));
        out.reshape(x.n, oh, ow, self.cout);
        if out.data().is_empty() {
            return;
        }
        // A row narrower than a tile is computed a whole tile wide from a zero-padded copy of its input rows.
        let computed = wo.max(TILE_PIXELS);
        let in_w = computed + self.kw - 1;
        let channels = self.grouped.channels();
        grow_on_every_thread(&CONV_ROWS, &CONV_ROWS_GROWN, 2 * channels * computed);
        if in_w != x.w {
            grow_on_every_thread(&PADDED, &PADDED_GROWN, self.kh * self.cin * in_w);
        }
        let rows_in = self.kh * self.cin * x.w;
        out.data_mut()
            .par_chunks_mut(ow * self.cout)
            .with_min_len(TASK_ROWS)
            .enumerate()
            .for_each(|(row, dst)| {
                let (img, oy) = (row / oh, row % oh);
                let rows = 2.min(ho - 2 * oy);
                CONV_ROWS.with_borrow_mut(|conv| {
                    let conv = first_n(conv, 2 * channels * computed);
                    for (r, conv) in conv.chunks_exact_mut(channels * computed).take(rows).enumerate() {
                        let first = ((img * x.h + 2 * oy + r) * self.cin) * x.w;
                        let input = &x.data()[first..first + rows_in];
                        if in_w == x.w {
                            self.conv_row(input, in_w, conv);
                        } else {
                            PADDED.with_borrow_mut(|padded| {
                                let padded = first_n(padded, self.kh * self.cin * in_w);
                                for (to, from) in padded.chunks_exact_mut(in_w).zip(input.chunks_exact(x.w)) {
                                    to[..x.w].copy_from_slice(from);
                                    to[x.w..].fill(0.0);
                                }
                                self.conv_row(padded, in_w, conv);
                            });
                        }
                    }
                    let (first, second) = conv.split_at_mut(channels * computed);
                    if rows == 2 {
                        max_row(&mut first[..self.cout * computed], &second[..self.cout * computed]);
                    }
                    pool_across_channels(first, second, computed, wo, self.cout, dst);
                });
            });
    }

    /// One convolution row, `conv.len() / channels` pixels wide, channel by channel: `input` holds the `kh`
    /// planar input rows it reads, `in_w` pixels each.
    fn conv_row(&self, input: &[f32], in_w: usize, conv: &mut [f32]) {
        let shape = Shape {
            kh: self.kh,
            kw: self.kw,
            cin: self.cin,
            in_w,
        };
        planar_row(input, shape, &self.grouped.weights, conv, self.grouped.epilogue());
    }
}

/// What a convolution row reads.
#[derive(Clone, Copy)]
struct Shape {
    kh: usize,
    kw: usize,
    cin: usize,
    /// Input row length in pixels.
    in_w: usize,
}

/// Computes one convolution row, `conv.len() / channels` pixels (at least a tile) in every channel of the padded
/// `weights`, with the epilogue.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn planar_row(input: &[f32], shape: Shape, weights: &[f32], conv: &mut [f32], epilogue: Epilogue<'_>) {
    if target_cfg_f!(target_feature = "avx512f") {
        row_by_tiles::<WIDE_VECTORS, true>(input, shape, weights, conv, epilogue);
    } else if target_cfg_f!(target_feature = "fma") || cfg!(target_arch = "aarch64") {
        row_by_tiles::<VECTORS, true>(input, shape, weights, conv, epilogue);
    } else {
        row_by_tiles::<VECTORS, false>(input, shape, weights, conv, epilogue);
    }
}

/// The row in tiles of `V` vectors of pixels × 5 channels.
#[inline(always)]
fn row_by_tiles<const V: usize, const FUSED: bool>(
    input: &[f32],
    shape: Shape,
    weights: &[f32],
    conv: &mut [f32],
    epilogue: Epilogue<'_>,
) {
    let channels = epilogue.bias.len();
    let width = conv.len() / channels;
    let tile_pixels = LANES * V;
    debug_assert!(width >= TILE_PIXELS && shape.in_w >= width + shape.kw - 1);
    let taps = Taps {
        kh: shape.kh,
        kw: shape.kw,
        cin: shape.cin,
        row: shape.cin * shape.in_w,
        channel: shape.in_w,
    };
    for group in (0..channels).step_by(GROUP) {
        for x0 in (0..width).step_by(tile_pixels) {
            // The last tile ends at the row's end, overlapping the one before: its pixels come out the same.
            let x0 = x0.min(width - tile_pixels);
            let sums = tile::<V, GROUP, FUSED>(input, taps, weights, channels, group, x0);
            finish_tile(&sums, epilogue, group, &mut conv[group * width..], width, x0);
        }
    }
}

/// Where a planar kernel's taps read: input `(ky, kx, c)` of output `x` lies at `x + ky·row + c·channel + kx`.
#[derive(Clone, Copy)]
pub(crate) struct Taps {
    pub kh: usize,
    pub kw: usize,
    pub cin: usize,
    pub row: usize,
    pub channel: usize,
}

/// The sums of output channels `group .. group + G` for outputs `x0 .. x0 + 8·V`, taps in (ky, kx, c) order, from
/// `weights`, the HWIO kernel's rows of `channels` (padded) output channels.
#[inline(always)]
pub(crate) fn tile<const V: usize, const G: usize, const FUSED: bool>(
    input: &[f32],
    taps: Taps,
    weights: &[f32],
    channels: usize,
    group: usize,
    x0: usize,
) -> [[[f32; LANES]; V]; G] {
    let Taps {
        kh,
        kw,
        cin,
        row,
        channel,
    } = taps;
    let mut acc = [[[0.0f32; LANES]; V]; G];
    for ky in 0..kh {
        for kx in 0..kw {
            for c in 0..cin {
                // Slices of exactly the array's length: the conversions cannot fail (no fallback is compiled).
                let run: &[[f32; LANES]; V] = input[ky * row + c * channel + x0 + kx..]
                    .as_chunks::<LANES>()
                    .0
                    .first_chunk::<V>()
                    .unwrap_or(&[[0.0; LANES]; V]);
                let w: &[f32; G] = weights[((ky * kw + kx) * cin + c) * channels + group..][..G]
                    .try_into()
                    .unwrap_or(&[0.0; G]);
                for (k, acc) in acc.iter_mut().enumerate() {
                    for (v, acc) in acc.iter_mut().enumerate() {
                        for (l, acc) in acc.iter_mut().enumerate() {
                            let x = run[v][l];
                            *acc = if FUSED { x.mul_add(w[k], *acc) } else { x * w[k] + *acc };
                        }
                    }
                }
            }
        }
    }
    acc
}

/// A tile's sums through bias and PReLU: channel `group + k` into `conv[k·stride + x0 ..]`.
#[inline(always)]
pub(crate) fn finish_tile<const V: usize, const G: usize>(
    sums: &[[[f32; LANES]; V]; G],
    epilogue: Epilogue<'_>,
    group: usize,
    conv: &mut [f32],
    stride: usize,
    x0: usize,
) {
    for (k, sums) in sums.iter().enumerate() {
        let channel = group + k;
        let bias = epilogue.bias[channel];
        let alpha = epilogue.alpha.map(|a| a[channel]);
        let out = &mut conv[k * stride + x0..][..LANES * V];
        for (out, &v) in out.iter_mut().zip(sums.as_flattened()) {
            let y = v + bias;
            *out = match alpha {
                Some(a) => prelu(y, a),
                None => y,
            };
        }
    }
}

/// One pooled row into `dst` (HWC, `cout` channels a pixel) from the column maxima `columns` (channel by
/// channel, `width` computed pixels each, of which the first `wo` are the row's): pooled pixel `ox` takes
/// columns `2·ox` and `2·ox + 1` when it exists. The maximum of every column and the next, all channels in one
/// vector pass into `pairs` (comparisons, not `f32::max`, whose NaN rule costs a compare and a blend a vector:
/// the values are finite, and none is −0, see `crop_conv::window_max`); then each pooled pixel's channels picked
/// side by side, the stores in order. (Pooling eight pixels of a channel at a time and scattering them to their
/// pixels compiled to scalar code.)
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn pool_across_channels(columns: &[f32], pairs: &mut [f32], width: usize, wo: usize, cout: usize, dst: &mut [f32]) {
    let n = cout * width;
    let pairs = &mut pairs[..n - 1];
    for ((p, &a), &b) in pairs.iter_mut().zip(&columns[..n - 1]).zip(&columns[1..n]) {
        *p = if a > b { a } else { b };
    }
    // Pooled pixels whose window has both columns; the last of an odd row has one.
    let both = wo / 2;
    for (ox, pixel) in dst.chunks_exact_mut(cout).enumerate() {
        let from: &[f32] = if ox < both { pairs } else { columns };
        for (channel, v) in pixel.iter_mut().enumerate() {
            *v = from[channel * width + 2 * ox];
        }
    }
}

/// `x` (HWC, one batch of `n` images) with each row's channels one after the other, as [`PlanarConvPool2`] reads
/// it.
pub(crate) fn row_planar(x: &Tensor) -> Tensor {
    let mut out = Tensor::default();
    out.reshape(x.n, x.h, x.w, x.c);
    for (to, from) in out
        .data_mut()
        .chunks_exact_mut(x.w * x.c)
        .zip(x.data().chunks_exact(x.w * x.c))
    {
        for (ch, channel) in to.chunks_exact_mut(x.w).enumerate() {
            for (v, pixel) in channel.iter_mut().zip(from.chunks_exact(x.c)) {
                *v = pixel[ch];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::layers::{max_pool, Conv};
    use crate::cpu::tensor::{bits, patterned_values};

    #[test]
    fn gives_the_direct_kernels_pooled_convolution_bit_for_bit() {
        // Widths below, at and above a tile (16 outputs), odd and even convolution outputs (a one-row or
        // one-column last window), both paddings, a batch of two, with and without PReLU.
        for (n, h, w, padding, prelu) in [
            (1, 9, 12, Padding::Same, true),
            (2, 8, 7, Padding::Same, true),
            (1, 10, 18, Padding::Valid, true),
            (1, 3, 3, Padding::Same, false),
            (1, 13, 41, Padding::Same, true),
            (1, 6, 36, Padding::Same, false),
        ] {
            let (cin, cout) = (3, 10);
            let x = Tensor::patterned(n, h, w, cin);
            let alpha = prelu.then(|| (0..cout).map(|o| 0.1 + o as f32 * 0.03).collect());
            let bias = (0..cout).map(|o| o as f32 * 0.02 - 0.1).collect();
            let weights = Weighted::patterned(9, cin, cout, bias, alpha);
            // The direct kernel on HWC, then the pool.
            let (mut full, mut want) = (Tensor::default(), Tensor::default());
            Conv::new(3, 3, &weights).forward(&x, &mut full);
            max_pool(&full, 2, 2, padding, &mut want);
            let mut got = Tensor::default();
            PlanarConvPool2::new(3, 3, &weights, padding).forward(&row_planar(&x), &mut got);
            assert_eq!((got.n, got.h, got.w, got.c), (want.n, want.h, want.w, want.c));
            assert_eq!(bits(got.data()), bits(want.data()), "{n}×{h}×{w} {padding:?}");
        }
    }

    /// A row's kernel at one tile width.
    type Tiling = fn(&[f32], Shape, &[f32], &mut [f32], Epilogue<'_>);

    #[test]
    fn both_tile_widths_give_the_same_bits() {
        // Rows of one wide tile, of one and a half (the last tile overlaps) and of several, with and without
        // fusing (a library fmaf here).
        let (kh, kw, cin, cout) = (3, 3, 3, 10);
        let bias = (0..cout).map(|o| o as f32 * 0.02 - 0.1).collect();
        let alpha = Some((0..cout).map(|o| 0.1 + o as f32 * 0.03).collect());
        let layer = PlanarConvPool2::new(kh, kw, &Weighted::patterned(9, cin, cout, bias, alpha), Padding::Same);
        let epilogue = layer.grouped.epilogue();
        let channels = layer.grouped.channels();
        for width in [TILE_PIXELS, TILE_PIXELS + 17, 3 * TILE_PIXELS] {
            let shape = Shape {
                kh,
                kw,
                cin,
                in_w: width + kw - 1,
            };
            let input = patterned_values(kh * cin * shape.in_w);
            let row = |tiling: Tiling| {
                let mut conv = vec![f32::NAN; channels * width];
                tiling(&input, shape, &layer.grouped.weights, &mut conv, epilogue);
                conv
            };
            let pairs: [(Tiling, Tiling); 2] = [
                (row_by_tiles::<VECTORS, false>, row_by_tiles::<WIDE_VECTORS, false>),
                (row_by_tiles::<VECTORS, true>, row_by_tiles::<WIDE_VECTORS, true>),
            ];
            for (fused, (narrow, wide)) in pairs.into_iter().enumerate() {
                let (narrow, wide) = (row(narrow), row(wide));
                assert!(narrow.iter().all(|v| v.is_finite()), "every pixel written");
                assert_eq!(bits(&narrow), bits(&wide), "{width} pixels, fused {}", fused == 1);
            }
        }
    }

    #[test]
    fn row_planar_puts_each_rows_channels_one_after_the_other() {
        let x = Tensor::from_vec(1, 2, 2, 3, (0..12).map(|v| v as f32).collect());
        assert_eq!(
            row_planar(&x).data(),
            [0.0, 3.0, 1.0, 4.0, 2.0, 5.0, 6.0, 9.0, 7.0, 10.0, 8.0, 11.0]
        );
    }
}
