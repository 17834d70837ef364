//! The CPU warp: every crop pixel samples the image bilinearly at its inverse-transformed position; neighbours
//! outside the image count as black, as OpenCV's `warpAffine` with a constant black border does.

use image::RgbImage;
use rayon::prelude::*;

use super::Similarity;
use crate::backend::ImageView;

/// One `size`×`size` crop per transform (image → crop), in parallel.
pub(crate) fn warp_cpu(image: ImageView<'_>, transforms: &[Similarity], size: u32) -> Vec<RgbImage> {
    transforms
        .par_iter()
        .map(|t| {
            let inverse = t.inverse();
            RgbImage::from_fn(size, size, |x, y| {
                let [sx, sy] = inverse.apply([f64::from(x), f64::from(y)]);
                image::Rgb(sample(image, sx as f32, sy as f32))
            })
        })
        .collect()
}

/// Bilinear sample at (x, y), in float32 as the GPU warp computes it; rounded to the nearest grey level.
fn sample(image: ImageView<'_>, x: f32, y: f32) -> [u8; 3] {
    let (w, h) = (i64::from(image.width), i64::from(image.height));
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let pixel = |px: i64, py: i64| -> [f32; 3] {
        if px < 0 || py < 0 || px >= w || py >= h {
            return [0.0; 3];
        }
        let at = ((py * w + px) * 3) as usize;
        [0, 1, 2].map(|c| f32::from(image.rgb[at + c]))
    };
    let (tl, tr, bl, br) = (
        pixel(x0, y0),
        pixel(x0 + 1, y0),
        pixel(x0, y0 + 1),
        pixel(x0 + 1, y0 + 1),
    );
    std::array::from_fn(|c| {
        let top = tl[c] + (tr[c] - tl[c]) * fx;
        let bottom = bl[c] + (br[c] - bl[c]) * fx;
        let v = top + (bottom - top) * fy;
        v.round().clamp(0.0, 255.0) as u8
    })
}
