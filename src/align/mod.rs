//! Face alignment: the least-squares similarity transform (rotation, uniform scale, translation) from a face's
//! five keypoints to the ArcFace 112×112 template, and the bilinear warp of the image through it.
//!
//! ```no_run
//! use mtcnn_wgpu::{align, Detector};
//!
//! let detector = Detector::new()?;
//! let image = image::open("astronaut.png")?.to_rgb8();
//! for (i, face) in detector.detect(&image)?.iter().enumerate() {
//!     align(&image, face, 112)?.save(format!("face_{i}.png"))?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`crate::Detector::align_faces`] aligns all faces of an image in one pass, on the detector's device.

mod similarity;
mod warp;

pub use similarity::Similarity;
pub(crate) use warp::warp_cpu;

use image::RgbImage;

use crate::backend::ImageView;
use crate::error::{Error, Result};
use crate::face::Face;
use crate::pixels::Pixels;

/// The ArcFace template for a 112×112 crop: left eye, right eye, nose, left and right mouth corner, as (x, y).
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// The side of the crop the template is made for.
pub const ARCFACE_SIZE: u32 = 112;

/// The template scaled to a `size`×`size` crop (by size / 112).
pub fn template(size: u32) -> [[f32; 2]; 5] {
    let k = size as f32 / ARCFACE_SIZE as f32;
    ARCFACE_TEMPLATE.map(|[x, y]| [x * k, y * k])
}

/// The transform that takes `face`'s keypoints to the template of a `size`×`size` crop, or an error when the face
/// has no keypoints (a `Stages::FacesOnly` detector), when they are not finite, or when they are degenerate (all
/// in one place), or when `size` is 0.
pub fn alignment_transform(face: &Face, size: u32) -> Result<Similarity> {
    if size == 0 {
        return Err(Error::Alignment("the crop size must be at least 1".into()));
    }
    let keypoints = face.keypoints.ok_or_else(|| {
        Error::Alignment("the face has no keypoints (the detector ran with Stages::FacesOnly)".into())
    })?;
    let points = keypoints.to_array().map(|p| [p.x, p.y]);
    Similarity::fit(&points, &template(size))
}

/// The aligned `size`×`size` crop of `face` (112 for the standard ArcFace crop): the image warped through
/// [`alignment_transform`] with bilinear sampling, black outside the image. Runs on the CPU; see
/// [`crate::Detector::align_faces`] for all faces of an image at once on the detector's device. Takes the images
/// [`crate::Detector::detect`] takes (`&RgbImage`, [`crate::Pixels`], …).
pub fn align<'a>(image: impl Into<Pixels<'a>>, face: &Face, size: u32) -> Result<RgbImage> {
    let transform = alignment_transform(face, size)?;
    let mut copy = Vec::new();
    Ok(warp_cpu(ImageView::of(&image.into(), &mut copy), &[transform], size)
        .pop()
        .unwrap_or_default())
}
