//! 3×3 convolutions by Winograd's minimal filtering F(m×m, 3×3): each m×m block of output pixels costs (m+2)²
//! multiply-adds per input and output channel instead of 9·m². F(2×2, 3×3) takes 16 for 4 pixels (2.25× fewer
//! than directly), F(3×3, 3×3) 25 for 9 (3.24×), F(4×4, 3×3) 36 for 16 (4×). The input's (m+2)×(m+2) patches and
//! the output's m×m blocks pass through fixed transforms (additions and multiplications by small integers,
//! `winograd_algorithms.rs`), and the kernel is transformed once at load time, so the work that remains is
//! (m+2)² matrix products `[tiles, cin] · [cin, cout]` on the GEMM's register tiles.
//!
//! Each map takes the tile size with the least work (`Tiles::for_output`). The sums run in a different order than
//! the direct convolution's, so the outputs differ by float32 rounding (relative 1e-6 for F(2×2), a few 1e-6 for
//! the larger tiles, measured against a float64 direct sum in the tests); the golden results stay within
//! 2e-3 px.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::AtomicUsize;

use multiversion::multiversion;
use multiversion::target::target_cfg_f;
use rayon::prelude::*;

use super::direct_conv::kernel_rows;
use super::gemm::{matmul, prelu, Epilogue, PackedMatrix, PANEL};
use super::tensor::Tensor;
use super::thread_scratch::grow_on_every_thread;
use super::winograd_algorithms::{lanes, Algorithm, F2, F3, F4};
use crate::netdef::Weighted;
use crate::pipeline::workspace::first_n;

/// Tiles per register tile of the products (4, as the direct convolution's pixels, for the same reason).
const TILES: usize = 4;
/// Output pixels per parallel task (at least, whole tile rows): enough work to pay for the task.
const TASK_PIXELS: usize = 192;
/// Bytes of scratch (transformed inputs and products) for one pass over a task's tiles: a wide task runs in
/// several passes, so that what the products write stays in the L2 cache for the output transform.
const PASS_BYTES: usize = 256 << 10;

thread_local! {
    /// The transformed inputs of one task, one per rayon worker, grown to the largest task.
    static TRANSFORMED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The products of one task, likewise.
    static PRODUCTS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A task's output rows on their way through a [`Pointwise`] layer, likewise.
    static ROWS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// One input patch that reaches past the map's edge, with zeros around it, likewise.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}
/// The largest sizes of the buffers above on every thread.
static TRANSFORMED_GROWN: AtomicUsize = AtomicUsize::new(0);
static PRODUCTS_GROWN: AtomicUsize = AtomicUsize::new(0);
static ROWS_GROWN: AtomicUsize = AtomicUsize::new(0);
static PADDED_GROWN: AtomicUsize = AtomicUsize::new(0);

/// A 1×1 convolution (a matrix product over the pixels, with its epilogue) that a Winograd convolution's output
/// rows go through task by task, while they are in the cache, instead of being stored: P-Net's heads, whose
/// 32-channel input at 1080p's first level is 23 MB that would be written out and read back.
#[derive(Clone, Copy)]
pub(crate) struct Pointwise<'a> {
    pub kernel: &'a PackedMatrix,
    pub epilogue: Epilogue<'a>,
}

/// A 3×3 valid, stride-1 convolution with bias and optional PReLU, computed by F(2×2), F(3×3) or F(4×4).
#[derive(Clone, Debug)]
pub(crate) struct Winograd {
    cin: usize,
    cout: usize,
    /// `G·g·Gᵀ` of the kernel for F(2×2), as 16 packed `[cin, cout]` matrices, one per position of the 4×4 tile.
    f2: Vec<PackedMatrix>,
    /// The same for F(3×3): 25 matrices, one per position of the 5×5 tile.
    f3: Vec<PackedMatrix>,
    /// The same for F(4×4): 36 matrices, one per position of the 6×6 tile.
    f4: Vec<PackedMatrix>,
    bias: Vec<f32>,
    alpha: Option<Vec<f32>>,
}

/// Which algorithm a convolution runs by: the size of its output tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tiles {
    /// F(2×2, 3×3).
    Two,
    /// F(3×3, 3×3).
    Three,
    /// F(4×4, 3×3).
    Four,
}

impl Tiles {
    /// The algorithm with the least work on an `ho`×`wo` map: its products (tiles × positions, the tiles' parts
    /// past the edge included), weighed by what a product costs with its share of the transforms, 1 : 1.2 : 1.7
    /// for 2×2, 3×3 and 4×4 tiles (fitted to one-core timings of the networks' layer shapes). P-Net's levels and
    /// R-Net's and O-Net's 9×9 and 21×21 maps take 3×3 tiles, O-Net's 8×8 map 4×4 tiles, and maps of 2×2 and
    /// less 2×2 tiles.
    fn for_output(ho: usize, wo: usize) -> Self {
        let cost = |m: usize, weight: usize| ho.div_ceil(m) * wo.div_ceil(m) * (m + 2) * (m + 2) * weight;
        let (two, three, four) = (cost(2, 10), cost(3, 12), cost(4, 17));
        if four < three.min(two) {
            Tiles::Four
        } else if three < two {
            Tiles::Three
        } else {
            Tiles::Two
        }
    }
}

impl Winograd {
    /// Transforms the HWIO 3×3 kernel of `w` for the three algorithms (in float64, rounded once).
    pub fn new(w: &Weighted) -> Self {
        Winograd {
            cin: w.cin,
            cout: w.cout,
            f2: transform_kernel(w, &F2::G),
            f3: transform_kernel(w, &F3::G),
            f4: transform_kernel(w, &F4::G),
            bias: w.bias.clone(),
            alpha: w.alpha.clone(),
        }
    }

    /// Writes the convolution of `x` into `out`, reshaped to fit, by the algorithm its size calls for; through
    /// `then` first, when given.
    pub fn forward(&self, x: &Tensor, then: Option<Pointwise<'_>>, out: &mut Tensor) {
        let (ho, wo) = (x.h.saturating_sub(2), x.w.saturating_sub(2));
        self.forward_by(Tiles::for_output(ho, wo), x, then, out);
    }

    /// Writes the convolution of `x` into `out`, reshaped to fit, by `tiles`, through `then` when given; tasks
    /// of whole tile rows across threads.
    pub(crate) fn forward_by(&self, tiles: Tiles, x: &Tensor, then: Option<Pointwise<'_>>, out: &mut Tensor) {
        match tiles {
            Tiles::Two => self.forward_with::<4, 2>(x, out, &self.f2, run_task_by::<F2, 4, 2>, then),
            Tiles::Three => self.forward_with::<5, 3>(x, out, &self.f3, run_task_by::<F3, 5, 3>, then),
            Tiles::Four => self.forward_with::<6, 4>(x, out, &self.f4, run_task_by::<F4, 6, 4>, then),
        }
    }

    /// `forward_by` for the algorithm of N×N patches and M×M tiles, with its transformed `kernel` and its task.
    fn forward_with<const N: usize, const M: usize>(
        &self,
        x: &Tensor,
        out: &mut Tensor,
        kernel: &[PackedMatrix],
        run: fn(Task<'_>),
        then: Option<Pointwise<'_>>,
    ) {
        debug_assert_eq!(x.c, self.cin);
        debug_assert!(then.is_none_or(|p| p.kernel.k() == self.cout));
        let (ho, wo) = (x.h.saturating_sub(2), x.w.saturating_sub(2));
        let out_c = then.map_or(self.cout, |p| p.kernel.n());
        out.reshape(x.n, ho, wo, out_c);
        if out.data().is_empty() {
            return;
        }
        let tiles_x = wo.div_ceil(M);
        // Each task covers `rows` tile rows (M output rows each; the last may have fewer).
        let rows = (TASK_PIXELS / (M * M)).div_ceil(tiles_x);
        // Tiles per pass over a task, and the largest pass's scratch, on every thread (see `thread_scratch`).
        let per_pass = (PASS_BYTES / (4 * N * N * (self.cin + self.cout.next_multiple_of(PANEL)))).max(TILES);
        let per_pass = per_pass / TILES * TILES;
        let [transformed, products] = self.scratch_lens(N * N, per_pass.min(rows.min(ho.div_ceil(M)) * tiles_x));
        grow_on_every_thread(&TRANSFORMED, &TRANSFORMED_GROWN, transformed);
        grow_on_every_thread(&PRODUCTS, &PRODUCTS_GROWN, products);
        grow_on_every_thread(&PADDED, &PADDED_GROWN, N * N * self.cin);
        if then.is_some() {
            grow_on_every_thread(&ROWS, &ROWS_GROWN, rows.min(ho.div_ceil(M)) * M * wo * self.cout);
        }
        let image_len = ho * wo * out_c;
        let image_in = x.h * x.w * x.c;
        out.data_mut()
            .par_chunks_mut(image_len)
            .zip(x.data().par_chunks(image_in))
            .for_each(|(image_out, image)| {
                image_out
                    .par_chunks_mut(rows * M * wo * out_c)
                    .enumerate()
                    .for_each(|(task, dst)| {
                        let input = Input {
                            image,
                            h: x.h,
                            w: x.w,
                            first_row: task * rows * M,
                        };
                        let out_rows = dst.len() / (wo * out_c);
                        let task = |dst: &mut [f32]| {
                            self.task::<N, M>(input, out_rows.div_ceil(M) * tiles_x, per_pass, kernel, run, dst)
                        };
                        match then {
                            None => task(dst),
                            Some(pointwise) => ROWS.with_borrow_mut(|rows| {
                                let rows = first_n(rows, out_rows * wo * self.cout);
                                task(&mut *rows);
                                matmul(rows, pointwise.kernel, dst, pointwise.epilogue);
                            }),
                        }
                    });
            });
    }

    /// One task: `tiles` tiles from `input.first_row` into `dst`, in passes of `per_pass` tiles.
    fn task<const N: usize, const M: usize>(
        &self,
        input: Input<'_>,
        tiles: usize,
        per_pass: usize,
        kernel: &[PackedMatrix],
        run: fn(Task<'_>),
        dst: &mut [f32],
    ) {
        let epilogue = Epilogue {
            bias: &self.bias,
            alpha: self.alpha.as_deref(),
        };
        TRANSFORMED.with_borrow_mut(|v| {
            PRODUCTS.with_borrow_mut(|m| {
                PADDED.with_borrow_mut(|padded| {
                    for first in (0..tiles).step_by(per_pass) {
                        let pass = first..tiles.min(first + per_pass);
                        // Grown once, never cleared: every value the pass reads was written by it first (or is
                        // padding, see `scratch_lens`).
                        let [v_len, m_len] = self.scratch_lens(N * N, pass.len());
                        run(Task {
                            cin: self.cin,
                            cout: self.cout,
                            kernel,
                            input,
                            tiles: pass,
                            dst: &mut *dst,
                            v: first_n(v, v_len),
                            m: first_n(m, m_len),
                            padded: first_n(padded, N * N * self.cin),
                            epilogue,
                        });
                    }
                })
            })
        });
    }

    /// The lengths of a task's transformed inputs and products for `tiles` tiles of `positions` positions. The
    /// products run on whole register tiles: the tile count is padded to a multiple of 4, and the padding rows
    /// hold whatever finite values an earlier task left (their products are never read); their rows are padded to
    /// whole panels.
    fn scratch_lens(&self, positions: usize, tiles: usize) -> [usize; 2] {
        let tiles = tiles.next_multiple_of(TILES);
        [
            positions * tiles * self.cin,
            positions * tiles * self.cout.next_multiple_of(PANEL),
        ]
    }
}

/// `G·g·Gᵀ` of every input and output channel's 3×3 kernel `g`, as one packed `[cin, cout]` matrix per position
/// of the N×N tile, computed in float64 and rounded once.
fn transform_kernel<const N: usize>(w: &Weighted, g_matrix: &[[f64; 3]; N]) -> Vec<PackedMatrix> {
    let (cin, cout) = (w.cin, w.cout);
    let mut matrices = vec![vec![0.0f32; cin * cout]; N * N];
    for c in 0..cin {
        for o in 0..cout {
            let g = |ky: usize, kx: usize| f64::from(w.kernel[((ky * 3 + kx) * cin + c) * cout + o]);
            for (i, gi) in g_matrix.iter().enumerate() {
                for (j, gj) in g_matrix.iter().enumerate() {
                    let mut u = 0.0;
                    for (ky, a) in gi.iter().enumerate() {
                        for (kx, b) in gj.iter().enumerate() {
                            u += a * b * g(ky, kx);
                        }
                    }
                    matrices[i * N + j][c * cout + o] = u as f32;
                }
            }
        }
    }
    matrices.iter().map(|m| PackedMatrix::new(m, cin, cout)).collect()
}

/// One pass over a task: some of the tiles of the output rows of `dst`, which start at `input.first_row`, with
/// its scratch.
struct Task<'a> {
    cin: usize,
    cout: usize,
    /// The transformed kernel, one packed matrix per position.
    kernel: &'a [PackedMatrix],
    input: Input<'a>,
    /// The pass's tiles, numbered row by row from the task's first.
    tiles: Range<usize>,
    dst: &'a mut [f32],
    v: &'a mut [f32],
    m: &'a mut [f32],
    /// Room for one N×N patch of `cin` channels.
    padded: &'a mut [f32],
    epilogue: Epilogue<'a>,
}

/// One image and the first output row of a task.
#[derive(Clone, Copy)]
struct Input<'a> {
    image: &'a [f32],
    h: usize,
    w: usize,
    first_row: usize,
}

/// One pass of a task by algorithm `A`, compiled for AVX-512, AVX2 + FMA and NEON as well as the baseline.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn run_task_by<A: Algorithm<N, M>, const N: usize, const M: usize>(task: Task<'_>) {
    // The products' register tile: 4 tiles against one panel, or against two with AVX-512 (see `conv_row`).
    if target_cfg_f!(target_feature = "avx512f") {
        run_task::<A, N, M, 2, true>(task);
    } else if target_cfg_f!(target_feature = "fma") || cfg!(target_arch = "aarch64") {
        run_task::<A, N, M, 1, true>(task);
    } else {
        run_task::<A, N, M, 1, false>(task);
    }
}

/// Input transform, the N² products, output transform.
#[inline(always)]
fn run_task<A: Algorithm<N, M>, const N: usize, const M: usize, const P: usize, const FUSED: bool>(task: Task<'_>) {
    let Task {
        cin,
        cout,
        kernel,
        input,
        tiles,
        dst,
        v,
        m,
        padded,
        epilogue,
    } = task;
    let wo = input.w - 2;
    // Sixteen channels a vector with AVX-512 (the products' two-panel tiles) for F(2×2) and F(3×3); F(4×4)'s
    // 36 columns of a patch would not fit the 32 registers (measured: slower).
    transform_input::<A, N, M>(cin, input, tiles.clone(), v, padded, P == 2 && N <= 5);
    let stride = v.len() / (N * N * cin);
    for (position, (v, m)) in v
        .chunks_exact(stride * cin)
        .zip(m.chunks_exact_mut(stride * cout.next_multiple_of(PANEL)))
        .enumerate()
    {
        product::<P, FUSED>(v, &kernel[position], m, cin);
    }
    transform_output::<A, N, M>(cout, wo, tiles, m, dst, epilogue);
}

/// Input channels a layer may have to run by Winograd (the networks' layers have at most 64).
pub(crate) const MAX_CIN: usize = 256;
/// Channels per vector in the transforms.
const LANES: usize = 8;

/// `Bᵀ·d·B` of every N×N input patch of the pass's tiles into `v`, as `[position][tile][channel]`, eight
/// channels at a time (sixteen, when `sixteen` says so). Pixels past the image's edge read as zero; they only feed
/// outputs that are not stored.
#[inline(always)]
fn transform_input<A: Algorithm<N, M>, const N: usize, const M: usize>(
    cin: usize,
    input: Input<'_>,
    tiles: Range<usize>,
    v: &mut [f32],
    padded: &mut [f32],
    sixteen: bool,
) {
    let tiles_x = (input.w - 2).div_ceil(M);
    let stride = v.len() / (N * N * cin);
    let row = input.w * cin;
    // A patch that reaches past the image's edge (the last tile of a row or of the map) is copied into `padded`
    // with zeros around it.
    for (at_tile, tile) in tiles.enumerate() {
        let (y0, x0) = (input.first_row + tile / tiles_x * M, tile % tiles_x * M);
        let patch = if y0 + N <= input.h && x0 + N <= input.w {
            Patch {
                data: &input.image[y0 * row + x0 * cin..][..(N - 1) * row + N * cin],
                row,
                cin,
            }
        } else {
            for (i, patch_row) in padded.chunks_exact_mut(N * cin).enumerate() {
                for (j, pixel) in patch_row.chunks_exact_mut(cin).enumerate() {
                    let (y, x) = (y0 + i, x0 + j);
                    if y < input.h && x < input.w {
                        pixel.copy_from_slice(&input.image[y * row + x * cin..][..cin]);
                    } else {
                        pixel.fill(0.0);
                    }
                }
            }
            Patch {
                data: &*padded,
                row: N * cin,
                cin,
            }
        };
        let at = TileAt {
            tile: at_tile,
            stride,
            cin,
        };
        let wide = if sixteen { cin / 16 * 16 } else { 0 };
        let (full, half) = (cin / LANES * LANES, cin / 4 * 4);
        for c in (0..wide).step_by(16) {
            input_lanes::<A, N, M, 16>(patch, c, v, at);
        }
        for c in (wide..full).step_by(LANES) {
            input_lanes::<A, N, M, LANES>(patch, c, v, at);
        }
        for c in (full..half).step_by(4) {
            input_lanes::<A, N, M, 4>(patch, c, v, at);
        }
        for c in half..cin {
            input_lanes::<A, N, M, 1>(patch, c, v, at);
        }
    }
}

/// One tile's N×N input patch: pixel (i, j)'s channels start at `data[i·row + j·cin]`.
#[derive(Clone, Copy)]
struct Patch<'a> {
    data: &'a [f32],
    row: usize,
    cin: usize,
}

impl Patch<'_> {
    /// Channels `c .. c + L` of pixel (i, j).
    #[inline(always)]
    fn lanes<const L: usize>(self, i: usize, j: usize, c: usize) -> [f32; L] {
        lanes::<L>(self.data, i * self.row + j * self.cin + c)
    }
}

/// Where one tile's transformed inputs go: `v[(position·stride + tile)·cin + c]`.
#[derive(Clone, Copy)]
struct TileAt {
    tile: usize,
    stride: usize,
    cin: usize,
}

impl TileAt {
    /// Where position (i, j) of the N×N tile starts.
    #[inline(always)]
    fn index<const N: usize>(self, i: usize, j: usize) -> usize {
        ((i * N + j) * self.stride + self.tile) * self.cin
    }
}

/// The input transform of channels `c .. c + L` of one tile: `Bᵀ` on each column of the patch, then on each row
/// of the result.
#[inline(always)]
fn input_lanes<A: Algorithm<N, M>, const N: usize, const M: usize, const L: usize>(
    patch: Patch<'_>,
    c: usize,
    v: &mut [f32],
    at: TileAt,
) {
    // Loops, not closures: LLVM left closures out of line, compiled without AVX2.
    let mut columns = [[[0.0f32; L]; N]; N];
    for (j, column) in columns.iter_mut().enumerate() {
        let mut line = [[0.0f32; L]; N];
        for (i, value) in line.iter_mut().enumerate() {
            *value = patch.lanes(i, j, c);
        }
        *column = A::input(line);
    }
    for i in 0..N {
        let mut line = [[0.0f32; L]; N];
        for (value, column) in line.iter_mut().zip(&columns) {
            *value = column[i];
        }
        for (j, u) in A::input(line).iter().enumerate() {
            v[at.index::<N>(i, j) + c..][..L].copy_from_slice(u);
        }
    }
}

/// `m[tile] = v[tile] · u` for one position, four tiles at a time (the count is a multiple of 4) against `P`
/// panels of 16 output channels at a time (the panels left over one at a time); `m`'s rows have the output
/// channels padded to whole panels.
#[inline(always)]
fn product<const P: usize, const FUSED: bool>(v: &[f32], u: &PackedMatrix, m: &mut [f32], cin: usize) {
    let grouped = u.panel_count() / P * P;
    for first_panel in (0..grouped).step_by(P) {
        product_of_panels::<P, FUSED>(v, u, first_panel, m, cin);
    }
    for panel in grouped..u.panel_count() {
        product_of_panels::<1, FUSED>(v, u, panel, m, cin);
    }
}

/// [`product`] against panels `first_panel .. first_panel + P`.
#[inline(always)]
fn product_of_panels<const P: usize, const FUSED: bool>(
    v: &[f32],
    u: &PackedMatrix,
    first_panel: usize,
    m: &mut [f32],
    cin: usize,
) {
    let tiles = v.len() / cin;
    let channels = m.len() / tiles;
    let panels: [&[[f32; PANEL]]; P] = std::array::from_fn(|p| u.panel(first_panel + p));
    for t0 in (0..tiles).step_by(TILES) {
        let mut acc = [[[0.0; PANEL]; P]; TILES];
        kernel_rows::<TILES, P, PANEL, FUSED>(&mut acc, &v[t0 * cin..], cin, panels);
        // Whole panels (the rows of `m` are padded to them): fixed-size copies, not memcpy calls.
        for (r, acc) in acc.iter().enumerate() {
            for (p, acc) in acc.iter().enumerate() {
                let at = (t0 + r) * channels + (first_panel + p) * PANEL;
                if let Some(out) = m[at..].first_chunk_mut::<PANEL>() {
                    *out = *acc;
                }
            }
        }
    }
}

/// `Aᵀ·m·A` of the N² products of each of the pass's tiles, eight channels at a time, then bias and PReLU, into
/// the task's output rows (`wo` pixels each); outputs past the right or bottom edge are dropped.
#[inline(always)]
fn transform_output<A: Algorithm<N, M>, const N: usize, const M: usize>(
    cout: usize,
    wo: usize,
    tiles: Range<usize>,
    m: &[f32],
    dst: &mut [f32],
    epilogue: Epilogue<'_>,
) {
    let out_rows = dst.len() / (wo * cout);
    let tiles_x = wo.div_ceil(M);
    let stride = m.len() / (N * N * cout.next_multiple_of(PANEL));
    let (full, half) = (cout / LANES * LANES, cout / 4 * 4);
    for (at_tile, tile) in tiles.enumerate() {
        let place = Place {
            tile: at_tile,
            tiles: stride,
            cout,
            out_rows,
            wo,
            y0: tile / tiles_x * M,
            x0: tile % tiles_x * M,
        };
        for c in (0..full).step_by(LANES) {
            output_lanes::<A, N, M, LANES>(m, dst, &place, c, epilogue);
        }
        for c in (full..half).step_by(4) {
            output_lanes::<A, N, M, 4>(m, dst, &place, c, epilogue);
        }
        for c in half..cout {
            output_lanes::<A, N, M, 1>(m, dst, &place, c, epilogue);
        }
    }
}

/// Where one tile's outputs go.
struct Place {
    /// The tile's index in the pass's scratch, which holds `tiles` (a multiple of 4) a position.
    tile: usize,
    tiles: usize,
    cout: usize,
    out_rows: usize,
    wo: usize,
    y0: usize,
    x0: usize,
}

/// The output transform of channels `c .. c + L` of one tile (position (i, j)'s products start at
/// `((i·N + j)·tiles + tile)·channels`), with the epilogue.
#[inline(always)]
fn output_lanes<A: Algorithm<N, M>, const N: usize, const M: usize, const L: usize>(
    m: &[f32],
    dst: &mut [f32],
    place: &Place,
    c: usize,
    epilogue: Epilogue<'_>,
) {
    let Place { tile, tiles, cout, .. } = *place;
    let (first, position) = (
        tile * cout.next_multiple_of(PANEL) + c,
        tiles * cout.next_multiple_of(PANEL),
    );
    let outputs = A::output_tile::<L>(m, first, position);
    let bias = lanes::<L>(epilogue.bias, c);
    let alpha = epilogue.alpha.map(|a| lanes::<L>(a, c));
    for (k, row) in outputs.into_iter().enumerate() {
        let oy = place.y0 + k;
        if oy >= place.out_rows {
            break;
        }
        for (kx, y) in row.into_iter().enumerate() {
            let ox = place.x0 + kx;
            if ox >= place.wo {
                break;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tensor::{bits, patterned_values};

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

    /// The input transform of every tile of an `h`×`w` map (the last tile column and row reaching past the
    /// edge), eight or sixteen channels a vector.
    fn transformed<A: Algorithm<N, M>, const N: usize, const M: usize>(x: &Tensor, sixteen: bool) -> Vec<f32> {
        let tiles = (x.h - 2).div_ceil(M) * (x.w - 2).div_ceil(M);
        let mut v = vec![f32::NAN; N * N * tiles.next_multiple_of(TILES) * x.c];
        let input = Input {
            image: x.data(),
            h: x.h,
            w: x.w,
            first_row: 0,
        };
        let mut padded = vec![f32::NAN; N * N * x.c];
        transform_input::<A, N, M>(x.c, input, 0..tiles, &mut v, &mut padded, sixteen);
        v
    }

    #[test]
    fn the_input_transform_gives_the_same_bits_eight_or_sixteen_channels_a_vector() {
        // Sixteen-channel groups, one with eight and four left over, and one with a single channel left over.
        for cin in [16, 28, 32, 17] {
            let x = Tensor::patterned(1, 9, 11, cin);
            for (eight, sixteen) in [
                (transformed::<F2, 4, 2>(&x, false), transformed::<F2, 4, 2>(&x, true)),
                (transformed::<F3, 5, 3>(&x, false), transformed::<F3, 5, 3>(&x, true)),
            ] {
                // NaN where no tile was written (the padding to whole register tiles) in both.
                assert_eq!(bits(&eight), bits(&sixteen), "{cin} channels");
                assert!(eight.iter().any(|v| v.is_finite()));
            }
        }
    }

    #[test]
    fn the_products_give_the_same_bits_one_or_two_panels_a_tile() {
        // One to four panels (an odd one left over in pairs), a partial panel, depths around the networks'.
        for (tiles, cin, cout) in [
            (4, 16, 32),
            (12, 28, 48),
            (8, 32, 64),
            (16, 64, 64),
            (4, 19, 20),
            (8, 16, 16),
        ] {
            let v = patterned_values(tiles * cin);
            let u = PackedMatrix::new(&Weighted::patterned(1, cin, cout, Vec::new(), None).kernel, cin, cout);
            let products = |p: usize, fused: bool| {
                let mut m = vec![f32::NAN; tiles * cout.next_multiple_of(PANEL)];
                match (p, fused) {
                    (1, false) => product::<1, false>(&v, &u, &mut m, cin),
                    (1, true) => product::<1, true>(&v, &u, &mut m, cin),
                    (_, false) => product::<2, false>(&v, &u, &mut m, cin),
                    (_, true) => product::<2, true>(&v, &u, &mut m, cin),
                }
                m
            };
            for fused in [false, true] {
                let (one, two) = (products(1, fused), products(2, fused));
                assert_eq!(bits(&one), bits(&two), "{tiles} tiles, {cin} → {cout}, fused {fused}");
                assert!(one.iter().all(|x| x.is_finite()), "every product written");
            }
            let kernel = Weighted::patterned(1, cin, cout, Vec::new(), None).kernel;
            for (t, row) in products(2, false)
                .chunks_exact(cout.next_multiple_of(PANEL))
                .enumerate()
            {
                for (o, &got) in row[..cout].iter().enumerate() {
                    let want: f64 = (0..cin)
                        .map(|c| f64::from(v[t * cin + c]) * f64::from(kernel[c * cout + o]))
                        .sum();
                    assert!(
                        (f64::from(got) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{got} vs {want}"
                    );
                }
            }
        }
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
            (1, 23, 23, 32, 64, true),
            (2, 30, 37, 16, 32, false),
            // Tile rows wider than one pass (`PASS_BYTES`) of either algorithm.
            (1, 12, 302, 16, 32, true),
        ] {
            let x = Tensor::patterned(n, h, w, cin);
            let bias = (0..cout).map(|o| o as f32 * 0.01 - 0.1).collect();
            let alpha = prelu.then(|| (0..cout).map(|o| 0.1 + o as f32 * 0.01).collect());
            let weights = Weighted::patterned(9, cin, cout, bias, alpha);
            let expected = direct(&x, &weights);
            let conv = Winograd::new(&weights);
            for (tiles, tolerance) in [(Tiles::Two, 2e-5), (Tiles::Three, 2e-5), (Tiles::Four, 6e-5)] {
                let mut y = Tensor::default();
                conv.forward_by(tiles, &x, None, &mut y);
                assert_eq!((y.n, y.h, y.w, y.c), (n, h - 2, w - 2, cout));
                let mut worst = 0.0f64;
                for (got, want) in y.data().iter().zip(&expected) {
                    worst = worst.max((f64::from(*got) - want).abs() / (1.0 + want.abs()));
                }
                eprintln!("{tiles:?} {n}×{h}×{w}×{cin}→{cout}: worst relative {worst:e}");
                assert!(worst <= tolerance, "{tiles:?} {n}×{h}×{w}×{cin}→{cout}: {worst:e}");
            }
        }
    }

    #[test]
    fn a_fused_pointwise_layer_gives_the_bits_of_the_two_layers_in_turn() {
        // Several tasks and passes, and tile rows cut short at the bottom; a narrow (P-Net's 6) and a wide 1×1.
        let x = Tensor::patterned(2, 29, 150, 16);
        let weights = Weighted::patterned(9, 16, 32, vec![0.05; 32], Some(vec![0.25; 32]));
        let conv = Winograd::new(&weights);
        for n in [6, 20] {
            let pointwise = Weighted::patterned(1, 32, n, vec![-0.1; n], None);
            let kernel = PackedMatrix::new(&pointwise.kernel, 32, n);
            let then = Pointwise {
                kernel: &kernel,
                epilogue: Epilogue {
                    bias: &pointwise.bias,
                    alpha: None,
                },
            };
            for tiles in [Tiles::Two, Tiles::Three, Tiles::Four] {
                let (mut y, mut fused) = (Tensor::default(), Tensor::default());
                conv.forward_by(tiles, &x, None, &mut y);
                let mut expected = vec![0.0; y.data().len() / 32 * n];
                matmul(y.data(), &kernel, &mut expected, then.epilogue);
                conv.forward_by(tiles, &x, Some(then), &mut fused);
                assert_eq!((fused.n, fused.h, fused.w, fused.c), (2, 27, 148, n));
                assert!(
                    fused
                        .data()
                        .iter()
                        .zip(&expected)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{tiles:?}, {n} channels"
                );
            }
        }
    }

    #[test]
    fn each_map_takes_the_tiles_with_the_least_work() {
        // P-Net's largest 1080p level, R-Net's map, O-Net's two, and small levels' maps.
        for (ho, wo, tiles) in [
            (319, 571, Tiles::Three),
            (9, 9, Tiles::Three),
            (21, 21, Tiles::Three),
            (8, 8, Tiles::Four),
            (2, 8, Tiles::Two),
            (1, 1, Tiles::Two),
        ] {
            assert_eq!(Tiles::for_output(ho, wo), tiles, "{ho}×{wo}");
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
        Winograd::new(&weights).forward(&Tensor::from_vec(1, 2, 5, 16, vec![1.0; 160]), None, &mut y);
        assert!(y.data().is_empty());
    }
}
