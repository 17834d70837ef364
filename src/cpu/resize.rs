//! TensorFlow's AREA resize on the CPU: a horizontal pass over the input rows, then a vertical pass, both summed in
//! float32 in the kernel's order so that the pyramid matches the reference bit for bit.

use std::sync::atomic::AtomicUsize;

use multiversion::multiversion;
use rayon::prelude::*;

use super::row_blocks::{interleave_rows, RowBlocks, ROWS};
use super::tensor::{Plane, Sample, Tensor};
use super::thread_scratch::grow_on_every_thread;
use crate::pipeline::pyramid::{area_normaliser, AreaTaps};
use crate::pipeline::workspace::first_n;

/// Resizes one HWC image (`x.n == 1`) to `out_h`×`out_w`.
#[cfg(test)]
pub(crate) fn resize_area(x: &Tensor, out_h: usize, out_w: usize) -> Tensor {
    let mut scratch = ResizeScratch::default();
    let mut out = Tensor::default();
    resize_area_into(
        x.plane(),
        None,
        (out_h, out_w),
        Layout::Interleaved,
        &mut scratch,
        &mut out,
    );
    out
}

/// The taps of the last sizes resized to, kept between calls (a stream of frames resizes to the same sizes).
#[derive(Debug)]
pub(crate) struct ResizeScratch {
    ty: AreaTaps,
    tx: AreaTaps,
}

impl Default for ResizeScratch {
    fn default() -> Self {
        ResizeScratch {
            ty: AreaTaps::new(1, 1),
            tx: AreaTaps::new(1, 1),
        }
    }
}

/// Input rows a band of output rows reads, about: the horizontal pass's output for a band (at most about
/// 1 MB at 1080p's first level) stays in the core's cache until the vertical pass reads it.
const BAND_INPUT_ROWS: usize = 48;

/// How a resized image's values lie in its tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// HWC: each pixel's channels side by side (the GPU path's levels resampled on the host, and the tests).
    #[cfg_attr(not(any(test, feature = "gpu")), allow(dead_code))]
    Interleaved,
    /// Each row's channels one after the other: row `y`, channel `ch`, column `x` at `(y·c + ch)·w + x`, so that
    /// neighbouring pixels of one channel are neighbours in memory (what P-Net's first layer reads, see
    /// `planar_conv.rs`).
    RowPlanar,
}

thread_local! {
    /// A block of RGB rows regrouped column by column, for a resize that was given no [`RowBlocks`].
    static COLUMNS: std::cell::RefCell<Vec<[f32; ROWS]>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The horizontal pass's output for the input rows of one band of output rows.
    static BAND: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}
/// The largest sizes the thread-locals above have been grown to on every thread.
static COLUMNS_GROWN: AtomicUsize = AtomicUsize::new(0);
static BAND_GROWN: AtomicUsize = AtomicUsize::new(0);

/// Output pixels a tile of [`rgb_block`]: their sums are kept in vectors until the tile is written out.
const TILE: usize = 8;

/// The horizontal pass over a block of `ROWS` RGB rows, given column by column (`columns`: one `[T; ROWS]` a
/// column and channel, the rows in its lanes), into `dst` (`ROWS` rows of `out_w` pixels, row-planar). Each tap
/// is 3 vector multiplies and adds for all the rows. Per row and channel the operations and their order are those
/// of the formula, on the samples' units (`Sample::units`), so the sums are bit for bit the formula's, in units.
/// Compiled for AVX2 too.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn rgb_block<T: Sample>(columns: &[[T; ROWS]], tx: &AreaTaps, dst: &mut [f32]) {
    let out_w = dst.len() / (ROWS * 3);
    let mut tile = [[[0.0f32; ROWS]; 3]; TILE];
    for first in (0..out_w).step_by(TILE) {
        let n = TILE.min(out_w - first);
        for (o, kept) in (first..).zip(&mut tile[..n]) {
            // Summed in registers, kept once done.
            let mut sums = [[0.0f32; ROWS]; 3];
            for (i, w) in tx.taps(o) {
                for (sum, column) in sums.iter_mut().zip(&columns[i * 3..i * 3 + 3]) {
                    for (s, &v) in sum.iter_mut().zip(column) {
                        // Not fused: the formula rounds the product, then the sum.
                        *s += v.units() * w;
                    }
                }
            }
            *kept = sums;
        }
        // Written out a row and a channel at a time once the tile is done, so that the sums above stay whole
        // vectors. Row-planar: each row and channel's values are contiguous (interleaved, the compiler turned
        // this loop into scatters, a third of the function's time).
        for (r, row) in dst.chunks_exact_mut(out_w * 3).enumerate() {
            for (ch, channel) in row.chunks_exact_mut(out_w).enumerate() {
                for (value, sums) in channel[first..first + n].iter_mut().zip(&tile) {
                    *value = sums[ch][r];
                }
            }
        }
    }
}

/// Resizes one HWC image to `out_h`×`out_w`, into `out`, its values laid out as `layout` says. `blocks`, when
/// given, holds the same image regrouped (see [`RowBlocks`]): a caller that resizes one image to many sizes
/// regroups it once for all of them.
///
/// The output rows go in bands across threads. A band runs the horizontal pass over the input rows its taps
/// read (whole blocks of `ROWS` rows, so a few rows at a band's ends are summed twice), then the vertical pass
/// from there: the horizontal pass's output never leaves the core's cache, where a pass over the whole image
/// wrote and read back 15 MB at 1080p's first level.
pub(crate) fn resize_area_into<S: Sample>(
    x: Plane<'_, S>,
    blocks: Option<&RowBlocks<S>>,
    (out_h, out_w): (usize, usize),
    layout: Layout,
    scratch: &mut ResizeScratch,
    out: &mut Tensor,
) {
    let c = x.c;
    scratch.ty.rebuild(x.h, out_h);
    scratch.tx.rebuild(x.w, out_w);
    let (ty, tx) = (&scratch.ty, &scratch.tx);
    // The horizontal pass sums the samples' units (see `Sample::UNIT`); the normaliser turns them into values
    // with the same multiplication. (Exact: scaled by a power of two, `k` loses nothing.)
    let k = area_normaliser(ty, tx) * S::UNIT;
    out.reshape(1, out_h, out_w, c);
    if out.data().is_empty() {
        return;
    }
    let row_len = x.w * c;
    debug_assert!(blocks.is_none_or(|b| b.len() == x.h / ROWS && b.block(0).len() == row_len));
    if blocks.is_none() {
        grow_on_every_thread(&COLUMNS, &COLUMNS_GROWN, row_len);
    }
    let band = (BAND_INPUT_ROWS * out_h / x.h).max(1);
    let bands = out_h.div_ceil(band);
    let band_rows = |b: usize| input_blocks(ty, b * band, ((b + 1) * band).min(out_h), x.h);
    let most = (0..bands).map(|b| band_rows(b).len()).max().unwrap_or(0);
    grow_on_every_thread(&BAND, &BAND_GROWN, most * out_w * c);
    out.data_mut()
        .par_chunks_mut(band * out_w * c)
        .enumerate()
        .for_each(|(b, dst)| {
            let rows = band_rows(b);
            BAND.with_borrow_mut(|horizontal| {
                // Grown once, never cleared: every value read below is written first.
                let horizontal = first_n(horizontal, rows.len() * out_w * c);
                for (block, dst) in (rows.start / ROWS..).zip(horizontal.chunks_mut(ROWS * out_w * c)) {
                    let first = block * ROWS;
                    let count = dst.len() / (out_w * c);
                    let src = &x.data[first * row_len..(first + count) * row_len];
                    match blocks {
                        Some(blocks) if c == 3 && count == ROWS => rgb_block(blocks.block(block), tx, dst),
                        None if c == 3 && count == ROWS => COLUMNS.with_borrow_mut(|columns| {
                            let columns = first_n(columns, row_len);
                            interleave_rows(src, columns, S::units);
                            rgb_block(columns, tx, dst);
                        }),
                        _ => plain_rows(src, row_len, tx, c, dst),
                    }
                }
                let held = Held {
                    rows: horizontal,
                    first: rows.start,
                };
                for (o, dst) in (b * band..).zip(dst.chunks_exact_mut(out_w * c)) {
                    match layout {
                        Layout::RowPlanar => column_pass(held, ty, o, k, dst),
                        Layout::Interleaved => column_pass_interleaving(held, ty, o, k, c, dst),
                    }
                }
            });
        });
}

/// The input rows that output rows `o0 .. o1` read, widened to whole blocks of `ROWS` rows (the last block may
/// be shorter: the image's last `h % ROWS` rows).
fn input_blocks(ty: &AreaTaps, o0: usize, o1: usize, h: usize) -> std::ops::Range<usize> {
    let first = ty.taps(o0).map(|(i, _)| i).min().unwrap_or(0);
    let last = ty.taps(o1 - 1).map(|(i, _)| i).max().unwrap_or(0);
    first / ROWS * ROWS..((last + 1).div_ceil(ROWS) * ROWS).min(h)
}

/// The horizontal pass over `src` (whole rows of `row_len` values, `c` channels a pixel) one value at a time, into
/// `dst` (the same rows, resized, row-planar): rows that are not RGB, or the last `h % ROWS` rows.
fn plain_rows<S: Sample>(src: &[S], row_len: usize, tx: &AreaTaps, c: usize, dst: &mut [f32]) {
    let out_len = dst.len() / (src.len() / row_len);
    let out_w = out_len / c;
    for (src, dst) in src.chunks_exact(row_len).zip(dst.chunks_exact_mut(out_len)) {
        for (ch, channel) in dst.chunks_exact_mut(out_w).enumerate() {
            for (o, out) in channel.iter_mut().enumerate() {
                let mut acc = 0.0;
                for (i, w) in tx.taps(o) {
                    acc += src[i * c + ch].units() * w;
                }
                *out = acc;
            }
        }
    }
}

/// What tap `t`'s product is added to: zero for the first tap (whatever the row held before), else the sum so far.
/// The first tap starts the sums from zero as the formula does (0 + x, not x: the same bits, -0 included), without
/// a pass that zeroes the row first.
#[inline(always)]
fn first_or_sum(t: usize, sum: f32) -> f32 {
    if t == 0 {
        0.0
    } else {
        sum
    }
}

/// Rows of the horizontal pass held for a band: input rows `first ..`, row-planar (each channel's sums one run),
/// in the samples' units.
#[derive(Clone, Copy)]
struct Held<'a> {
    rows: &'a [f32],
    first: usize,
}

impl Held<'_> {
    /// Input row `i`'s horizontal sums, `len` values.
    #[inline(always)]
    fn row(&self, i: usize, len: usize) -> &[f32] {
        &self.rows[(i - self.first) * len..][..len]
    }
}

/// [`column_pass`] into an interleaved output row of `c` channels: the same sums, each channel's values taken
/// from its own part of the row-planar rows (for RGB one group of three stores a pixel, which the compiler turns
/// into vector shuffles). The GPU path's host-resampled levels and the tests take this layout.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn column_pass_interleaving(rows: Held<'_>, ty: &AreaTaps, o: usize, k: f32, c: usize, dst: &mut [f32]) {
    let out_w = dst.len() / c;
    for (t, (i, w)) in ty.taps(o).enumerate() {
        let row = rows.row(i, c * out_w);
        if c == 3 {
            let (red, rest) = row.split_at(out_w);
            let (green, blue) = rest.split_at(out_w);
            for (((pixel, &r), &g), &b) in dst.chunks_exact_mut(3).zip(red).zip(green).zip(blue) {
                pixel[0] = first_or_sum(t, pixel[0]) + r * w;
                pixel[1] = first_or_sum(t, pixel[1]) + g * w;
                pixel[2] = first_or_sum(t, pixel[2]) + b * w;
            }
            continue;
        }
        for (ch, channel) in row.chunks_exact(out_w).enumerate() {
            for (pixel, &v) in dst.chunks_exact_mut(c).zip(channel) {
                pixel[ch] = first_or_sum(t, pixel[ch]) + v * w;
            }
        }
    }
    for v in dst.iter_mut() {
        *v *= k;
    }
}

/// Output row `o` of the vertical pass: the rows of the horizontal pass under it, weighted, then the
/// normaliser `k`; both row-planar. Compiled for AVX2 too (as a closure, it was compiled for the baseline only).
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn column_pass(rows: Held<'_>, ty: &AreaTaps, o: usize, k: f32, dst: &mut [f32]) {
    let row_len = dst.len();
    for (t, (i, w)) in ty.taps(o).enumerate() {
        for (acc, &v) in dst.iter_mut().zip(rows.row(i, row_len)) {
            *acc = first_or_sum(t, *acc) + v * w;
        }
    }
    for v in dst.iter_mut() {
        *v *= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where channel `ch` of pixel `x` of row `r` lies in rows of `w` pixels and `c` channels.
    fn at(layout: Layout, r: usize, x: usize, ch: usize, w: usize, c: usize) -> usize {
        match layout {
            Layout::Interleaved => (r * w + x) * c + ch,
            Layout::RowPlanar => (r * c + ch) * w + x,
        }
    }

    #[test]
    fn other_channel_counts_lay_out_row_planar_the_same_values() {
        let x = Tensor::patterned(1, 11, 13, 4);
        let (mut interleaved, mut planar) = (Tensor::default(), Tensor::default());
        for (layout, out) in [
            (Layout::Interleaved, &mut interleaved),
            (Layout::RowPlanar, &mut planar),
        ] {
            resize_area_into(x.plane(), None, (5, 7), layout, &mut ResizeScratch::default(), out);
        }
        for (r, px, ch) in (0..5).flat_map(|r| (0..7).flat_map(move |px| (0..4).map(move |ch| (r, px, ch)))) {
            let want = interleaved.data()[at(Layout::Interleaved, r, px, ch, 7, 4)];
            assert_eq!(
                planar.data()[at(Layout::RowPlanar, r, px, ch, 7, 4)].to_bits(),
                want.to_bits()
            );
        }
    }

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let x = Tensor::from_vec(1, 2, 4, 1, vec![1.0, 3.0, 5.0, 7.0, 3.0, 5.0, 7.0, 9.0]);
        let y = resize_area(&x, 1, 2);
        assert_eq!(y.data(), [3.0, 7.0]);
    }

    /// Resizes `pixels` (`h`×`w` RGB) to `out_h`×19 with and without regrouped rows, in both layouts, and checks
    /// every value's bits against the spec's formula, one value at a time: x taps first, ascending, then y taps,
    /// then the normaliser.
    fn assert_bit_for_bit<S: Sample + Default>(pixels: &[S], h: usize, w: usize, out_h: usize) {
        let plane = Plane {
            h,
            w,
            c: 3,
            data: pixels,
        };
        // 19 output columns leave a ragged tile of 3.
        let out_w = 19;
        let (ty, tx) = (AreaTaps::new(h, out_h), AreaTaps::new(w, out_w));
        let k = area_normaliser(&ty, &tx);
        let mut blocks = RowBlocks::default();
        blocks.fill(plane);
        let cases = [None, Some(&blocks)]
            .into_iter()
            .flat_map(|b| [(b, Layout::Interleaved), (b, Layout::RowPlanar)]);
        for (blocks, layout) in cases {
            let mut got = Tensor::default();
            resize_area_into(
                plane,
                blocks,
                (out_h, out_w),
                layout,
                &mut ResizeScratch::default(),
                &mut got,
            );
            for oy in 0..out_h {
                for ox in 0..out_w {
                    for ch in 0..3 {
                        let mut sum = 0.0f32;
                        for (iy, wy) in ty.taps(oy) {
                            let mut row = 0.0f32;
                            for (ix, wx) in tx.taps(ox) {
                                row += pixels[(iy * w + ix) * 3 + ch].value() * wx;
                            }
                            sum += row * wy;
                        }
                        let want = sum * k;
                        let value = got.data()[at(layout, oy, ox, ch, out_w, 3)];
                        let regrouped = blocks.is_some();
                        assert_eq!(
                            value.to_bits(),
                            want.to_bits(),
                            "({oy}, {ox}, {ch}), regrouped {regrouped}, {layout:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_rgb_image_resizes_bit_for_bit_as_the_reference_formula() {
        // 8-row RGB blocks take the vector path; 21 rows leave a 5-row block for the plain one. 21 rows to 9 are
        // one band; 203 rows to 61 are five, whose input rows overlap, the last ending in a 3-row block.
        for (h, out_h) in [(21, 9), (203, 61)] {
            let w = 37;
            // Floats with full mantissas, so that any change in rounding (a fused multiply-add, another order)
            // shows.
            let floats: Vec<f32> = (0..h * w * 3).map(|i| (i as f32 * 0.737).sin() * 0.99).collect();
            assert_bit_for_bit(&floats, h, w, out_h);
            // And the detector's own input, 8-bit samples read as normalised values.
            let bytes: Vec<u8> = (0..h * w * 3).map(|i| (i * 89 % 256) as u8).collect();
            assert_bit_for_bit(&bytes, h, w, out_h);
        }
    }

    #[test]
    fn a_constant_image_stays_constant_up_to_rounding() {
        let x = Tensor::from_vec(1, 37, 53, 3, vec![0.25; 37 * 53 * 3]);
        let y = resize_area(&x, 22, 31);
        assert!(y.data().iter().all(|v| (v - 0.25).abs() < 1e-6));
    }
}
