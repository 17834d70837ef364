//! `tf.image.crop_and_resize` (bilinear, extrapolation value 0) on the CPU, float32 in TensorFlow's order.

use super::tensor::{Plane, Sample};
use crate::pipeline::crops::{sample_positions, CropBox};

/// The largest crop side (O-Net's input).
const MAX_CROP: usize = 48;

/// One sample: the two neighbours and the fraction, or `None` outside `[0, size−1]`.
type Tap = Option<(usize, usize, f32)>;

/// One axis's samples, in a fixed array so that cropping allocates nothing; the first `crop` are used.
fn axis_samples(c1: f32, c2: f32, size: usize, crop: usize) -> [Tap; MAX_CROP] {
    let last = (size - 1) as f32;
    let mut samples = [None; MAX_CROP];
    for (s, p) in samples.iter_mut().zip(sample_positions(c1, c2, size, crop)) {
        // `!(p < 0 || p > last)` keeps NaN inside, as TensorFlow does; the casts then saturate to 0.
        *s = if p < 0.0 || p > last {
            None
        } else {
            let lo = p.floor();
            Some((lo as usize, (p.ceil() as usize).min(size - 1), p - lo))
        };
    }
    samples
}

/// Cuts `crop`×`crop` HWC patches from the image `x` for each box, into `out` (`boxes.len() · crop · crop · c`
/// values). `crop` is at most 48.
pub(crate) fn crop_and_resize<S: Sample>(x: Plane<'_, S>, boxes: &[CropBox], crop: usize, out: &mut [f32]) {
    debug_assert!(crop <= MAX_CROP);
    let c = x.c;
    let patch = crop * crop * c;
    for (b, dst) in boxes.iter().zip(out.chunks_exact_mut(patch)) {
        let ys = axis_samples(b.y1, b.y2, x.h, crop);
        let xs = axis_samples(b.x1, b.x2, x.w, crop);
        for (r, sy) in ys[..crop].iter().enumerate() {
            for (q, sx) in xs[..crop].iter().enumerate() {
                let cell = &mut dst[(r * crop + q) * c..][..c];
                let (Some((top, bottom, ly)), Some((left, right, lx))) = (sy, sx) else {
                    cell.fill(0.0);
                    continue;
                };
                let at = |yy: usize, xx: usize| &x.data[(yy * x.w + xx) * c..][..c];
                let (tl, tr, bl, br) = (
                    at(*top, *left),
                    at(*top, *right),
                    at(*bottom, *left),
                    at(*bottom, *right),
                );
                for ch in 0..c {
                    let (tl, tr, bl, br) = (tl[ch].value(), tr[ch].value(), bl[ch].value(), br[ch].value());
                    let t = tl + (tr - tl) * lx;
                    let bo = bl + (br - bl) * lx;
                    cell[ch] = t + (bo - t) * ly;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tensor::Tensor;

    #[test]
    fn whole_image_box_reproduces_the_corners_and_outside_is_zero() {
        let x = Tensor::from_vec(1, 2, 2, 1, vec![0.0, 1.0, 2.0, 3.0]);
        let mut out = vec![9.0; 9 * 2];
        let whole = CropBox {
            y1: 0.0,
            x1: 0.0,
            y2: 1.0,
            x2: 1.0,
        };
        let outside = CropBox {
            y1: 2.0,
            x1: 2.0,
            y2: 3.0,
            x2: 3.0,
        };
        crop_and_resize(x.plane(), &[whole, outside], 3, &mut out);
        assert_eq!(&out[..9], &[0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0]);
        assert!(out[9..].iter().all(|&v| v == 0.0));
    }
}
