//! TensorFlow's AREA resize on the CPU: a horizontal pass over every input row, then a vertical pass, both summed
//! in float32 in the kernel's order so that the pyramid matches the reference bit for bit.

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

/// What one resize needs besides its input and output, kept between calls so that resizing allocates nothing
/// once it has seen the sizes.
#[derive(Debug)]
pub(crate) struct ResizeScratch {
    ty: AreaTaps,
    tx: AreaTaps,
    /// The horizontal pass's output: every input row, resized.
    rows: Vec<f32>,
}

impl Default for ResizeScratch {
    fn default() -> Self {
        ResizeScratch {
            ty: AreaTaps::new(1, 1),
            tx: AreaTaps::new(1, 1),
            rows: Vec::new(),
        }
    }
}

/// How a resized image's values lie in its tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// HWC: each pixel's channels side by side.
    Interleaved,
    /// Each row's channels one after the other: row `y`, channel `ch`, column `x` at `(y·c + ch)·w + x`, so that
    /// neighbouring pixels of one channel are neighbours in memory (what P-Net's first layer reads, see
    /// `planar_conv.rs`).
    RowPlanar,
}

thread_local! {
    /// A block of RGB rows regrouped column by column, for a resize that was given no [`RowBlocks`].
    static COLUMNS: std::cell::RefCell<Vec<[f32; ROWS]>> = const { std::cell::RefCell::new(Vec::new()) };
}
/// The largest size `COLUMNS` has been grown to on every thread.
static COLUMNS_GROWN: AtomicUsize = AtomicUsize::new(0);

/// Output pixels a tile of [`rgb_block`]: their sums are kept in vectors until the tile is written out.
const TILE: usize = 8;

/// The horizontal pass over a block of `ROWS` RGB rows, given column by column (`columns`: one `[T; ROWS]` a
/// column and channel, the rows in its lanes), into `dst` (`ROWS` rows of `out_w` pixels). Each tap is 3 vector
/// multiplies and adds for all the rows. Per row and channel the operations and their order are those of the
/// formula, so the sums are bit for bit the same. Compiled for AVX2 too.
#[multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
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
                        *s += v.value() * w;
                    }
                }
            }
            *kept = sums;
        }
        // Written out a row at a time once the tile is done, so that the sums above stay whole vectors.
        for (r, row) in dst.chunks_exact_mut(out_w * 3).enumerate() {
            for (pixel, sums) in row[first * 3..(first + n) * 3].chunks_exact_mut(3).zip(&tile) {
                pixel.copy_from_slice(&[sums[0][r], sums[1][r], sums[2][r]]);
            }
        }
    }
}

/// Resizes one HWC image to `out_h`×`out_w`, into `out`, its values laid out as `layout` says. `blocks`, when
/// given, holds the same image regrouped (see [`RowBlocks`]): a caller that resizes one image to many sizes
/// regroups it once for all of them.
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
    let k = area_normaliser(ty, tx);

    // Horizontal pass over every input row, in blocks of ROWS rows that share the taps.
    let row_len = x.w * c;
    debug_assert!(blocks.is_none_or(|b| b.len() == x.h / ROWS && b.block(0).len() == row_len));
    if blocks.is_none() {
        grow_on_every_thread(&COLUMNS, &COLUMNS_GROWN, row_len);
    }
    // Grown once, never cleared: both branches below write every value.
    let rows = first_n(&mut scratch.rows, x.h * out_w * c);
    rows.par_chunks_mut(ROWS * out_w * c)
        .enumerate()
        .for_each(|(block, dst)| {
            let first = block * ROWS;
            let count = dst.len() / (out_w * c);
            let src = &x.data[first * row_len..(first + count) * row_len];
            if c == 3 && count == ROWS {
                match blocks {
                    Some(blocks) => rgb_block(blocks.block(block), tx, dst),
                    None => COLUMNS.with_borrow_mut(|columns| {
                        let columns = first_n(columns, row_len);
                        interleave_rows(src, columns, S::value);
                        rgb_block(columns, tx, dst);
                    }),
                }
            } else {
                for r in 0..count {
                    for o in 0..out_w {
                        for ch in 0..c {
                            let mut acc = 0.0;
                            for (i, w) in tx.taps(o) {
                                acc += src[r * row_len + i * c + ch].value() * w;
                            }
                            dst[(r * out_w + o) * c + ch] = acc;
                        }
                    }
                }
            }
        });

    out.reshape(1, out_h, out_w, c);
    out.data_mut()
        .par_chunks_mut(out_w * c)
        .enumerate()
        .for_each(|(o, dst)| match layout {
            Layout::RowPlanar if c == 3 => column_pass_rgb_planar(rows, ty, o, k, dst),
            Layout::RowPlanar => column_pass_planar(rows, ty, o, k, c, dst),
            Layout::Interleaved => column_pass(rows, ty, o, k, dst),
        });
}

/// [`column_pass`] into a row-planar output row of `c` channels (any count; the detector's RGB takes
/// [`column_pass_rgb_planar`]).
fn column_pass_planar(rows: &[f32], ty: &AreaTaps, o: usize, k: f32, c: usize, dst: &mut [f32]) {
    let out_w = dst.len() / c;
    dst.fill(0.0);
    for (i, w) in ty.taps(o) {
        let row = &rows[i * c * out_w..(i + 1) * c * out_w];
        for (ch, channel) in dst.chunks_exact_mut(out_w).enumerate() {
            for (acc, pixel) in channel.iter_mut().zip(row.chunks_exact(c)) {
                *acc += pixel[ch] * w;
            }
        }
    }
    for v in dst.iter_mut() {
        *v *= k;
    }
}

/// [`column_pass`] for RGB rows into a row-planar output row: the same sums, each channel's values written to its
/// own part of `dst` (one group of three loads a pixel, which the compiler turns into vector shuffles).
#[multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn column_pass_rgb_planar(rows: &[f32], ty: &AreaTaps, o: usize, k: f32, dst: &mut [f32]) {
    let out_w = dst.len() / 3;
    let (red, rest) = dst.split_at_mut(out_w);
    let (green, blue) = rest.split_at_mut(out_w);
    red.fill(0.0);
    green.fill(0.0);
    blue.fill(0.0);
    for (i, w) in ty.taps(o) {
        let row = &rows[i * 3 * out_w..(i + 1) * 3 * out_w];
        for (((pixel, r), g), b) in row
            .chunks_exact(3)
            .zip(red.iter_mut())
            .zip(green.iter_mut())
            .zip(blue.iter_mut())
        {
            *r += pixel[0] * w;
            *g += pixel[1] * w;
            *b += pixel[2] * w;
        }
    }
    for v in dst.iter_mut() {
        *v *= k;
    }
}

/// Output row `o` of the vertical pass: the rows of the horizontal pass under it, weighted, then the
/// normaliser `k`. Compiled for AVX2 too (as a closure, it was compiled for the baseline only).
#[multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn column_pass(rows: &[f32], ty: &AreaTaps, o: usize, k: f32, dst: &mut [f32]) {
    let row_len = dst.len();
    dst.fill(0.0);
    for (i, w) in ty.taps(o) {
        for (acc, &v) in dst.iter_mut().zip(&rows[i * row_len..(i + 1) * row_len]) {
            *acc += v * w;
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

    /// Resizes `pixels` (`h`×`w` RGB) to 9×19 with and without regrouped rows, in both layouts, and checks every
    /// value's bits against the spec's formula, one value at a time: x taps first, ascending, then y taps, then
    /// the normaliser.
    fn assert_bit_for_bit<S: Sample + Default>(pixels: &[S], h: usize, w: usize) {
        let plane = Plane {
            h,
            w,
            c: 3,
            data: pixels,
        };
        // 19 output columns leave a ragged tile of 3.
        let (out_h, out_w) = (9, 19);
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
        // 8-row RGB blocks take the vector path; 21 rows leave a 5-row block for the plain one.
        let (h, w) = (21, 37);
        // Floats with full mantissas, so that any change in rounding (a fused multiply-add, another order) shows.
        let floats: Vec<f32> = (0..h * w * 3).map(|i| (i as f32 * 0.737).sin() * 0.99).collect();
        assert_bit_for_bit(&floats, h, w);
        // And the detector's own input, 8-bit samples read as normalised values.
        let bytes: Vec<u8> = (0..h * w * 3).map(|i| (i * 89 % 256) as u8).collect();
        assert_bit_for_bit(&bytes, h, w);
    }

    #[test]
    fn a_constant_image_stays_constant_up_to_rounding() {
        let x = Tensor::from_vec(1, 37, 53, 3, vec![0.25; 37 * 53 * 3]);
        let y = resize_area(&x, 22, 31);
        assert!(y.data().iter().all(|v| (v - 0.25).abs() < 1e-6));
    }
}
