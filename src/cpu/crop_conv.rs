//! R-Net's and O-Net's first layer, crop by crop: the convolution over the crop's three channels, with bias and
//! PReLU, and the max-pool after it, with neighbouring output pixels of one channel in each vector.
//!
//! On an HWC crop the direct kernel's register tiles span output channels, and a 3-channel layer gives each tile
//! only 27 multiply-add steps against its setup and its epilogue: R-Net's first layer ran at half the speed of
//! the others. Here each crop is laid out channel by channel (planar) in a per-thread scratch, and the
//! convolution runs over each output plane as one flat run: output `i = y·w + x` reads input `i + ky·w + kx` of
//! every input plane, so the inputs of a run of outputs at one tap are one contiguous run of a plane. The outputs
//! with `x ≥ w − kw + 1` (2 of 24 in a row of R-Net's) wrap into the next row; they are computed and never read.
//! A register tile is 16 outputs (AVX2, NEON) or 48 (AVX-512) of 4 channels; each group of 4 output planes is
//! pooled while it is in the core's nearest cache, and only the pooled pixels go out, HWC. Each output sums its
//! taps in the direct kernel's order, (ky, kx, c), fused where the hardware fuses, so the results are bit for bit
//! those of the direct kernel and the max-pool.

use std::cell::RefCell;
use std::sync::atomic::AtomicUsize;

use multiversion::multiversion;
use multiversion::target::target_cfg_f;
use rayon::prelude::*;

use super::gemm::Epilogue;
use super::planar_conv::{finish_tile, tile, GroupedWeights, Taps, LANES};
use super::tensor::Tensor;
use super::thread_scratch::grow_on_every_thread;
use crate::netdef::{pool_geometry, Padding, Weighted};
use crate::pipeline::workspace::first_n;

/// Pixel vectors a register tile: 2 with AVX2 and NEON (4 × 2 accumulators, two inputs and a broadcast weight
/// take 11 of AVX2's 16 registers), 6 with AVX-512, whose 512-bit vectors hold two of them (12 of its 32
/// registers accumulate, enough to keep both FMA units busy).
const VECTORS: usize = 2;
const WIDE_VECTORS: usize = 6;
/// Outputs of the widest register tile: each plane is computed in whole tiles of it.
const TILE_PIXELS: usize = LANES * WIDE_VECTORS;
/// Output channels a register tile: 28 (R-Net) and 32 (O-Net) are whole groups.
const GROUP: usize = 4;

thread_local! {
    /// One crop's input planes, with room for the reads of the last tile.
    static PLANES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A group of output planes, then the pool's maxima across.
    static CONV: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The pool's maxima down, a plane at a time.
    static DOWN: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}
static PLANES_GROWN: AtomicUsize = AtomicUsize::new(0);
static CONV_GROWN: AtomicUsize = AtomicUsize::new(0);
static DOWN_GROWN: AtomicUsize = AtomicUsize::new(0);

/// A valid, stride-1 convolution with bias and optional PReLU, then a max-pool, from an HWC batch to an HWC one.
#[derive(Clone, Debug)]
pub(crate) struct CropConvPool {
    kh: usize,
    kw: usize,
    cin: usize,
    cout: usize,
    grouped: GroupedWeights,
    pool: Pool,
}

/// A square max-pool window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pool {
    pub size: usize,
    pub stride: usize,
    pub padding: Padding,
}

/// The sizes of one crop's planes, and where they lie in the scratch.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    kh: usize,
    kw: usize,
    cin: usize,
    /// Input rows and columns; every plane, input or output, has rows of `w`.
    h: usize,
    w: usize,
    /// Convolution rows and columns.
    ho: usize,
    wo: usize,
    /// Outputs computed a plane: the flat run of `ho` rows of `w`, in whole tiles.
    computed: usize,
    /// Distance between output planes: at least `computed`, with room for the rows of `−∞` below the
    /// convolution's that the pool's last windows reach into.
    plane: usize,
    pool: Pool,
    /// Pooled rows and columns, and the padding before the first window (rows, columns).
    oh: usize,
    ow: usize,
    pad_y: usize,
    pad_x: usize,
}

impl Geometry {
    fn new(kh: usize, kw: usize, cin: usize, (h, w): (usize, usize), pool: Pool) -> Self {
        let (ho, wo) = ((h + 1).saturating_sub(kh), (w + 1).saturating_sub(kw));
        let (oh, pad_y) = pool_geometry(ho, pool.size, pool.stride, pool.padding);
        let (ow, pad_x) = pool_geometry(wo, pool.size, pool.stride, pool.padding);
        let computed = (ho * w).next_multiple_of(TILE_PIXELS);
        Geometry {
            kh,
            kw,
            cin,
            h,
            w,
            ho,
            wo,
            computed,
            plane: computed.max((ho + pool.size) * w),
            pool,
            oh,
            ow,
            pad_y,
            pad_x,
        }
    }

    /// Input values the convolution reads: the planes, and past the last one up to the last tile's last tap.
    fn input_len(&self) -> usize {
        (self.cin - 1) * self.h * self.w + (self.kh - 1) * self.w + self.kw - 1 + self.computed
    }

    /// Whether every pool window starts inside the convolution's rows and columns, and ends no further right
    /// than the row's wrapped columns (the vector passes of [`pool_group`]); otherwise window by window.
    fn pools_flat(&self) -> bool {
        let Pool { size, stride, .. } = self.pool;
        self.pad_y == 0 && self.pad_x == 0 && (self.ow - 1) * stride + size <= self.w
    }
}

impl CropConvPool {
    pub fn new(kh: usize, kw: usize, w: &Weighted, pool: Pool) -> Self {
        CropConvPool {
            kh,
            kw,
            cin: w.cin,
            cout: w.cout,
            grouped: GroupedWeights::new(w, GROUP),
            pool,
        }
    }

    /// Writes the pooled convolution of the HWC batch `x` into `out` (HWC), reshaped to fit; crops spread across
    /// threads.
    pub fn forward(&self, x: &Tensor, out: &mut Tensor) {
        debug_assert_eq!(x.c, self.cin);
        let g = Geometry::new(self.kh, self.kw, self.cin, (x.h, x.w), self.pool);
        out.reshape(x.n, g.oh, g.ow, self.cout);
        if out.data().is_empty() {
            return;
        }
        grow_on_every_thread(&PLANES, &PLANES_GROWN, g.input_len());
        grow_on_every_thread(&CONV, &CONV_GROWN, GROUP * g.plane);
        grow_on_every_thread(&DOWN, &DOWN_GROWN, g.oh * g.w);
        out.data_mut()
            .par_chunks_mut(g.oh * g.ow * self.cout)
            .zip(x.data().par_chunks(x.h * x.w * self.cin))
            .for_each(|(dst, crop)| {
                PLANES.with_borrow_mut(|input| {
                    CONV.with_borrow_mut(|conv| {
                        DOWN.with_borrow_mut(|down| {
                            let scratch = Scratch {
                                input: first_n(input, g.input_len()),
                                conv: first_n(conv, GROUP * g.plane),
                                down: first_n(down, g.oh * g.w),
                            };
                            self.crop(crop, g, scratch, dst);
                        })
                    })
                })
            });
    }

    /// One crop: its planes; the convolution a group of channels at a time, each group pooled into `dst` while its
    /// planes are in the core's nearest cache.
    fn crop(&self, crop: &[f32], g: Geometry, scratch: Scratch<'_>, dst: &mut [f32]) {
        let Scratch { input, conv, down } = scratch;
        let (planes, slack) = input.split_at_mut(self.cin * g.h * g.w);
        to_planes(crop, self.cin, planes);
        // The wrapped outputs of the last plane read this: any finite value will do.
        slack.fill(0.0);
        let epilogue = self.grouped.epilogue();
        for group in (0..self.cout).step_by(GROUP) {
            conv_group(input, g, &self.grouped.weights, group, conv, epilogue);
            let channels = GROUP.min(self.cout - group);
            let conv = &mut conv[..channels * g.plane];
            if g.pools_flat() {
                pool_group(conv, g, down, (group, self.cout), dst);
            } else {
                pool_windows(conv, g, (group, self.cout), dst);
            }
        }
    }
}

/// One crop's scratch, from the thread's buffers.
struct Scratch<'a> {
    /// The input planes (at least [`Geometry::input_len`]).
    input: &'a mut [f32],
    /// A group's output planes ([`GROUP`] planes of [`Geometry::plane`]), then their maxima across.
    conv: &'a mut [f32],
    /// The maxima down, one row of `w` for each pooled row.
    down: &'a mut [f32],
}

/// `crop` (HWC, `cin` channels) channel by channel into `planes`.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn to_planes(crop: &[f32], cin: usize, planes: &mut [f32]) {
    if cin == 3 {
        // Three channels known at compile time: one bounds check a pixel.
        let (r, gb) = planes.split_at_mut(planes.len() / 3);
        let (g, b) = gb.split_at_mut(r.len());
        for (((r, g), b), pixel) in r.iter_mut().zip(g).zip(b).zip(crop.chunks_exact(3)) {
            (*r, *g, *b) = (pixel[0], pixel[1], pixel[2]);
        }
    } else {
        for (ch, plane) in planes.chunks_exact_mut(crop.len() / cin).enumerate() {
            for (v, pixel) in plane.iter_mut().zip(crop.chunks_exact(cin)) {
                *v = pixel[ch];
            }
        }
    }
}

/// The output planes of channels `group .. group + GROUP` of the padded `weights` over `input`'s planes, into
/// `conv` one after the other, in whole tiles, with the epilogue.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn conv_group(input: &[f32], g: Geometry, weights: &[f32], group: usize, conv: &mut [f32], epilogue: Epilogue<'_>) {
    if target_cfg_f!(target_feature = "avx512f") {
        group_by_tiles::<WIDE_VECTORS, true>(input, g, weights, group, conv, epilogue);
    } else if target_cfg_f!(target_feature = "fma") || cfg!(target_arch = "aarch64") {
        group_by_tiles::<VECTORS, true>(input, g, weights, group, conv, epilogue);
    } else {
        group_by_tiles::<VECTORS, false>(input, g, weights, group, conv, epilogue);
    }
}

/// A group's output planes in tiles of `V` vectors of pixels.
#[inline(always)]
fn group_by_tiles<const V: usize, const FUSED: bool>(
    input: &[f32],
    g: Geometry,
    weights: &[f32],
    group: usize,
    conv: &mut [f32],
    epilogue: Epilogue<'_>,
) {
    let channels = epilogue.bias.len();
    let tile_pixels = LANES * V;
    debug_assert!(g.computed.is_multiple_of(tile_pixels) && conv.len() >= GROUP * g.plane);
    let taps = Taps {
        kh: g.kh,
        kw: g.kw,
        cin: g.cin,
        row: g.w,
        channel: g.h * g.w,
    };
    for x0 in (0..g.computed).step_by(tile_pixels) {
        let sums = tile::<V, GROUP, FUSED>(input, taps, weights, channels, group, x0);
        finish_tile(&sums, epilogue, group, conv, g.plane, x0);
    }
}

/// The max-pool of a group's output planes `conv` into their channels `first ..` of the HWC pixels `dst`
/// (`cout` channels a pixel), in vector passes a plane at a time: the values outside the convolution (each row's
/// wrapped columns, the rows below) set to `−∞`, the padding's value; the maximum down each pooled row's window
/// rows into `down`, a full row of `w` each; from every value of those rows, the maximum across a window's width,
/// back into the plane. Then each window's maximum picked, the group's channels of a pixel side by side. The
/// pass across computes every column where the pool needs one in `stride`, but in one long, contiguous vector
/// loop. For [`Geometry::pools_flat`] geometries.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn pool_group(conv: &mut [f32], g: Geometry, down: &mut [f32], (first, cout): (usize, usize), dst: &mut [f32]) {
    let Pool { size, stride, .. } = g.pool;
    let w = g.w;
    for plane in conv.chunks_exact_mut(g.plane) {
        let (rows, below) = plane.split_at_mut(g.ho * w);
        for row in rows.chunks_exact_mut(w) {
            row[g.wo..].fill(f32::NEG_INFINITY);
        }
        below.fill(f32::NEG_INFINITY);
        for (oy, down) in down.chunks_exact_mut(w).enumerate() {
            window_max(down, &plane[oy * stride * w..], w, size);
        }
        window_max(&mut plane[..down.len() + 1 - size], down, 1, size);
    }
    let planes: [&[f32]; GROUP] = std::array::from_fn(|k| conv.get(k * g.plane..(k + 1) * g.plane).unwrap_or_default());
    let channels = conv.len() / g.plane;
    for (oy, row) in dst.chunks_exact_mut(g.ow * cout).enumerate() {
        for (ox, pixel) in row.chunks_exact_mut(cout).enumerate() {
            let at = oy * w + ox * stride;
            match pixel[first..].first_chunk_mut::<GROUP>() {
                // A whole group's channels as one array, without a loop of run-time length around each store
                // (that loop was the pool's bottleneck: O-Net on 36 crops 8.4 → 7.6 ms without it).
                Some(out) if channels == GROUP => *out = planes.map(|plane| plane[at]),
                _ => {
                    for (v, plane) in pixel[first..].iter_mut().zip(&planes[..channels]) {
                        *v = plane[at];
                    }
                }
            }
        }
    }
}

/// The max-pool of a group's output planes `conv` into their channels `first ..` of the HWC pixels `dst`, window
/// by window: for the geometries with padding before the first window (odd convolution sizes), which the
/// networks' crops never have.
fn pool_windows(conv: &[f32], g: Geometry, (first, cout): (usize, usize), dst: &mut [f32]) {
    let Pool { size, stride, .. } = g.pool;
    for (channel, plane) in conv.chunks_exact(g.plane).enumerate() {
        for (i, pixel) in dst.chunks_exact_mut(cout).enumerate() {
            let (oy, ox) = (i / g.ow, i % g.ow);
            let rows = (oy * stride).saturating_sub(g.pad_y)..(oy * stride + size - g.pad_y).min(g.ho);
            let columns = (ox * stride).saturating_sub(g.pad_x)..(ox * stride + size - g.pad_x).min(g.wo);
            let out = &mut pixel[first + channel];
            *out = f32::NEG_INFINITY;
            for y in rows {
                for &v in &plane[y * g.w..][columns.clone()] {
                    *out = out.max(v);
                }
            }
        }
    }
}

/// `m[i]` = the maximum of `src[i + k·step]` over `k < size`, for each `i < m.len()`. Out of place, with
/// comparisons rather than `f32::max`, whose NaN rule costs a compare and a blend a vector: the inputs are finite
/// (the detector rejects NaN), and values that compare equal have the same bits (no output is −0: every sum
/// starts from +0, and PReLU adds +0 to its negative part).
/// (An in-place `if v > m { v } else { m }` compiles to masked stores, which stall the loads after them.)
#[inline(always)]
fn window_max(m: &mut [f32], src: &[f32], step: usize, size: usize) {
    let max = |a: f32, b: f32| if a > b { a } else { b };
    let n = m.len();
    let row = |k: usize| &src[k * step..][..n];
    match size {
        0 | 1 => m.copy_from_slice(row(0)),
        2 => {
            for ((m, &a), &b) in m.iter_mut().zip(row(0)).zip(row(1)) {
                *m = max(a, b);
            }
        }
        _ => {
            for (((m, &a), &b), &c) in m.iter_mut().zip(row(0)).zip(row(1)).zip(row(2)) {
                *m = max(max(a, b), c);
            }
            for k in 3..size {
                for (m, &v) in m.iter_mut().zip(row(k)) {
                    *m = m.max(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::layers::{max_pool, Conv};
    use crate::cpu::tensor::{bits, patterned_values};

    fn layer(cout: usize, prelu: bool, pool: Pool) -> (Weighted, CropConvPool) {
        let alpha = prelu.then(|| (0..cout).map(|o| 0.1 + o as f32 * 0.03).collect());
        let bias = (0..cout).map(|o| o as f32 * 0.02 - 0.1).collect();
        let weights = Weighted::patterned(9, 3, cout, bias, alpha);
        let layer = CropConvPool::new(3, 3, &weights, pool);
        (weights, layer)
    }

    #[test]
    fn gives_the_direct_kernels_pooled_convolution_bit_for_bit() {
        // R-Net's and O-Net's first layers; odd convolution sizes (padding before the first window: window by
        // window), both paddings, 2×2 and 3×3 windows, a channel count that leaves a part group, a one-row
        // convolution, batches of one and three, with and without PReLU.
        let same = |size, stride| Pool {
            size,
            stride,
            padding: Padding::Same,
        };
        let valid = |size, stride| Pool {
            size,
            stride,
            padding: Padding::Valid,
        };
        for (n, h, w, cout, pool, prelu) in [
            (3, 24, 24, 28, same(3, 2), true),
            (1, 48, 48, 32, same(3, 2), true),
            (1, 25, 25, 28, same(3, 2), true),
            (2, 13, 10, 10, same(3, 2), false),
            (1, 12, 17, 6, valid(3, 2), true),
            (1, 9, 14, 32, same(2, 2), true),
            (1, 3, 20, 4, same(3, 2), true),
            (1, 5, 6, 28, valid(3, 2), false),
            (1, 4, 20, 12, same(3, 2), true),
        ] {
            let x = Tensor::patterned(n, h, w, 3);
            let (weights, layer) = layer(cout, prelu, pool);
            // The direct kernel on HWC, then the pool.
            let (mut full, mut want) = (Tensor::default(), Tensor::default());
            Conv::new(3, 3, &weights).forward(&x, &mut full);
            max_pool(&full, pool.size, pool.stride, pool.padding, &mut want);
            let mut got = Tensor::default();
            layer.forward(&x, &mut got);
            let case = format!("{n}×{h}×{w} → {cout}, {pool:?}");
            assert_eq!((got.n, got.h, got.w, got.c), (want.n, want.h, want.w, want.c), "{case}");
            assert_eq!(bits(got.data()), bits(want.data()), "{case}");
        }
    }

    /// A group's kernel at one tile width.
    type Tiling = fn(&[f32], Geometry, &[f32], usize, &mut [f32], Epilogue<'_>);

    #[test]
    fn both_tile_widths_give_the_same_bits() {
        // Planes of one wide tile, of several, with and without fusing (a library fmaf here).
        let pool = Pool {
            size: 3,
            stride: 2,
            padding: Padding::Same,
        };
        let (_, layer) = layer(8, true, pool);
        let epilogue = layer.grouped.epilogue();
        for (h, w) in [(3, TILE_PIXELS), (24, 24), (11, 13)] {
            let g = Geometry::new(3, 3, 3, (h, w), pool);
            let input = patterned_values(g.input_len());
            let planes = |tiling: Tiling| {
                let mut conv = vec![f32::NAN; GROUP * g.plane];
                tiling(&input, g, &layer.grouped.weights, GROUP, &mut conv, epilogue);
                conv.chunks_exact(g.plane)
                    .flat_map(|p| p[..g.computed].to_vec())
                    .collect::<Vec<_>>()
            };
            let pairs: [(Tiling, Tiling); 2] = [
                (group_by_tiles::<VECTORS, false>, group_by_tiles::<WIDE_VECTORS, false>),
                (group_by_tiles::<VECTORS, true>, group_by_tiles::<WIDE_VECTORS, true>),
            ];
            for (fused, (narrow, wide)) in pairs.into_iter().enumerate() {
                let (narrow, wide) = (planes(narrow), planes(wide));
                assert!(narrow.iter().all(|v| v.is_finite()), "every output written");
                assert_eq!(bits(&narrow), bits(&wide), "{h}×{w}, fused {}", fused == 1);
            }
        }
    }

    #[test]
    fn to_planes_puts_each_channel_in_a_plane() {
        let crop: Vec<f32> = (0..12).map(|v| v as f32).collect();
        for cin in [3, 2] {
            let mut planes = vec![f32::NAN; 12];
            to_planes(&crop, cin, &mut planes);
            let want: Vec<f32> = (0..cin)
                .flat_map(|c| crop.iter().skip(c).step_by(cin).copied())
                .collect();
            assert_eq!(planes, want, "{cin} channels");
        }
    }
}
