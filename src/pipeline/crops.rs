//! Crop boxes and sample positions of `tf.image.crop_and_resize` (bilinear, extrapolation 0), which the package
//! uses to cut the 24×24 and 48×48 inputs of R-Net and O-Net (`utils/images.py: extract_patches`).

use super::boxes::Candidate;

/// A crop box as TensorFlow receives it: corners divided by the image size, float32.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CropBox {
    pub y1: f32,
    pub x1: f32,
    pub y2: f32,
    pub x2: f32,
}

impl CropBox {
    /// `[y1/H, x1/W, y2/H, x2/W]`, divided in float64 and then rounded to float32.
    pub fn normalized(b: &Candidate, width: u32, height: u32) -> Self {
        let (w, h) = (f64::from(width), f64::from(height));
        CropBox {
            y1: (b.y1 / h) as f32,
            x1: (b.x1 / w) as f32,
            y2: (b.y2 / h) as f32,
            x2: (b.x2 / w) as f32,
        }
    }
}

/// Where the `crop` samples of one axis fall on an image axis of `size` pixels, in float32 as TensorFlow computes
/// them: `c1·(size−1) + r·((c2−c1)·(size−1)/(crop−1))`. A position outside `[0, size−1]` reads the extrapolation
/// value (0, i.e. grey 127.5 in pixel terms). `crop == 1` samples the centre.
pub(crate) fn sample_positions(c1: f32, c2: f32, size: usize, crop: usize) -> impl Iterator<Item = f32> {
    let last = (size - 1) as f32;
    let (start, step, centre) = if crop > 1 {
        (c1 * last, (c2 - c1) * last / (crop - 1) as f32, 0.0)
    } else {
        (0.0, 0.0, (0.5 * f64::from(c1 + c2) * (size - 1) as f64) as f32)
    };
    (0..crop).map(move |r| if crop > 1 { start + r as f32 * step } else { centre })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_run_corner_to_corner_scaled_by_size_minus_one() {
        // A box over the whole 11-pixel axis: y1 = 0, y2 = 1 → samples 0, 1, ..., 10 at crop 11.
        let v: Vec<f32> = sample_positions(0.0, 1.0, 11, 11).collect();
        assert_eq!(v, (0..11).map(|i| i as f32).collect::<Vec<_>>());
        // The package passes x/W, so pixel 20 on a 100-wide image is sampled at 20·99/100 = 19.8.
        let c = CropBox::normalized(&Candidate::new(20.0, 0.0, 60.0, 10.0, 1.0), 100, 50);
        let first = sample_positions(c.x1, c.x2, 100, 24).next().unwrap();
        assert!((first - 19.8).abs() < 1e-5, "{first}");
    }
}
