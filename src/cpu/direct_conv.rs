//! The convolutions' kernel: GEMM-style register tiles (4 neighbouring output pixels of a row × 16 output
//! channels, or 6 × 32 with AVX-512) fed straight from the input tensor. At one kernel tap the patches of
//! neighbouring pixels are one contiguous run of the input row, so there is no im2col copy and no packed copy of
//! the left operand: each input value is read where it lies, broadcast, and multiplied into 16 or 32 channels.
//! The weights are the layer's packed `[kh·kw·cin, cout]` matrix, rows in (ky, kx, c) order as the HWIO kernel
//! has them. Every output sums its taps in that order, one multiply-add chain from zero, whatever the tile, so
//! the AVX2, AVX-512 and NEON versions give the same bits.

use multiversion::multiversion;
use multiversion::target::target_cfg_f;

use super::gemm::{store_row, Epilogue, PackedMatrix, PANEL};

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
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub(crate) fn conv_row(input: &[f32], shape: RowShape, b: &PackedMatrix, dst: &mut [f32], epilogue: Epilogue<'_>) {
    // A fused multiply-add where the hardware has one, as in the GEMM; the register tile that suits the target.
    if target_cfg_f!(target_feature = "avx512f") {
        row_by_tiles::<WIDE_PIXELS, 2, { 2 * WIDE_PIXELS }, true>(input, shape, b, dst, epilogue)
    } else if target_cfg_f!(target_feature = "fma") || cfg!(target_arch = "aarch64") {
        row_by_tiles::<PIXELS, 1, PIXELS, true>(input, shape, b, dst, epilogue)
    } else {
        row_by_tiles::<PIXELS, 1, PIXELS, false>(input, shape, b, dst, epilogue)
    }
}

/// Output pixels per register tile with AVX2 or NEON: 4 × 16 accumulators, the tap's 16 weights and a broadcast
/// input take 11 of AVX2's 16 registers. (With 6 or 5 pixels, LLVM reloads the weights for every FMA instead of
/// keeping them in registers, and the loop runs at the speed of the loads: 40 % slower, measured.)
const PIXELS: usize = 4;
/// Output pixels per register tile with AVX-512, against two panels (32 channels): 12 of its 32 registers
/// accumulate, enough independent sums to keep both 512-bit FMA units busy through their 4-cycle latency.
const WIDE_PIXELS: usize = 6;

/// Walks the panels of 16 output channels `P` at a time, and in each group the row `R` pixels at a time (the
/// panels left over one at a time, `R1` pixels at a time): a group's weights (at most 576 × 16 floats a panel)
/// stay in cache while the row passes.
#[inline(always)]
fn row_by_tiles<const R: usize, const P: usize, const R1: usize, const FUSED: bool>(
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
    let grouped = b.panel_count() / P * P;
    for first_panel in (0..grouped).step_by(P) {
        row_of_panels::<R, P, FUSED>(input, shape, b, first_panel, dst, epilogue);
    }
    for panel in grouped..b.panel_count() {
        row_of_panels::<R1, 1, FUSED>(input, shape, b, panel, dst, epilogue);
    }
}

/// One row against panels `first_panel .. first_panel + P`, `R` pixels at a time.
#[inline(always)]
fn row_of_panels<const R: usize, const P: usize, const FUSED: bool>(
    input: &[f32],
    shape: RowShape,
    b: &PackedMatrix,
    first_panel: usize,
    dst: &mut [f32],
    epilogue: Epilogue<'_>,
) {
    let (n, out_w) = (b.n(), (shape.in_w + 1).saturating_sub(shape.kw));
    let panels: [&[[f32; PANEL]]; P] = std::array::from_fn(|p| b.panel(first_panel + p));
    let tile = |x0| Tile {
        input,
        shape,
        panels,
        x0,
    };
    if out_w < R {
        // A row narrower than a tile (the 3 pixels of R-Net's and O-Net's 2×2 layers, P-Net's smallest levels):
        // overlapping tiles of 4, or one tile of its width.
        match out_w {
            0 => {}
            1 => store_panels(&tile(0).accumulate::<1, FUSED>(), dst, n, first_panel, epilogue),
            2 => store_panels(&tile(0).accumulate::<2, FUSED>(), dst, n, first_panel, epilogue),
            3 => store_panels(&tile(0).accumulate::<3, FUSED>(), dst, n, first_panel, epilogue),
            _ => {
                for x0 in (0..out_w).step_by(4) {
                    let x0 = x0.min(out_w - 4);
                    store_panels(
                        &tile(x0).accumulate::<4, FUSED>(),
                        &mut dst[x0 * n..],
                        n,
                        first_panel,
                        epilogue,
                    );
                }
            }
        }
        return;
    }
    for x0 in (0..out_w).step_by(R) {
        // The last tile ends at the row's end, overlapping the one before: its pixels come out bit for bit the
        // same (each pixel's sum runs in the same order in any tile), at full speed.
        let x0 = x0.min(out_w - R);
        store_panels(
            &tile(x0).accumulate::<R, FUSED>(),
            &mut dst[x0 * n..],
            n,
            first_panel,
            epilogue,
        );
    }
}

/// Stores `R` pixels' sums over `P` panels from `first_panel` (whose columns past `n` are padding).
#[inline(always)]
fn store_panels<const R: usize, const P: usize>(
    acc: &[[[f32; PANEL]; P]; R],
    out: &mut [f32],
    n: usize,
    first_panel: usize,
    epilogue: Epilogue<'_>,
) {
    for (r, acc) in acc.iter().enumerate() {
        for (p, acc) in acc.iter().enumerate() {
            let first = (first_panel + p) * PANEL;
            store_row(acc, &mut out[r * n + first..], PANEL.min(n - first), first, epilogue);
        }
    }
}

/// The output pixels from column `x0` against `P` panels of weights.
struct Tile<'a, const P: usize> {
    input: &'a [f32],
    shape: RowShape,
    panels: [&'a [[f32; PANEL]]; P],
    x0: usize,
}

impl<const P: usize> Tile<'_, P> {
    /// The `R` pixels' sums over every tap and input channel. Along a kernel row the taps' inputs are contiguous
    /// too (kx·cin + c), so each kernel row is one run of `kw·cin` values a pixel, the pixels `cin` apart.
    #[inline(always)]
    fn accumulate<const R: usize, const FUSED: bool>(&self) -> [[[f32; PANEL]; P]; R] {
        let RowShape { kh, kw, cin, in_w } = self.shape;
        let span = kw * cin;
        let mut acc = [[[0.0f32; PANEL]; P]; R];
        for ky in 0..kh {
            let start = (ky * in_w + self.x0) * cin;
            let run = &self.input[start..start + (R - 1) * cin + span];
            let weights = self.panels.map(|panel| &panel[ky * span..][..span]);
            kernel_rows::<R, P, PANEL, FUSED>(&mut acc, run, cin, weights);
        }
        acc
    }
}

/// Adds one kernel row to `acc` (by reference: an array returned by value is copied with a memcpy call): pixel
/// `r`'s `kw·cin` inputs start at `run[r·stride]`, and each of the `P` panels holds the row's `kw·cin` rows of
/// weights, of which the first `C` columns are used (all 16, or 8 for the GEMM's narrow product). Each input
/// value, broadcast once, feeds `P × C` sums; each sum is one multiply-add chain in the weights' order, whatever
/// `R` and `P`, so every tile gives the same bits. Slices of equal, known length, so the loop has no bounds
/// checks and its column loop becomes vector FMAs with the accumulators in registers.
#[inline(always)]
pub(crate) fn kernel_rows<const R: usize, const P: usize, const C: usize, const FUSED: bool>(
    acc: &mut [[[f32; C]; P]; R],
    run: &[f32],
    stride: usize,
    panels: [&[[f32; PANEL]]; P],
) {
    let span = panels[0].len();
    let pixels: [&[f32]; R] = std::array::from_fn(|r| &run[r * stride..][..span]);
    let panels = panels.map(|panel| &panel[..span]);
    for i in 0..span {
        let w: [&[f32; PANEL]; P] = std::array::from_fn(|p| &panels[p][i]);
        for r in 0..R {
            let x = pixels[r][i];
            for p in 0..P {
                for j in 0..C {
                    acc[r][p][j] = if FUSED {
                        x.mul_add(w[p][j], acc[r][p][j])
                    } else {
                        x * w[p][j] + acc[r][p][j]
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tensor::{bits, patterned_values};
    use crate::netdef::Weighted;

    /// One output row by the register tile `(R, P, R1)`.
    fn row<const R: usize, const P: usize, const R1: usize, const FUSED: bool>(
        input: &[f32],
        shape: RowShape,
        w: &Weighted,
        packed: &PackedMatrix,
    ) -> Vec<f32> {
        let out_w = shape.in_w + 1 - shape.kw;
        let mut dst = vec![f32::NAN; out_w * w.cout];
        let epilogue = Epilogue {
            bias: &w.bias,
            alpha: w.alpha.as_deref(),
        };
        row_by_tiles::<R, P, R1, FUSED>(input, shape, packed, &mut dst, epilogue);
        dst
    }

    #[test]
    fn every_register_tile_gives_the_same_bits_and_the_float64_sums() {
        // The networks' direct layers (P-Net's 10 → 16, the 2×2 layers on 3-pixel rows) and their 3-channel first
        // layers (the planar kernels' tests compare against this kernel), and rows narrower than, equal to and
        // wider than each tile; one, two, three and four panels (the odd one goes alone in the two-panel tiling).
        for (kh, kw, cin, cout) in [
            (3, 3, 3, 28),
            (3, 3, 3, 32),
            (3, 3, 10, 16),
            (2, 2, 48, 64),
            (2, 2, 64, 48),
        ] {
            for out_w in [1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 22, 46] {
                let shape = RowShape {
                    kh,
                    kw,
                    cin,
                    in_w: out_w + kw - 1,
                };
                let input = patterned_values(kh * shape.in_w * cin);
                let bias = (0..cout).map(|o| o as f32 * 0.01 - 0.1).collect();
                let alpha = Some((0..cout).map(|o| 0.1 + o as f32 * 0.01).collect());
                let w = Weighted::patterned(kh * kw, cin, cout, bias, alpha);
                let packed = PackedMatrix::new(&w.kernel, kh * kw * cin, cout);
                let narrow = row::<PIXELS, 1, PIXELS, false>(&input, shape, &w, &packed);
                let wide = row::<WIDE_PIXELS, 2, { 2 * WIDE_PIXELS }, false>(&input, shape, &w, &packed);
                let case = format!("{kh}×{kw}×{cin}→{cout}, {out_w} pixels");
                assert_eq!(bits(&narrow), bits(&wide), "{case}");
                if out_w <= 7 {
                    // The fused sums too (a library fmaf here, so only on short rows).
                    let narrow = row::<PIXELS, 1, PIXELS, true>(&input, shape, &w, &packed);
                    let wide = row::<WIDE_PIXELS, 2, { 2 * WIDE_PIXELS }, true>(&input, shape, &w, &packed);
                    assert_eq!(bits(&narrow), bits(&wide), "{case}, fused");
                }
                for (x, out) in narrow.chunks_exact(cout).enumerate() {
                    for (o, &got) in out.iter().enumerate() {
                        let mut sum = f64::from(w.bias[o]);
                        for ky in 0..kh {
                            for t in 0..kw * cin {
                                let v = input[(ky * shape.in_w + x) * cin + t];
                                sum += f64::from(v) * f64::from(w.kernel[(ky * kw * cin + t) * cout + o]);
                            }
                        }
                        let want = if sum > 0.0 { sum } else { sum * (0.1 + o as f64 * 0.01) };
                        assert!(
                            (f64::from(got) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{case}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
