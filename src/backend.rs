//! The seam between the pipeline and the places where the networks run. A backend makes the pyramid and the
//! crops and runs the three networks; the pipeline (`pipeline/`) owns the order of the steps and all box
//! arithmetic. The CPU path (`cpu/`) and the GPU path (`gpu/`) implement the same two traits.

use crate::align::Similarity;
use crate::error::Result;
use crate::pipeline::boxes::Proposal;
use crate::pipeline::crops::CropBox;
use crate::pipeline::pyramid::PyramidLevel;

/// 8-bit RGB pixels, row-major, 3 bytes a pixel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ImageView<'a> {
    pub width: u32,
    pub height: u32,
    pub rgb: &'a [u8],
}

impl<'a> ImageView<'a> {
    /// The pixels of an `image::RgbImage`, without a copy.
    pub fn of(image: &'a image::RgbImage) -> Self {
        ImageView {
            width: image.width(),
            height: image.height(),
            rgb: image.as_raw(),
        }
    }
}

/// R-Net's verdict on one crop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Refinement {
    pub score: f32,
    pub reg: [f32; 4],
}

/// O-Net's verdict on one crop; landmarks are `[x1..x5, y1..y5]` relative to the crop box, in 0..1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Landmarking {
    pub score: f32,
    pub reg: [f32; 4],
    pub landmarks: [f32; 10],
}

/// A place where the networks run.
pub(crate) trait Backend: Send + Sync {
    /// Takes a batch of images; the returned pass runs each stage on all of them together (a GPU backend uploads
    /// them once here, and each stage is one submission for the whole batch).
    fn begin<'a>(&'a self, images: &[ImageView<'a>]) -> Result<Box<dyn Pass + 'a>>;

    /// How many of `images` (from the first) one pass should take: all of them on a GPU as long as they fit its
    /// buffers, one at a time on the CPU, where a batch would only raise the memory peak.
    fn batch_len(&self, images: &[ImageView<'_>]) -> usize;

    /// Warps `image` into one `size`×`size` crop per transform (image → crop), bilinear, black outside.
    fn warp(&self, image: ImageView<'_>, transforms: &[Similarity], size: u32) -> Result<Vec<image::RgbImage>>;
}

/// The three stages on a batch of images. Every argument and result has one entry per image, in order.
pub(crate) trait Pass {
    /// Resamples each image to its levels (TensorFlow's AREA filter, `pipeline::pyramid::AreaTaps`) and runs
    /// P-Net on each. Returns, per image and level, the output cells whose face probability is > `threshold`
    /// (float32 comparison), in row-major order.
    fn propose(&mut self, levels: &[Vec<PyramidLevel>], threshold: f32) -> Result<Vec<Vec<Vec<Proposal>>>>;

    /// Crops each box of each image to 24×24 (`tf.image.crop_and_resize`, bilinear, grey outside) and runs R-Net.
    fn refine(&mut self, boxes: &[Vec<CropBox>]) -> Result<Vec<Vec<Refinement>>>;

    /// Crops each box of each image to 48×48 and runs O-Net.
    fn landmark(&mut self, boxes: &[Vec<CropBox>]) -> Result<Vec<Vec<Landmarking>>>;

    /// The device time of the work submitted since the last call, where the backend can measure it (a GPU with
    /// timestamp queries).
    fn take_device_time(&mut self) -> Option<std::time::Duration> {
        None
    }
}
