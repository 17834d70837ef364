//! The CPU path's matrix product, `C = A·B + bias`, PReLU fused, with `B` (a layer's weights) packed once at
//! load time. Tiles of 6 rows × 16 columns (× 32 with AVX-512) accumulate in registers; the function is compiled
//! for AVX-512, AVX2 + FMA and NEON as well as the baseline, and the best version the CPU has is chosen at run
//! time (`multiversion`, see `cpu/mod.rs`). It needs no scratch memory, so a detection allocates nothing here.

use multiversion::multiversion;
use multiversion::target::target_cfg_f;

use super::direct_conv::kernel_rows;

/// Columns of `B` per packed panel: two AVX registers, four NEON registers.
pub(crate) const PANEL: usize = 16;
/// Rows of `A` per tile: 6 × 16 accumulators fill 12 of AVX2's 16 registers.
const ROWS: usize = 6;

/// A `[k, n]` row-major matrix stored as `ceil(n / 16)` panels of `k` rows × 16 columns, zero-padded.
#[derive(Clone, Debug)]
pub(crate) struct PackedMatrix {
    k: usize,
    n: usize,
    panels: Vec<f32>,
}

impl PackedMatrix {
    /// Packs `b`, which holds `k·n` values, row-major.
    pub fn new(b: &[f32], k: usize, n: usize) -> Self {
        debug_assert_eq!(b.len(), k * n);
        let mut panels = vec![0.0; n.div_ceil(PANEL) * k * PANEL];
        for (p, panel) in panels.chunks_exact_mut(k * PANEL).enumerate() {
            let (first, width) = (p * PANEL, PANEL.min(n - p * PANEL));
            for (row, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                dst[..width].copy_from_slice(&b[row * n + first..][..width]);
            }
        }
        PackedMatrix { k, n, panels }
    }

    /// Rows of the matrix.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of the matrix.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Panels of 16 columns.
    pub fn panel_count(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    /// Panel `p`: `k` rows of 16 columns.
    pub fn panel(&self, p: usize) -> &[[f32; PANEL]] {
        &self.panels.as_chunks::<PANEL>().0[p * self.k..][..self.k]
    }
}

/// What happens to each output before it is stored: `y = acc + bias`, then PReLU `max(y, 0) + alpha·min(y, 0)`
/// when `alpha` is given (exactly `y` or `alpha·y`: one of the two terms is zero).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epilogue<'a> {
    pub bias: &'a [f32],
    pub alpha: Option<&'a [f32]>,
}

/// `c[m×n] = epilogue(a[m×k] · b)`, `a` and `c` row-major and contiguous. The lengths are the caller's invariant.
pub(crate) fn matmul(a: &[f32], b: &PackedMatrix, c: &mut [f32], epilogue: Epilogue<'_>) {
    let m = c.len() / b.n.max(1);
    debug_assert_eq!(a.len(), m * b.k);
    debug_assert_eq!(c.len(), m * b.n);
    if m > 0 && b.n > 0 {
        product(a, b, c, epilogue);
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn product(a: &[f32], b: &PackedMatrix, c: &mut [f32], epilogue: Epilogue<'_>) {
    // A fused multiply-add where the hardware has one (one rounding, as the sgemm this replaced did); a library
    // call to fmaf would be far slower than the two roundings of a plain multiply and add.
    let fused = target_cfg_f!(target_feature = "fma") || cfg!(target_arch = "aarch64");
    // AVX-512 takes two panels a tile (12 accumulators, enough to keep both FMA units busy).
    let pairs = target_cfg_f!(target_feature = "avx512f");
    match (b.n <= NARROW, fused, pairs) {
        (true, true, _) => narrow_rows::<true>(a, b, c, epilogue),
        (true, false, _) => narrow_rows::<false>(a, b, c, epilogue),
        (false, true, true) => rows_by_tiles::<2, true>(a, b, c, epilogue),
        (false, true, false) => rows_by_tiles::<1, true>(a, b, c, epilogue),
        (false, false, _) => rows_by_tiles::<1, false>(a, b, c, epilogue),
    }
}

/// Columns of the narrow product: one vector of 8.
const NARROW: usize = 8;
/// Rows of `a` per tile of the narrow product: 8 accumulators, a weight vector and a broadcast.
const NARROW_ROWS: usize = 8;

/// The product for at most 8 columns (P-Net's 6 heads, R-Net's): the first 8 columns of the one panel in a vector,
/// 8 rows of `a` at a time, where the 16-column tiles would leave 10 of 16 lanes idle. The sums run in the same
/// order as the tiles' (ascending depth, one multiply-add chain from zero), so the results are the same bits.
#[inline(always)]
fn narrow_rows<const FUSED: bool>(a: &[f32], b: &PackedMatrix, c: &mut [f32], epilogue: Epilogue<'_>) {
    let (k, n) = (b.k, b.n);
    if b.panel_count() == 0 {
        return;
    }
    let panel = b.panel(0);
    let mut rows = a.chunks_exact(NARROW_ROWS * k).zip(c.chunks_exact_mut(NARROW_ROWS * n));
    for (a, c) in &mut rows {
        narrow_tile::<NARROW_ROWS, FUSED>(a, panel, c, n, epilogue);
    }
    let done = a.len() / (NARROW_ROWS * k) * NARROW_ROWS;
    for (a, c) in a[done * k..].chunks_exact(k).zip(c[done * n..].chunks_exact_mut(n)) {
        narrow_tile::<1, FUSED>(a, panel, c, n, epilogue);
    }
}

/// `R` rows of `a` (`k` each) against the panel's first 8 columns, through the epilogue into `R` rows of `n`.
#[inline(always)]
fn narrow_tile<const R: usize, const FUSED: bool>(
    a: &[f32],
    panel: &[[f32; PANEL]],
    c: &mut [f32],
    n: usize,
    epilogue: Epilogue<'_>,
) {
    // The rows of `a` are the "pixels" of the convolutions' kernel row: `k` apart, `k` long.
    let mut acc = [[[0.0f32; NARROW]; 1]; R];
    kernel_rows::<R, 1, NARROW, FUSED>(&mut acc, a, panel.len(), [panel]);
    // The epilogue reads a copy: had `acc` itself been lent to it, LLVM would have stored every sum back after
    // each multiply-add in the loop above (measured: P-Net's heads took 40 % longer).
    let sums = acc;
    for ([acc], dst) in sums.iter().zip(c.chunks_exact_mut(n)) {
        finish(&acc[..n], dst, &epilogue.bias[..n], epilogue.alpha.map(|a| &a[..n]));
    }
}

/// Walks `a` six rows at a time. The packed rows and the accumulators live on the stack for the whole call:
/// initialised once here, not once a tile (for the narrow layers, clearing them per tile cost more than the
/// multiplies).
#[inline(always)]
fn rows_by_tiles<const P: usize, const FUSED: bool>(
    a: &[f32],
    b: &PackedMatrix,
    c: &mut [f32],
    epilogue: Epilogue<'_>,
) {
    let (k, n) = (b.k, b.n);
    let mut packed = [0.0f32; ROWS * DEPTH];
    let mut acc = [[0.0f32; PANEL]; ROWS * PANELS];
    let mut buffers = Buffers {
        packed: &mut packed,
        acc: &mut acc,
    };
    for (rows, out) in a.chunks(ROWS * k).zip(c.chunks_mut(ROWS * n)) {
        match out.len() / n {
            6 => tiles::<6, P, FUSED>(rows, b, out, epilogue, &mut buffers),
            5 => tiles::<5, P, FUSED>(rows, b, out, epilogue, &mut buffers),
            4 => tiles::<4, P, FUSED>(rows, b, out, epilogue, &mut buffers),
            3 => tiles::<3, P, FUSED>(rows, b, out, epilogue, &mut buffers),
            2 => tiles::<2, P, FUSED>(rows, b, out, epilogue, &mut buffers),
            _ => tiles::<1, P, FUSED>(rows, b, out, epilogue, &mut buffers),
        }
    }
}

/// The stack buffers of one product.
struct Buffers<'a> {
    /// Up to `DEPTH` interleaved rows of `a`.
    packed: &'a mut [f32; ROWS * DEPTH],
    /// The accumulators of up to `PANELS` panels.
    acc: &'a mut [[f32; PANEL]; ROWS * PANELS],
}

/// Depth of one packed block of `a`: 6 rows × 256 floats = 6 KiB, which stays in L1 while every panel passes.
const DEPTH: usize = 256;
/// Panels whose accumulators are carried from one depth block to the next (256 columns; wider matrices are
/// done 256 columns at a time).
const PANELS: usize = 16;

/// `R` rows of `a` against every panel of `b`, into `R` rows of `c`. The rows are interleaved depth block by
/// depth block (`[k][R]`), so that the inner loop reads both operands in order and has no bounds checks.
#[inline(always)]
fn tiles<const R: usize, const P: usize, const FUSED: bool>(
    a: &[f32],
    b: &PackedMatrix,
    c: &mut [f32],
    epilogue: Epilogue<'_>,
    buffers: &mut Buffers<'_>,
) {
    let (k, n) = (b.k, b.n);
    let (panels, _) = b.panels.as_chunks::<PANEL>();
    let (packed, _) = buffers.packed.as_chunks_mut::<R>();
    let (acc, _) = buffers.acc.as_chunks_mut::<R>();
    for (group, panels) in panels.chunks(k * PANELS).enumerate() {
        let count = panels.len() / k;
        for start in (0..k).step_by(DEPTH) {
            let depth = DEPTH.min(k - start);
            for (kk, x) in packed[..depth].iter_mut().enumerate() {
                for (r, x) in x.iter_mut().enumerate() {
                    *x = a[r * k + start + kk];
                }
            }
            // `P` panels at a time, the ones left over one at a time.
            let (x, grouped) = (&packed[..depth], count / P * P);
            for (acc, panels) in acc[..grouped].chunks_exact_mut(P).zip(panels.chunks_exact(P * k)) {
                accumulate_into::<R, P, FUSED>(acc, x, panels, start);
            }
            for (acc, panel) in acc[grouped..count]
                .chunks_exact_mut(1)
                .zip(panels.chunks_exact(k).skip(grouped))
            {
                accumulate_into::<R, 1, FUSED>(acc, x, panel, start);
            }
        }
        for (p, acc) in acc[..count].iter().enumerate() {
            let first = (group * PANELS + p) * PANEL;
            store(acc, &mut c[first..], n, PANEL.min(n - first), first, epilogue);
        }
    }
}

/// Adds the rows `start ..` of `Q` consecutive panels (`panels`: `Q·k` rows) times `x` to the accumulators of
/// those panels, which start from zero at the first depth block.
#[inline(always)]
fn accumulate_into<const R: usize, const Q: usize, const FUSED: bool>(
    acc: &mut [[[f32; PANEL]; R]],
    x: &[[f32; R]],
    panels: &[[f32; PANEL]],
    start: usize,
) {
    let k = panels.len() / Q;
    let sums = std::array::from_fn(|q| if start == 0 { [[0.0; PANEL]; R] } else { acc[q] });
    let weights = std::array::from_fn(|q| &panels[q * k + start..][..x.len()]);
    acc[..Q].copy_from_slice(&accumulate::<R, Q, FUSED>(sums, x, weights));
}

/// Adds `a · b` (`a` interleaved `[depth][R]`, `b` `Q` panels' `[depth][16]`) to the accumulators: each value of
/// `a`, broadcast once, feeds `Q × 16` sums, each one multiply-add chain in depth order whatever `Q`. No index and
/// no panic inside, so that the compiler keeps the accumulators in registers and the column loop becomes vector
/// FMAs.
#[inline(always)]
fn accumulate<const R: usize, const Q: usize, const FUSED: bool>(
    mut acc: [[[f32; PANEL]; R]; Q],
    a: &[[f32; R]],
    b: [&[[f32; PANEL]]; Q],
) -> [[[f32; PANEL]; R]; Q] {
    let b = b.map(|b| &b[..a.len()]);
    for (i, x) in a.iter().enumerate() {
        for r in 0..R {
            for q in 0..Q {
                let w = &b[q][i];
                for j in 0..PANEL {
                    acc[q][r][j] = if FUSED {
                        x[r].mul_add(w[j], acc[q][r][j])
                    } else {
                        x[r] * w[j] + acc[q][r][j]
                    };
                }
            }
        }
    }
    acc
}

/// Writes `R` rows of one panel's accumulators (`width` valid columns, from column `first`) through the epilogue
/// into `c`, whose rows are `n` apart.
#[inline(always)]
pub(crate) fn store<const R: usize>(
    acc: &[[f32; PANEL]; R],
    c: &mut [f32],
    n: usize,
    width: usize,
    first: usize,
    epilogue: Epilogue<'_>,
) {
    for (r, acc) in acc.iter().enumerate() {
        store_row(acc, &mut c[r * n..], width, first, epilogue);
    }
}

/// Writes one row of one panel's accumulators (`width` valid columns, from column `first`) through the epilogue
/// into the start of `c`.
#[inline(always)]
pub(crate) fn store_row(acc: &[f32; PANEL], c: &mut [f32], width: usize, first: usize, epilogue: Epilogue<'_>) {
    let bias = &epilogue.bias[first..first + width];
    let alpha = epilogue.alpha.map(|a| &a[first..first + width]);
    let dst = &mut c[..width];
    // A whole panel through fixed-size arrays: vector code. With a run-time width, the AVX-512 build ran this
    // loop as scalar code (perf annotate).
    match (dst.first_chunk_mut::<PANEL>(), bias.first_chunk::<PANEL>()) {
        (Some(dst), Some(bias)) => finish_panel(acc, dst, bias, alpha.and_then(|a| a.first_chunk::<PANEL>())),
        _ => finish(acc, dst, bias, alpha),
    }
}

/// [`finish`] of one whole panel.
#[inline(always)]
fn finish_panel(sums: &[f32; PANEL], dst: &mut [f32; PANEL], bias: &[f32; PANEL], alpha: Option<&[f32; PANEL]>) {
    match alpha {
        Some(alpha) => {
            for j in 0..PANEL {
                dst[j] = prelu(sums[j] + bias[j], alpha[j]);
            }
        }
        None => {
            for j in 0..PANEL {
                dst[j] = sums[j] + bias[j];
            }
        }
    }
}

/// PReLU with slope `alpha`: `max(y, 0) + alpha·min(y, 0)` (exactly `y` or `alpha·y`: one term is zero). Every
/// kernel's epilogue computes it this way, so that they agree bit for bit.
#[inline(always)]
pub(crate) fn prelu(y: f32, alpha: f32) -> f32 {
    y.max(0.0) + alpha * y.min(0.0)
}

/// The epilogue of one row of sums: bias, then PReLU (`max(y, 0) + a·min(y, 0)`) when the layer has one.
#[inline(always)]
fn finish(sums: &[f32], dst: &mut [f32], bias: &[f32], alpha: Option<&[f32]>) {
    match alpha {
        Some(alpha) => {
            for (((d, &v), &b), &a) in dst.iter_mut().zip(sums).zip(bias).zip(alpha) {
                let y = v + b;
                *d = prelu(y, a);
            }
        }
        None => {
            for ((d, &v), &b) in dst.iter_mut().zip(sums).zip(bias) {
                *d = v + b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tensor::{bits, patterned_values};
    use crate::netdef::Weighted;

    /// An `m×k` left operand, the packed `k×n` weights, and a bias and PReLU slopes for `n` columns.
    fn case(m: usize, k: usize, n: usize) -> (Vec<f32>, PackedMatrix, Vec<f32>, Vec<f32>) {
        let b = PackedMatrix::new(&Weighted::patterned(1, k, n, Vec::new(), None).kernel, k, n);
        let bias = (0..n).map(|j| j as f32 * 0.01 - 0.05).collect();
        let alpha = (0..n).map(|j| 0.1 + j as f32 * 0.003).collect();
        (patterned_values(m * k), b, bias, alpha)
    }

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, bias: &[f32], alpha: Option<&[f32]>) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut y = f64::from(bias[j]);
                for t in 0..k {
                    y += f64::from(a[i * k + t]) * f64::from(b[t * n + j]);
                }
                c[i * n + j] = match alpha {
                    Some(alpha) if y < 0.0 => y * f64::from(alpha[j]),
                    _ => y,
                };
            }
        }
        c
    }

    #[test]
    fn the_narrow_product_gives_the_tiles_bits() {
        for (m, k, n) in [(21, 32, 6), (8, 128, 8), (3, 300, 1), (17, 576, 6)] {
            let (a, b, bias, alpha) = case(m, k, n);
            let epilogue = Epilogue {
                bias: &bias,
                alpha: Some(&alpha),
            };
            let (mut narrow, mut tiled) = (vec![0.0; m * n], vec![1.0; m * n]);
            narrow_rows::<false>(&a, &b, &mut narrow, epilogue);
            rows_by_tiles::<1, false>(&a, &b, &mut tiled, epilogue);
            assert_eq!(bits(&narrow), bits(&tiled), "{m}×{k}×{n}");
        }
    }

    #[test]
    fn one_or_two_panels_a_tile_give_the_same_bits() {
        // One to five panels (an odd one left over in pairs), partial panels, depths past one block (`DEPTH`),
        // widths past the carried panels (`PANELS`), every tile height.
        for (m, k, n) in [
            (13, 576, 128),
            (7, 1152, 256),
            (6, 300, 48),
            (11, 64, 17),
            (5, 32, 80),
            (3, 16, 272),
        ] {
            let (a, b, bias, alpha) = case(m, k, n);
            let epilogue = Epilogue {
                bias: &bias,
                alpha: Some(&alpha),
            };
            let (mut one, mut two) = (vec![f32::NAN; m * n], vec![f32::NAN; m * n]);
            rows_by_tiles::<1, false>(&a, &b, &mut one, epilogue);
            rows_by_tiles::<2, false>(&a, &b, &mut two, epilogue);
            assert!(one.iter().all(|v| v.is_finite()), "{m}×{k}×{n}: every output written");
            assert_eq!(bits(&one), bits(&two), "{m}×{k}×{n}");
        }
    }

    #[test]
    fn small_product() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = PackedMatrix::new(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 3, 2);
        let mut c = [0.0; 4];
        matmul(
            &a,
            &b,
            &mut c,
            Epilogue {
                bias: &[0.0, -20.0],
                alpha: Some(&[0.5, 0.5]),
            },
        );
        assert_eq!(c, [4.0, -7.5, 10.0, -4.5]);
    }

    #[test]
    fn every_tile_and_panel_edge_matches_a_float64_product() {
        // Row counts around the 6-row tile, column counts around the 16-column panel, the networks' depths.
        for (m, k, n) in [
            (1, 1, 1),
            (5, 27, 10),
            (6, 90, 16),
            (7, 144, 17),
            (13, 576, 64),
            (37, 1152, 256),
            (2, 3, 6),
            // The narrow product (at most 8 columns): whole 8-row tiles and a remainder.
            (21, 32, 6),
            (8, 128, 8),
            (3, 300, 1),
        ] {
            let a = patterned_values(m * k);
            let b = Weighted::patterned(1, k, n, Vec::new(), None).kernel;
            let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.01 - 0.05).collect();
            let alpha: Vec<f32> = (0..n).map(|j| 0.1 + j as f32 * 0.003).collect();
            for alpha in [None, Some(alpha.as_slice())] {
                let mut c = vec![f32::NAN; m * n];
                matmul(
                    &a,
                    &PackedMatrix::new(&b, k, n),
                    &mut c,
                    Epilogue { bias: &bias, alpha },
                );
                let expected = naive(&a, &b, m, k, n, &bias, alpha);
                for (got, want) in c.iter().zip(&expected) {
                    assert!(
                        (f64::from(*got) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{m}×{k}×{n}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
