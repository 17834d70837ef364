//! The seam between the pipeline and the places where the networks run. A backend makes the pyramid and the
//! crops and runs the three networks; the pipeline (`pipeline/`) owns the order of the steps and all box
//! arithmetic. The CPU path (`cpu/`) and the GPU path (`gpu/`) implement the same two traits.

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
    /// Takes one image; the returned pass runs the stages on it (a GPU backend uploads it once here).
    fn begin<'a>(&'a self, image: ImageView<'a>) -> Result<Box<dyn Pass + 'a>>;
}

/// The three stages on one image.
pub(crate) trait Pass {
    /// Resamples the image to every level (TensorFlow's AREA filter, `pipeline::pyramid::AreaTaps`) and runs
    /// P-Net on each. Returns, per level, the output cells whose face probability is > `threshold` (float32
    /// comparison), in row-major order.
    fn propose(&mut self, levels: &[PyramidLevel], threshold: f32) -> Result<Vec<Vec<Proposal>>>;

    /// Crops each box to 24×24 (`tf.image.crop_and_resize`, bilinear, grey outside) and runs R-Net.
    fn refine(&mut self, boxes: &[CropBox]) -> Result<Vec<Refinement>>;

    /// Crops each box to 48×48 and runs O-Net.
    fn landmark(&mut self, boxes: &[CropBox]) -> Result<Vec<Landmarking>>;

    /// The device time of the work submitted since the last call, where the backend can measure it (a GPU with
    /// timestamp queries).
    fn take_device_time(&mut self) -> Option<std::time::Duration> {
        None
    }
}
