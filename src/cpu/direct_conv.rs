//! The convolutions' kernel: GEMM-style register tiles (4 neighbouring output pixels of a row × 16 output
//! channels) fed straight from the input tensor. At one kernel tap the patches of neighbouring pixels are one
//! contiguous run of the input row, so there is no im2col copy and no packed copy of the left operand: each input
//! value is read where it lies, broadcast, and multiplied into 16 channels. The weights are the layer's packed
//! `[kh·kw·cin, cout]` matrix, rows in (ky, kx, c) order as the HWIO kernel has them.

use multiversion::multiversion;
use multiversion::target::target_cfg_f;

use super::gemm::{store, Epilogue, PackedMatrix, PANEL};

/// Output pixels per register tile: 4 × 16 accumulators, the tap's 16 weights and a broadcast input take 11 of
/// AVX2's 16 registers. (With 6 or 5 pixels, LLVM reloads the weights for every FMA instead of keeping them in
/// registers, and the loop runs at the speed of the loads: 40 % slower, measured.)
const PIXELS: usize = 4;

/// The shape of a valid, stride-1 convolution over one image row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowShape {
    pub kh: usize,
    pub kw: usize,
    pub cin: usize,
    /// Input row length in pixels; the output row has `in_w − kw + 1`.
    pub in_w: usize,
}

/// Computes one output row: `input` holds the `kh` input rows it reads (`kh · in_w · cin` values), `dst` the
/// row's `out_w × cout` outputs, which pass through `epilogue`. The lengths are the caller's invariant.
#[multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub(crate) fn conv_row(input: &[f32], shape: RowShape, b: &PackedMatrix, dst: &mut [f32], epilogue: Epilogue<'_>) {
    // A fused multiply-add where the hardware has one, as in the GEMM.
    if target_cfg_f!(target_feature = "fma") || cfg!(target_arch = "aarch64") {
        row_by_tiles::<true>(input, shape, b, dst, epilogue)
    } else {
        row_by_tiles::<false>(input, shape, b, dst, epilogue)
    }
}

/// Walks the panels of 16 output channels, and in each the row 4 pixels at a time: one panel's weights (at
/// most 576 × 16 floats) stay in cache while the row passes.
#[inline(always)]
fn row_by_tiles<const FUSED: bool>(
    input: &[f32],
    shape: RowShape,
    b: &PackedMatrix,
    dst: &mut [f32],
    epilogue: Epilogue<'_>,
) {
    let (n, out_w) = (b.n(), (shape.in_w + 1).saturating_sub(shape.kw));
    debug_assert_eq!(b.k(), shape.kh * shape.kw * shape.cin);
    debug_assert!(input.len() >= shape.kh * shape.in_w * shape.cin);
    debug_assert_eq!(dst.len(), out_w * n);
    for (p, panel) in b.panels().enumerate() {
        let first = p * PANEL;
        let width = PANEL.min(n - first);
        for x0 in (0..out_w).step_by(PIXELS) {
            // The last tile of a row at least 4 wide ends at the row's end, overlapping the one before: its
            // pixels come out bit for bit the same (each pixel's sum runs in the same order in any tile), at full
            // speed, where a 1- to 3-pixel tile would run at a quarter of it.
            let x0 = if out_w >= PIXELS { x0.min(out_w - PIXELS) } else { x0 };
            let tile = Tile {
                input,
                shape,
                panel,
                x0,
            };
            let out = &mut dst[x0 * n + first..];
            match out_w - x0 {
                1 => store(&tile.accumulate::<1, FUSED>(), out, n, width, first, epilogue),
                2 => store(&tile.accumulate::<2, FUSED>(), out, n, width, first, epilogue),
                3 => store(&tile.accumulate::<3, FUSED>(), out, n, width, first, epilogue),
                _ => store(&tile.accumulate::<PIXELS, FUSED>(), out, n, width, first, epilogue),
            }
        }
    }
}

/// The output pixels from column `x0` against one panel of weights.
struct Tile<'a> {
    input: &'a [f32],
    shape: RowShape,
    panel: &'a [[f32; PANEL]],
    x0: usize,
}

impl Tile<'_> {
    /// The `R` pixels' sums over every tap and input channel. Along a kernel row the taps' inputs are contiguous
    /// too (kx·cin + c), so each kernel row is one run of `kw·cin` values a pixel, the pixels `cin` apart.
    #[inline(always)]
    fn accumulate<const R: usize, const FUSED: bool>(&self) -> [[f32; PANEL]; R] {
        let RowShape { kh, kw, cin, in_w } = self.shape;
        let span = kw * cin;
        let mut acc = [[0.0f32; PANEL]; R];
        for ky in 0..kh {
            let start = (ky * in_w + self.x0) * cin;
            let run = &self.input[start..start + (R - 1) * cin + span];
            let weights = &self.panel[ky * span..][..span];
            kernel_row::<R, PANEL, FUSED>(&mut acc, run, cin, weights);
        }
        acc
    }
}

/// Adds one kernel row to `acc` (by reference: an array returned by value is copied with a memcpy call): pixel
/// `r`'s `kw·cin` inputs start at `run[r·stride]`, and `weights` holds the row's `kw·cin` rows of the panel, of
/// which the first `C` columns are used (all 16, or 8 for the GEMM's narrow product). Slices of equal, known
/// length, so the loop has no bounds checks and its column loop becomes vector FMAs with the accumulators in
/// registers.
#[inline(always)]
pub(crate) fn kernel_row<const R: usize, const C: usize, const FUSED: bool>(
    acc: &mut [[f32; C]; R],
    run: &[f32],
    stride: usize,
    weights: &[[f32; PANEL]],
) {
    let span = weights.len();
    let pixels: [&[f32]; R] = std::array::from_fn(|r| &run[r * stride..][..span]);
    for (i, w) in weights.iter().enumerate() {
        for r in 0..R {
            let x = pixels[r][i];
            for j in 0..C {
                acc[r][j] = if FUSED {
                    x.mul_add(w[j], acc[r][j])
                } else {
                    x * w[j] + acc[r][j]
                };
            }
        }
    }
}
