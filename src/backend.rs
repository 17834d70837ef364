//! The seam between the pipeline and the places where the networks run. A backend makes the pyramid and the
//! crops and runs the three networks; the pipeline (`pipeline/`) owns the order of the steps and all box
//! arithmetic. The CPU path (`cpu/`) and the GPU path (`gpu/`) implement the same two traits.

use crate::align::Similarity;
use crate::error::Result;
use crate::pipeline::boxes::Proposal;
use crate::pipeline::crops::CropBox;
use crate::pipeline::pyramid::PyramidLevel;
use crate::pixels::Pixels;

/// 8-bit RGB pixels, row-major, 3 bytes a pixel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ImageView<'a> {
    pub width: u32,
    pub height: u32,
    pub rgb: &'a [u8],
}

impl<'a> ImageView<'a> {
    /// `pixels` as packed RGB: in place when they are, otherwise converted into `copy`.
    pub fn of(pixels: &Pixels<'a>, copy: &'a mut Vec<u8>) -> Self {
        let rgb = match pixels.packed_rgb() {
            Some(rgb) => rgb,
            None => {
                pixels.write_rgb(copy);
                copy
            }
        };
        ImageView {
            width: pixels.width(),
            height: pixels.height(),
            rgb,
        }
    }
}

/// R-Net's verdict on one crop.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Refinement {
    pub score: f32,
    pub reg: [f32; 4],
}

/// O-Net's verdict on one crop; landmarks are `[x1..x5, y1..y5]` relative to the crop box, in 0..1.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Landmarking {
    pub score: f32,
    pub reg: [f32; 4],
    pub landmarks: [f32; 10],
}

/// The stages of one pass, run by [`Backend::run`] on the pass it prepares.
pub(crate) type Stages<'s> = dyn FnMut(&mut dyn Pass) -> Result<()> + Send + 's;

/// A place where the networks run.
pub(crate) trait Backend: Send + Sync {
    /// Prepares a pass over a batch of images and runs `stages` on it; each stage then runs on all images together
    /// (a GPU backend uploads them once here, and each stage is one submission for the whole batch). The pass is
    /// handed to a closure rather than returned so that it can live on the stack and in the backend's reused
    /// scratch: a pass allocates nothing. `levels` are each image's pyramid levels (a GPU backend tiles an image
    /// whose levels exceed its bindings).
    fn run(&self, images: &[ImageView<'_>], levels: &[Vec<PyramidLevel>], stages: &mut Stages<'_>) -> Result<()>;

    /// How many of `images` (from the first) one pass should take: all of them on a GPU as long as they fit its
    /// buffers, one at a time on the CPU, where a batch would only raise the memory peak.
    fn batch_len(&self, images: &[ImageView<'_>]) -> usize;

    /// Warps `image` into one `size`×`size` crop per transform (image → crop), bilinear, black outside.
    fn warp(&self, image: ImageView<'_>, transforms: &[Similarity], size: u32) -> Result<Vec<image::RgbImage>>;
}

/// The three stages on a batch of images. Every argument has one entry per image, in order, and so has every
/// output, whose lists the caller passes in empty (they keep their allocations from call to call).
pub(crate) trait Pass {
    /// Resamples each image to its levels (TensorFlow's AREA filter, `pipeline::pyramid::AreaTaps`) and runs
    /// P-Net on each. Appends to `out[image][level]` the output cells whose face probability is > `threshold`
    /// (float32 comparison), in row-major order.
    fn propose(&mut self, levels: &[Vec<PyramidLevel>], threshold: f32, out: &mut [Vec<Vec<Proposal>>]) -> Result<()>;

    /// Crops each box of each image to 24×24 (`tf.image.crop_and_resize`, bilinear, grey outside) and runs R-Net;
    /// one verdict a box into `out[image]`.
    fn refine(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Refinement>]) -> Result<()>;

    /// Crops each box of each image to 48×48 and runs O-Net; one verdict a box into `out[image]`.
    fn landmark(&mut self, boxes: &[Vec<CropBox>], out: &mut [Vec<Landmarking>]) -> Result<()>;

    /// What the backend measured of the work submitted since the last call: device times (a GPU with timestamp
    /// queries) and readbacks (a GPU).
    fn take_device_measures(&mut self) -> crate::timings::DeviceMeasures {
        Default::default()
    }

    /// The pyramid's share (0..=1) of the last `propose`'s time, where the backend measures it apart from P-Net's
    /// (the CPU).
    fn take_pyramid_share(&mut self) -> Option<f64> {
        None
    }
}
