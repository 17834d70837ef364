//! TensorFlow's AREA resize on the CPU: a horizontal pass over every input row, then a vertical pass, both summed
//! in float32 in the kernel's order so that the pyramid matches the reference bit for bit.

use rayon::prelude::*;

use super::tensor::Tensor;
use crate::pipeline::pyramid::{area_normaliser, AreaTaps};

/// Resizes one HWC image (`x.n == 1`) to `out_h`×`out_w`.
pub(crate) fn resize_area(x: &Tensor, out_h: usize, out_w: usize) -> Tensor {
    let c = x.c;
    let ty = AreaTaps::new(x.h, out_h);
    let tx = AreaTaps::new(x.w, out_w);
    let k = area_normaliser(&ty, &tx);

    let mut rows = vec![0.0f32; x.h * out_w * c];
    rows.par_chunks_mut(out_w * c).enumerate().for_each(|(y, dst)| {
        let src = &x.data[y * x.row_len()..(y + 1) * x.row_len()];
        for (o, cell) in dst.chunks_exact_mut(c).enumerate() {
            for (i, w) in tx.taps(o) {
                for (acc, &v) in cell.iter_mut().zip(&src[i * c..(i + 1) * c]) {
                    *acc += v * w;
                }
            }
        }
    });

    let mut out = Tensor::zeros(1, out_h, out_w, c);
    out.data.par_chunks_mut(out_w * c).enumerate().for_each(|(o, dst)| {
        for (i, w) in ty.taps(o) {
            for (acc, &v) in dst.iter_mut().zip(&rows[i * out_w * c..(i + 1) * out_w * c]) {
                *acc += v * w;
            }
        }
        for v in dst.iter_mut() {
            *v *= k;
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let x = Tensor::from_vec(1, 2, 4, 1, vec![1.0, 3.0, 5.0, 7.0, 3.0, 5.0, 7.0, 9.0]);
        let y = resize_area(&x, 1, 2);
        assert_eq!(y.data, [3.0, 7.0]);
    }

    #[test]
    fn a_constant_image_stays_constant_up_to_rounding() {
        let x = Tensor::from_vec(1, 37, 53, 3, vec![0.25; 37 * 53 * 3]);
        let y = resize_area(&x, 22, 31);
        assert!(y.data.iter().all(|v| (v - 0.25).abs() < 1e-6));
    }
}
