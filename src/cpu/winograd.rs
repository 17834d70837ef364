//! 3×3 convolutions by Winograd's minimal filtering F(2×2, 3×3): each 2×2 block of output pixels costs 16
//! multiply-adds per input and output channel instead of 36. The input's 4×4 patches and the output's 2×2 blocks
//! pass through fixed transforms of additions only, and the kernel is transformed once at load time, so the work
//! that remains is 16 matrix products `[tiles, cin] · [cin, cout]` on the GEMM's register tiles.
//!
//! The sums run in a different order than the direct convolution's, so the outputs differ by float32 rounding
//! (relative 1e-6, measured against a float64 direct sum in the tests); the golden results stay within 1e-3 px.

use std::cell::RefCell;
use std::sync::atomic::AtomicUsize;

use multiversion::multiversion;
use multiversion::target::target_cfg_f;
use rayon::prelude::*;

use super::direct_conv::kernel_row;
use super::gemm::{prelu, Epilogue, PackedMatrix, PANEL};
use super::tensor::Tensor;
use super::thread_scratch::grow_on_every_thread;
use crate::netdef::Weighted;
use crate::pipeline::workspace::first_n;

/// Positions in a transformed 4×4 tile.
const POSITIONS: usize = 16;
/// Tiles per register tile of the products (4, as the direct convolution's pixels, for the same reason).
const TILES: usize = 4;
/// Tiles per parallel task (at least, whole tile rows): enough rows for the products to run at speed, and a
/// scratch (16 × tiles × channels, both ways) that stays in the L2 cache.
const TASK_TILES: usize = 48;

thread_local! {
    /// The transformed inputs of one task, one per rayon worker, grown to the largest task.
    static TRANSFORMED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The products of one task, likewise.
    static PRODUCTS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}
/// The largest sizes of the two buffers above on every thread.
static TRANSFORMED_GROWN: AtomicUsize = AtomicUsize::new(0);
static PRODUCTS_GROWN: AtomicUsize = AtomicUsize::new(0);

/// A 3×3 valid, stride-1 convolution with bias and optional PReLU, computed by F(2×2, 3×3).
#[derive(Clone, Debug)]
pub(crate) struct Winograd {
    cin: usize,
    cout: usize,
    /// `G·g·Gᵀ` of the kernel, as 16 packed `[cin, cout]` matrices, one per position of the 4×4 tile.
    transformed: Vec<PackedMatrix>,
    bias: Vec<f32>,
    alpha: Option<Vec<f32>>,
}

impl Winograd {
    /// Transforms the HWIO 3×3 kernel of `w` (in float64, rounded once).
    pub fn new(w: &Weighted) -> Self {
        let (cin, cout) = (w.cin, w.cout);
        // G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
        const G: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
        let mut matrices = vec![vec![0.0f32; cin * cout]; POSITIONS];
        for c in 0..cin {
            for o in 0..cout {
                let g = |ky: usize, kx: usize| f64::from(w.kernel[((ky * 3 + kx) * cin + c) * cout + o]);
                for (i, gi) in G.iter().enumerate() {
                    for (j, gj) in G.iter().enumerate() {
                        let mut u = 0.0;
                        for (ky, a) in gi.iter().enumerate() {
                            for (kx, b) in gj.iter().enumerate() {
                                u += a * b * g(ky, kx);
                            }
                        }
                        matrices[i * 4 + j][c * cout + o] = u as f32;
                    }
                }
            }
        }
        Winograd {
            cin,
            cout,
            transformed: matrices.iter().map(|m| PackedMatrix::new(m, cin, cout)).collect(),
            bias: w.bias.clone(),
            alpha: w.alpha.clone(),
        }
    }

    /// Writes the convolution of `x` into `out`, reshaped to fit; tasks of whole tile rows across threads.
    pub fn forward(&self, x: &Tensor, out: &mut Tensor) {
        debug_assert_eq!(x.c, self.cin);
        let (ho, wo) = (x.h.saturating_sub(2), x.w.saturating_sub(2));
        out.reshape(x.n, ho, wo, self.cout);
        if out.data().is_empty() {
            return;
        }
        let tiles_x = wo.div_ceil(2);
        // Each task covers `rows` tile rows (2 output rows each; the last of an odd image has 1).
        let rows = TASK_TILES.div_ceil(tiles_x);
        // The largest task's scratch, on every thread (see `thread_scratch`).
        let [transformed, products] = self.scratch_lens(rows.min(ho.div_ceil(2)) * tiles_x);
        grow_on_every_thread(&TRANSFORMED, &TRANSFORMED_GROWN, transformed);
        grow_on_every_thread(&PRODUCTS, &PRODUCTS_GROWN, products);
        let image_len = ho * wo * self.cout;
        let image_in = x.h * x.w * x.c;
        out.data_mut()
            .par_chunks_mut(image_len)
            .zip(x.data().par_chunks(image_in))
            .for_each(|(image_out, image)| {
                image_out
                    .par_chunks_mut(rows * 2 * wo * self.cout)
                    .enumerate()
                    .for_each(|(task, dst)| {
                        let first_row = task * rows * 2;
                        let input = Input {
                            image,
                            h: x.h,
                            w: x.w,
                            first_row,
                        };
                        TRANSFORMED.with_borrow_mut(|v| PRODUCTS.with_borrow_mut(|m| self.task(input, dst, v, m)));
                    });
            });
    }

    /// The lengths of a task's transformed inputs and products for `tiles` tiles. The products run on whole
    /// register tiles: the tile count is padded to a multiple of 4, and the padding rows hold whatever finite
    /// values an earlier task left (their products are never read); their rows are padded to whole panels.
    fn scratch_lens(&self, tiles: usize) -> [usize; 2] {
        let tiles = tiles.next_multiple_of(TILES);
        [
            POSITIONS * tiles * self.cin,
            POSITIONS * tiles * self.cout.next_multiple_of(PANEL),
        ]
    }

    /// One task: the output rows from `input.first_row`, `dst.len() / (wo·cout)` of them.
    fn task(&self, input: Input<'_>, dst: &mut [f32], v: &mut Vec<f32>, m: &mut Vec<f32>) {
        let wo = input.w - 2;
        let out_rows = dst.len() / (wo * self.cout);
        // Grown once, never cleared: every value the task reads was written by it first (or is padding, see
        // `scratch_lens`).
        let [transformed, products] = self.scratch_lens(out_rows.div_ceil(2) * wo.div_ceil(2));
        let (v, m) = (first_n(v, transformed), first_n(m, products));
        let epilogue = Epilogue {
            bias: &self.bias,
            alpha: self.alpha.as_deref(),
        };
        run_task(self, input, dst, v, m, epilogue);
    }
}

/// One image and the first output row of a task.
#[derive(Clone, Copy)]
struct Input<'a> {
    image: &'a [f32],
    h: usize,
    w: usize,
    first_row: usize,
}

#[multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn run_task(conv: &Winograd, input: Input<'_>, dst: &mut [f32], v: &mut [f32], m: &mut [f32], epilogue: Epilogue<'_>) {
    transform_input(conv.cin, input, dst.len() / ((input.w - 2) * conv.cout), v);
    let tiles = v.len() / (POSITIONS * conv.cin);
    for (position, (v, m)) in v
        .chunks_exact(tiles * conv.cin)
        .zip(m.chunks_exact_mut(tiles * conv.cout.next_multiple_of(PANEL)))
        .enumerate()
    {
        if target_cfg_f!(target_feature = "fma") || cfg!(target_arch = "aarch64") {
            product::<true>(v, &conv.transformed[position], m, conv.cin);
        } else {
            product::<false>(v, &conv.transformed[position], m, conv.cin);
        }
    }
    transform_output(conv.cout, input.w - 2, m, dst, epilogue);
}

/// Input channels a layer may have to run by Winograd (a zero row of this length stands for pixels past the edge).
pub(crate) const MAX_CIN: usize = 256;
static ZEROS: [f32; MAX_CIN] = [0.0; MAX_CIN];
/// Channels per vector in the transforms.
const LANES: usize = 8;

/// `Bᵀ·d·B` of every 4×4 input patch of the task's tiles into `v`, as `[position][tile][channel]`, eight
/// channels at a time. Pixels past the image's edge (odd output sizes) read as zero; they only feed outputs that
/// are not stored.
#[inline(always)]
fn transform_input(cin: usize, input: Input<'_>, out_rows: usize, v: &mut [f32]) {
    let tiles_x = (input.w - 2).div_ceil(2);
    let stride = v.len() / (POSITIONS * cin);
    for tile in 0..out_rows.div_ceil(2) * tiles_x {
        let (y0, x0) = (input.first_row + tile / tiles_x * 2, tile % tiles_x * 2);
        let mut d: [[&[f32]; 4]; 4] = [[&ZEROS[..cin]; 4]; 4];
        for (i, row) in d.iter_mut().enumerate().take(input.h.saturating_sub(y0)) {
            let line = &input.image[(y0 + i) * input.w * cin..][..input.w * cin];
            for (j, pixel) in row.iter_mut().enumerate().take(input.w - x0) {
                *pixel = &line[(x0 + j) * cin..][..cin];
            }
        }
        let (full, half) = (cin / LANES * LANES, cin / 4 * 4);
        for c in (0..full).step_by(LANES) {
            input_lanes::<LANES>(&d, c, v, stride, tile, cin);
        }
        for c in (full..half).step_by(4) {
            input_lanes::<4>(&d, c, v, stride, tile, cin);
        }
        for c in half..cin {
            input_lanes::<1>(&d, c, v, stride, tile, cin);
        }
    }
}

/// `values[at .. at + L]` as an array: one bounds check, then a plain vector load (a fallback for a short slice
/// compiled to a conditional move of the address and spills around it).
#[inline(always)]
fn lanes<const L: usize>(values: &[f32], at: usize) -> [f32; L] {
    // Of exactly L values: the conversion cannot fail, and the fallback is compiled away.
    values[at..at + L].try_into().unwrap_or([0.0; L])
}

/// `a + b`, lane by lane (a plain loop: `array::from_fn`'s closures were not inlined into the AVX2 clone).
#[inline(always)]
fn add<const L: usize>(mut a: [f32; L], b: [f32; L]) -> [f32; L] {
    for (a, b) in a.iter_mut().zip(b) {
        *a += b;
    }
    a
}

/// `a − b`, lane by lane.
#[inline(always)]
fn sub<const L: usize>(mut a: [f32; L], b: [f32; L]) -> [f32; L] {
    for (a, b) in a.iter_mut().zip(b) {
        *a -= b;
    }
    a
}

/// The input transform of channels `c .. c + L` of one tile.
#[inline(always)]
fn input_lanes<const L: usize>(d: &[[&[f32]; 4]; 4], c: usize, v: &mut [f32], stride: usize, tile: usize, cin: usize) {
    let load = |i: usize, j: usize| lanes::<L>(d[i][j], c);
    // Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]] on each column of the patch, then on each
    // row of the result.
    let mut columns = [[[0.0f32; L]; 4]; 4];
    for (j, column) in columns.iter_mut().enumerate() {
        let (d0, d1, d2, d3) = (load(0, j), load(1, j), load(2, j), load(3, j));
        *column = [sub(d0, d2), add(d1, d2), sub(d2, d1), sub(d1, d3)];
    }
    for i in 0..4 {
        let t = [columns[0][i], columns[1][i], columns[2][i], columns[3][i]];
        let u = [sub(t[0], t[2]), add(t[1], t[2]), sub(t[2], t[1]), sub(t[1], t[3])];
        for (j, u) in u.iter().enumerate() {
            v[((i * 4 + j) * stride + tile) * cin + c..][..L].copy_from_slice(u);
        }
    }
}

/// `m[tile] = v[tile] · u` for one position, four tiles at a time (the count is a multiple of 4) against each
/// panel of 16 output channels; `m`'s rows have the output channels padded to whole panels.
#[inline(always)]
fn product<const FUSED: bool>(v: &[f32], u: &PackedMatrix, m: &mut [f32], cin: usize) {
    let tiles = v.len() / cin;
    let channels = m.len() / tiles;
    for (p, panel) in u.panels().enumerate() {
        for t0 in (0..tiles).step_by(TILES) {
            let mut acc = [[0.0; PANEL]; TILES];
            kernel_row::<TILES, PANEL, FUSED>(&mut acc, &v[t0 * cin..], cin, panel);
            // Whole panels (the rows of `m` are padded to them): fixed-size copies, not memcpy calls.
            for (r, acc) in acc.iter().enumerate() {
                if let Some(out) = m[(t0 + r) * channels + p * PANEL..].first_chunk_mut::<PANEL>() {
                    *out = *acc;
                }
            }
        }
    }
}

/// `Aᵀ·m·A` of every tile's 16 products, eight channels at a time, then bias and PReLU, into the task's output
/// rows (`wo` pixels each); outputs past the right or bottom edge are dropped.
#[inline(always)]
fn transform_output(cout: usize, wo: usize, m: &[f32], dst: &mut [f32], epilogue: Epilogue<'_>) {
    let out_rows = dst.len() / (wo * cout);
    let tiles_x = wo.div_ceil(2);
    let channels = cout.next_multiple_of(PANEL);
    let tiles = m.len() / (POSITIONS * channels);
    let (full, half) = (cout / LANES * LANES, cout / 4 * 4);
    for tile in 0..out_rows.div_ceil(2) * tiles_x {
        let (y0, x0) = (tile / tiles_x * 2, tile % tiles_x * 2);
        let place = Place {
            tile,
            tiles,
            cout,
            out_rows,
            wo,
            y0,
            x0,
        };
        for c in (0..full).step_by(LANES) {
            output_lanes::<LANES>(m, dst, &place, c, epilogue);
        }
        for c in (full..half).step_by(4) {
            output_lanes::<4>(m, dst, &place, c, epilogue);
        }
        for c in half..cout {
            output_lanes::<1>(m, dst, &place, c, epilogue);
        }
    }
}

/// Where one tile's outputs go.
struct Place {
    tile: usize,
    tiles: usize,
    cout: usize,
    out_rows: usize,
    wo: usize,
    y0: usize,
    x0: usize,
}

/// `Aᵀ` on one column of a tile's products, the first at `m[at..]` and the others 4 positions apart each: its
/// top and bottom values.
#[inline(always)]
fn output_column<const L: usize>(m: &[f32], at: usize, position: usize) -> ([f32; L], [f32; L]) {
    let row = 4 * position;
    let (m0, m1, m2, m3) = (
        lanes(m, at),
        lanes(m, at + row),
        lanes(m, at + 2 * row),
        lanes(m, at + 3 * row),
    );
    (add(add(m0, m1), m2), sub(sub(m1, m2), m3))
}

/// The output transform of channels `c .. c + L` of one tile, with the epilogue. Written out value by value:
/// nested arrays of the columns were split by LLVM into 4-, 2- and 1-lane pieces and spilled.
#[inline(always)]
fn output_lanes<const L: usize>(m: &[f32], dst: &mut [f32], place: &Place, c: usize, epilogue: Epilogue<'_>) {
    let Place { tile, tiles, cout, .. } = *place;
    let channels = cout.next_multiple_of(PANEL);
    // Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]] on each column of the tile (giving the top row `t` and the bottom row
    // `b`), then on each row of the result.
    // Position (i, j)'s products of this tile start at `((i·4 + j)·tiles + tile)·channels`. (No closures here:
    // LLVM left them out of line, compiled without AVX2.)
    let (first, position) = (tile * channels + c, tiles * channels);
    let (t0, b0) = output_column::<L>(m, first, position);
    let (t1, b1) = output_column::<L>(m, first + position, position);
    let (t2, b2) = output_column::<L>(m, first + 2 * position, position);
    let (t3, b3) = output_column::<L>(m, first + 3 * position, position);
    let outputs = [
        add(add(t0, t1), t2),
        sub(sub(t1, t2), t3),
        add(add(b0, b1), b2),
        sub(sub(b1, b2), b3),
    ];
    let bias = lanes::<L>(epilogue.bias, c);
    let alpha = epilogue.alpha.map(|a| lanes::<L>(a, c));
    for (k, y) in outputs.into_iter().enumerate() {
        let (oy, ox) = (place.y0 + k / 2, place.x0 + k % 2);
        if oy >= place.out_rows || ox >= place.wo {
            continue;
        }
        let out = &mut dst[(oy * place.wo + ox) * cout + c..][..L];
        for l in 0..L {
            let value = y[l] + bias[l];
            out[l] = match alpha {
                Some(a) => prelu(value, a[l]),
                None => value,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution as a float64 direct sum, with bias and PReLU.
    fn direct(x: &Tensor, w: &Weighted) -> Vec<f64> {
        let (ho, wo) = (x.h - 2, x.w - 2);
        let mut out = Vec::with_capacity(x.n * ho * wo * w.cout);
        for n in 0..x.n {
            for oy in 0..ho {
                for ox in 0..wo {
                    for o in 0..w.cout {
                        let mut acc = f64::from(w.bias[o]);
                        for ky in 0..3 {
                            for kx in 0..3 {
                                for c in 0..w.cin {
                                    let xv = x.data()[((n * x.h + oy + ky) * x.w + ox + kx) * w.cin + c];
                                    let wv = w.kernel[((ky * 3 + kx) * w.cin + c) * w.cout + o];
                                    acc += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        out.push(match &w.alpha {
                            Some(a) if acc < 0.0 => acc * f64::from(a[o]),
                            _ => acc,
                        });
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_a_float64_direct_sum_on_odd_and_even_sizes() {
        // Channel counts that leave 4- and 1-channel remainders and a partial panel; output sizes odd and even,
        // one pixel, and tasks of several tile rows.
        for (n, h, w, cin, cout, prelu) in [
            (1, 3, 3, 16, 16, true),
            (2, 11, 11, 28, 48, true),
            (1, 8, 9, 19, 20, false),
            (3, 10, 10, 64, 64, true),
            (1, 40, 7, 16, 32, true),
        ] {
            let x = Tensor::patterned(n, h, w, cin);
            let bias = (0..cout).map(|o| o as f32 * 0.01 - 0.1).collect();
            let alpha = prelu.then(|| (0..cout).map(|o| 0.1 + o as f32 * 0.01).collect());
            let weights = Weighted::patterned(9, cin, cout, bias, alpha);
            let mut y = Tensor::default();
            Winograd::new(&weights).forward(&x, &mut y);
            assert_eq!((y.n, y.h, y.w, y.c), (n, h - 2, w - 2, cout));
            let expected = direct(&x, &weights);
            for (got, want) in y.data().iter().zip(&expected) {
                assert!(
                    (f64::from(*got) - want).abs() <= 2e-5 * (1.0 + want.abs()),
                    "{n}×{h}×{w}×{cin}→{cout}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn inputs_too_small_for_one_output_give_an_empty_tensor() {
        let weights = Weighted {
            cin: 16,
            cout: 16,
            kernel: vec![0.5; 9 * 16 * 16],
            bias: vec![0.0; 16],
            alpha: None,
        };
        let mut y = Tensor::default();
        Winograd::new(&weights).forward(&Tensor::from_vec(1, 2, 5, 16, vec![1.0; 160]), &mut y);
        assert!(y.data().is_empty());
    }
}
