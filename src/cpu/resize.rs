//! TensorFlow's AREA resize on the CPU: a horizontal pass over every input row, then a vertical pass, both summed
//! in float32 in the kernel's order so that the pyramid matches the reference bit for bit.

use rayon::prelude::*;

use super::tensor::{Plane, Sample, Tensor};
use crate::pipeline::pyramid::{area_normaliser, AreaTaps};

/// Resizes one HWC image (`x.n == 1`) to `out_h`×`out_w`.
#[cfg(test)]
pub(crate) fn resize_area(x: &Tensor, out_h: usize, out_w: usize) -> Tensor {
    let mut scratch = ResizeScratch::default();
    let mut out = Tensor::default();
    resize_area_into(x.plane(), out_h, out_w, &mut scratch, &mut out);
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

/// Resizes one HWC image to `out_h`×`out_w`, into `out`.
pub(crate) fn resize_area_into<S: Sample>(
    x: Plane<'_, S>,
    out_h: usize,
    out_w: usize,
    scratch: &mut ResizeScratch,
    out: &mut Tensor,
) {
    let c = x.c;
    scratch.ty.rebuild(x.h, out_h);
    scratch.tx.rebuild(x.w, out_w);
    let (ty, tx) = (&scratch.ty, &scratch.tx);
    let k = area_normaliser(ty, tx);

    // Horizontal pass over every input row. Blocks of ROWS rows share the taps, so that RGB runs 3·ROWS
    // independent float32 sums at once instead of waiting on one chain of dependent adds.
    const ROWS: usize = 8;
    let row_len = x.w * c;
    let rows = &mut scratch.rows;
    rows.clear();
    rows.resize(x.h * out_w * c, 0.0);
    rows.par_chunks_mut(ROWS * out_w * c)
        .enumerate()
        .for_each(|(block, dst)| {
            let first = block * ROWS;
            let count = dst.len() / (out_w * c);
            let src = &x.data[first * row_len..(first + count) * row_len];
            if c == 3 && count == ROWS {
                for o in 0..out_w {
                    let mut acc = [[0.0f32; 3]; ROWS];
                    for (i, w) in tx.taps(o) {
                        for (r, a) in acc.iter_mut().enumerate() {
                            let p = &src[r * row_len + i * 3..][..3];
                            let (p0, p1, p2) = (p[0].value(), p[1].value(), p[2].value());
                            *a = [a[0] + p0 * w, a[1] + p1 * w, a[2] + p2 * w];
                        }
                    }
                    for (r, a) in acc.iter().enumerate() {
                        dst[(r * out_w + o) * 3..][..3].copy_from_slice(a);
                    }
                }
            } else {
                for r in 0..count {
                    for o in 0..out_w {
                        let cell = &mut dst[(r * out_w + o) * c..][..c];
                        for (i, w) in tx.taps(o) {
                            for (acc, &v) in cell.iter_mut().zip(&src[r * row_len + i * c..][..c]) {
                                *acc += v.value() * w;
                            }
                        }
                    }
                }
            }
        });

    out.reshape(1, out_h, out_w, c);
    out.data_mut()
        .par_chunks_mut(out_w * c)
        .enumerate()
        .for_each(|(o, dst)| {
            dst.fill(0.0);
            for (i, w) in ty.taps(o) {
                for (acc, &v) in dst.iter_mut().zip(&rows[i * out_w * c..(i + 1) * out_w * c]) {
                    *acc += v * w;
                }
            }
            for v in dst.iter_mut() {
                *v *= k;
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let x = Tensor::from_vec(1, 2, 4, 1, vec![1.0, 3.0, 5.0, 7.0, 3.0, 5.0, 7.0, 9.0]);
        let y = resize_area(&x, 1, 2);
        assert_eq!(y.data(), [3.0, 7.0]);
    }

    #[test]
    fn a_constant_image_stays_constant_up_to_rounding() {
        let x = Tensor::from_vec(1, 37, 53, 3, vec![0.25; 37 * 53 * 3]);
        let y = resize_area(&x, 22, 31);
        assert!(y.data().iter().all(|v| (v - 0.25).abs() < 1e-6));
    }
}
