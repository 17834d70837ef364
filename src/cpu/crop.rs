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
        for (sy, dst_row) in ys[..crop].iter().zip(dst.chunks_exact_mut(crop * c)) {
            let Some((top, bottom, ly)) = *sy else {
                dst_row.fill(0.0);
                continue;
            };
            let row = |y: usize| &x.data[y * x.w * c..][..x.w * c];
            let (t, b) = (row(top), row(bottom));
            if c == 3 {
                rgb_row(t, b, ly, &xs[..crop], dst_row);
            } else {
                for (sx, cell) in xs[..crop].iter().zip(dst_row.chunks_exact_mut(c)) {
                    let Some((left, right, lx)) = *sx else {
                        cell.fill(0.0);
                        continue;
                    };
                    for (ch, out) in cell.iter_mut().enumerate() {
                        let at = |line: &[S], xx: usize| line[xx * c + ch].looked_up();
                        *out = bilinear(at(t, left), at(t, right), at(b, left), at(b, right), lx, ly);
                    }
                }
            }
        }
    }
}

/// One output row of an RGB crop from its two source rows: three channels a pixel, known at compile time, so
/// that the loads need no bounds checks beyond one a source pixel.
#[inline(always)]
fn rgb_row<S: Sample>(top: &[S], bottom: &[S], ly: f32, xs: &[Tap], dst_row: &mut [f32]) {
    let pixel = |line: &[S], xx: usize| -> [f32; 3] {
        let p = &line[xx * 3..xx * 3 + 3];
        [p[0].looked_up(), p[1].looked_up(), p[2].looked_up()]
    };
    for (sx, cell) in xs.iter().zip(dst_row.chunks_exact_mut(3)) {
        let Some((left, right, lx)) = *sx else {
            cell.fill(0.0);
            continue;
        };
        let (tl, tr, bl, br) = (
            pixel(top, left),
            pixel(top, right),
            pixel(bottom, left),
            pixel(bottom, right),
        );
        for ch in 0..3 {
            cell[ch] = bilinear(tl[ch], tr[ch], bl[ch], br[ch], lx, ly);
        }
    }
}

/// TensorFlow's bilinear step, in its order: across the top and the bottom row, then between them.
#[inline(always)]
fn bilinear(tl: f32, tr: f32, bl: f32, br: f32, lx: f32, ly: f32) -> f32 {
    let t = tl + (tr - tl) * lx;
    let b = bl + (br - bl) * lx;
    t + (b - t) * ly
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

    /// Every tap one channel at a time through the byte table: what the vector row must equal, bit for bit.
    fn scalar_crop(x: Plane<'_, u8>, b: &CropBox, crop: usize) -> Vec<f32> {
        let (ys, xs) = (axis_samples(b.y1, b.y2, x.h, crop), axis_samples(b.x1, b.x2, x.w, crop));
        let mut out = Vec::new();
        for sy in &ys[..crop] {
            for sx in &xs[..crop] {
                for ch in 0..3 {
                    out.push(match (sy, sx) {
                        (Some((top, bottom, ly)), Some((left, right, lx))) => {
                            let at = |y: usize, xx: usize| x.data[(y * x.w + xx) * 3 + ch].looked_up();
                            bilinear(
                                at(*top, *left),
                                at(*top, *right),
                                at(*bottom, *left),
                                at(*bottom, *right),
                                *lx,
                                *ly,
                            )
                        }
                        _ => 0.0,
                    });
                }
            }
        }
        out
    }

    #[test]
    fn rgb_rows_equal_the_scalar_taps_bit_for_bit_up_to_the_last_pixel() {
        let (h, w) = (37, 53);
        let data: Vec<u8> = (0..h * w * 3).map(|i| (i * 97 % 251) as u8).collect();
        let x = Plane {
            h,
            w,
            c: 3,
            data: &data[..],
        };
        let float: Vec<f32> = data.iter().map(|v| v.value()).collect();
        let xf = Plane {
            h,
            w,
            c: 3,
            data: &float[..],
        };
        let boxes = [
            CropBox {
                y1: 0.0,
                x1: 0.0,
                y2: 1.0,
                x2: 1.0,
            }, // reaches the last pixel (its 4-byte load would overrun)
            CropBox {
                y1: 0.1,
                x1: 0.23,
                y2: 0.57,
                x2: 0.9,
            },
            CropBox {
                y1: -0.2,
                x1: 0.5,
                y2: 0.4,
                x2: 1.3,
            }, // partly outside
            CropBox {
                y1: 0.31,
                x1: 0.31,
                y2: 0.33,
                x2: 0.32,
            }, // upsampled
        ];
        for crop in [24, 48] {
            let mut out = vec![0.0; boxes.len() * crop * crop * 3];
            crop_and_resize(x, &boxes, crop, &mut out);
            let mut from_floats = vec![0.0; out.len()];
            crop_and_resize(xf, &boxes, crop, &mut from_floats);
            for (i, b) in boxes.iter().enumerate() {
                let got = &out[i * crop * crop * 3..][..crop * crop * 3];
                let expected = scalar_crop(x, b, crop);
                assert!(
                    got.iter().zip(&expected).all(|(a, e)| a.to_bits() == e.to_bits()),
                    "box {i}, crop {crop}"
                );
            }
            assert_eq!(out, from_floats, "bytes and their float values crop alike");
        }
    }
}
