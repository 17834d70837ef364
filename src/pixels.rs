//! Borrowed 8-bit pixels in the layouts that cameras, video decoders and other libraries hand out (BGR, RGBA,
//! BGRA, grey, rows with padding), so that a frame can be detected where it lies instead of being copied into an
//! `image::RgbImage` first.

use std::ops::Deref;

use image::{ImageBuffer, Luma, Rgb, Rgba};

use crate::error::{Error, Result};

/// The order of the bytes of one pixel, 8 bits each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelLayout {
    /// Red, green, blue (`image::RgbImage`).
    Rgb,
    /// Blue, green, red (OpenCV's default).
    Bgr,
    /// Red, green, blue, alpha (`image::RgbaImage`, most GPU textures, browsers' `ImageData`).
    Rgba,
    /// Blue, green, red, alpha (Windows and many capture APIs).
    Bgra,
    /// One grey value (`image::GrayImage`).
    Gray,
}

impl PixelLayout {
    /// Bytes a pixel takes.
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelLayout::Rgb | PixelLayout::Bgr => 3,
            PixelLayout::Rgba | PixelLayout::Bgra => 4,
            PixelLayout::Gray => 1,
        }
    }
}

/// A borrowed 8-bit image: `height` rows of `width` pixels in a [`PixelLayout`], each row starting `stride` bytes
/// after the one before. What the detector sees is the image's RGB: alpha is ignored (not blended) and grey is
/// replicated to three channels, as `image::DynamicImage::to_rgb8` does, so a BGRA frame gives exactly the faces
/// of the same frame in RGB.
///
/// `&RgbImage`, `&RgbaImage` and `&GrayImage` convert into it (any `ImageBuffer` of those pixel types, over a
/// `Vec` or a borrowed slice), and every `Detector::detect*` method takes it:
///
/// ```
/// use mtcnn_wgpu::{Detector, Device, PixelLayout, Pixels};
/// let detector = Detector::builder().device(Device::Cpu).build()?;
/// // A 640×480 BGRA frame whose rows are padded to 2 816 bytes, as a capture API might deliver it.
/// let frame = vec![0u8; 2816 * 480];
/// let faces = detector.detect(Pixels::with_stride(&frame, 640, 480, 2816, PixelLayout::Bgra)?)?;
/// assert!(faces.is_empty());
/// # Ok::<(), mtcnn_wgpu::Error>(())
/// ```
///
/// 8-bit RGB without padding is used in place. Any other layout is converted to packed RGB in a buffer the
/// detector keeps (a frame of a size seen before allocates nothing): one pass over the pixels, about 0.2 ms for
/// a 1920×1080 frame on a 2-core development machine, under 0.5 % of the detection.
#[derive(Clone, Copy, Debug)]
pub struct Pixels<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
    layout: PixelLayout,
}

impl<'a> Pixels<'a> {
    /// Rows packed without padding: `data` holds at least `width × height` pixels.
    pub fn new(data: &'a [u8], width: u32, height: u32, layout: PixelLayout) -> Result<Self> {
        let row = row_bytes(width, layout).ok_or_else(|| too_large(width, height, layout))?;
        Self::with_stride(data, width, height, row, layout)
    }

    /// Rows `stride` bytes apart (at least a row of pixels; the bytes between rows are never read). `data` may
    /// end right after the last row's pixels.
    pub fn with_stride(data: &'a [u8], width: u32, height: u32, stride: usize, layout: PixelLayout) -> Result<Self> {
        let row = row_bytes(width, layout).ok_or_else(|| too_large(width, height, layout))?;
        if stride < row {
            return Err(Error::InvalidImage(format!(
                "a row of {width} {layout:?} pixels takes {row} bytes, but the stride is {stride}"
            )));
        }
        let needed = match height {
            0 => Some(0),
            _ => stride.checked_mul(height as usize - 1).and_then(|n| n.checked_add(row)),
        }
        .ok_or_else(|| too_large(width, height, layout))?;
        if data.len() < needed {
            return Err(Error::InvalidImage(format!(
                "{width}x{height} {layout:?} pixels with a stride of {stride} bytes need {needed} bytes, got {}",
                data.len()
            )));
        }
        Ok(Pixels {
            data,
            width,
            height,
            stride,
            layout,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes from the start of one row to the start of the next.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The order of each pixel's bytes.
    pub fn layout(&self) -> PixelLayout {
        self.layout
    }

    /// The bytes, as given.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The pixels as packed 8-bit RGB, when that is how they already lie.
    pub(crate) fn packed_rgb(&self) -> Option<&'a [u8]> {
        let row = self.width as usize * 3;
        (self.layout == PixelLayout::Rgb && (self.stride == row || self.height <= 1))
            .then(|| &self.data[..row * self.height as usize])
    }

    /// Writes the pixels into `rgb` as packed 8-bit RGB; `rgb` keeps its allocation when it is large enough.
    pub(crate) fn write_rgb(&self, rgb: &mut Vec<u8>) {
        let (width, bytes) = (self.width as usize, self.layout.bytes_per_pixel());
        // Every byte is written below: a frame of the size seen before skips the zeroing.
        rgb.resize(width * 3 * self.height as usize, 0);
        if width == 0 {
            return;
        }
        for (y, out) in rgb.chunks_exact_mut(width * 3).enumerate() {
            let row = &self.data[y * self.stride..][..width * bytes];
            row_to_rgb(row, out, self.layout);
        }
    }
}

/// One row of pixels in `layout` into packed RGB. Each layout gets its own loop over fixed-size chunks, so that
/// there are no bounds checks and LLVM vectorises the shuffle (about 0.2 ms at 1920×1080 instead of 0.8–1.3 ms).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn row_to_rgb(row: &[u8], out: &mut [u8], layout: PixelLayout) {
    match layout {
        PixelLayout::Rgb => out.copy_from_slice(row),
        PixelLayout::Bgr => reorder::<3>(row, out, [2, 1, 0]),
        PixelLayout::Rgba => reorder::<4>(row, out, [0, 1, 2]),
        PixelLayout::Bgra => reorder::<4>(row, out, [2, 1, 0]),
        PixelLayout::Gray => reorder::<1>(row, out, [0, 0, 0]),
    }
}

/// Red, green and blue from bytes `r`, `g`, `b` of each `BYTES`-byte pixel.
#[inline(always)]
fn reorder<const BYTES: usize>(row: &[u8], out: &mut [u8], [r, g, b]: [usize; 3]) {
    for (o, p) in out.as_chunks_mut::<3>().0.iter_mut().zip(row.as_chunks::<BYTES>().0) {
        *o = [p[r], p[g], p[b]];
    }
}

fn row_bytes(width: u32, layout: PixelLayout) -> Option<usize> {
    (width as usize).checked_mul(layout.bytes_per_pixel())
}

fn too_large(width: u32, height: u32, layout: PixelLayout) -> Error {
    Error::InvalidImage(format!(
        "{width}x{height} {layout:?} pixels do not fit in this platform's memory"
    ))
}

/// `image`'s buffers of 8-bit pixels convert without a copy; the `ImageBuffer` itself guarantees the length.
macro_rules! from_image_buffer {
    ($pixel:ty, $layout:expr) => {
        impl<'a, C: Deref<Target = [u8]>> From<&'a ImageBuffer<$pixel, C>> for Pixels<'a> {
            fn from(image: &'a ImageBuffer<$pixel, C>) -> Self {
                let (width, height) = image.dimensions();
                let data: &'a [u8] = image;
                Pixels {
                    data,
                    width,
                    height,
                    stride: width as usize * $layout.bytes_per_pixel(),
                    layout: $layout,
                }
            }
        }
    };
}

from_image_buffer!(Rgb<u8>, PixelLayout::Rgb);
from_image_buffer!(Rgba<u8>, PixelLayout::Rgba);
from_image_buffer!(Luma<u8>, PixelLayout::Gray);

impl<'a> From<&Pixels<'a>> for Pixels<'a> {
    fn from(pixels: &Pixels<'a>) -> Self {
        *pixels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 image with a row stride of 13 bytes in `layout`, and its packed RGB.
    fn sample(layout: PixelLayout) -> (Vec<u8>, Vec<u8>) {
        let rgb: Vec<u8> = (0..18).map(|i| i * 10 + 1).collect();
        let bytes = layout.bytes_per_pixel();
        let mut data = vec![0xEE; 13 + 3 * bytes];
        for (i, p) in rgb.chunks_exact(3).enumerate() {
            let at = (i / 3) * 13 + (i % 3) * bytes;
            let [r, g, b] = match layout {
                PixelLayout::Bgr | PixelLayout::Bgra => [2, 1, 0],
                _ => [0, 1, 2],
            };
            data[at + r] = p[0];
            data[at + g] = p[1];
            data[at + b] = p[2];
            if bytes == 4 {
                data[at + 3] = 0x77; // alpha, ignored
            }
        }
        (data, rgb)
    }

    #[test]
    fn every_colour_layout_gives_the_same_rgb() {
        for layout in [PixelLayout::Rgb, PixelLayout::Bgr, PixelLayout::Rgba, PixelLayout::Bgra] {
            let (data, rgb) = sample(layout);
            let pixels = Pixels::with_stride(&data, 3, 2, 13, layout).unwrap();
            assert_eq!(pixels.packed_rgb(), None, "{layout:?}: padded rows are converted");
            let mut out = vec![9; 100];
            pixels.write_rgb(&mut out);
            assert_eq!(out, rgb, "{layout:?}");
        }
    }

    #[test]
    fn grey_is_replicated_and_packed_rgb_is_used_in_place() {
        let grey = [5u8, 6, 7, 8];
        let mut out = Vec::new();
        Pixels::new(&grey, 2, 2, PixelLayout::Gray).unwrap().write_rgb(&mut out);
        assert_eq!(out, [5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8]);

        let rgb: Vec<u8> = (0..13).collect(); // one byte more than 2×2 pixels
        let pixels = Pixels::new(&rgb, 2, 2, PixelLayout::Rgb).unwrap();
        assert_eq!(pixels.packed_rgb(), Some(&rgb[..12]));
        let image = image::RgbImage::from_raw(2, 2, rgb[..12].to_vec()).unwrap();
        assert_eq!(
            Pixels::from(&image).packed_rgb().map(<[u8]>::as_ptr),
            Some(image.as_ptr())
        );
    }

    #[test]
    fn short_data_bad_strides_and_overflow_are_errors() {
        let data = [0u8; 32];
        let message = |r: Result<Pixels<'_>>| r.unwrap_err().to_string();
        assert_eq!(
            message(Pixels::new(&data, 3, 3, PixelLayout::Rgba)),
            "invalid image: 3x3 Rgba pixels with a stride of 12 bytes need 36 bytes, got 32"
        );
        assert_eq!(
            message(Pixels::with_stride(&data, 4, 2, 11, PixelLayout::Bgr)),
            "invalid image: a row of 4 Bgr pixels takes 12 bytes, but the stride is 11"
        );
        // The last row needs only its pixels, not a whole stride.
        assert!(Pixels::with_stride(&data, 2, 2, 20, PixelLayout::Bgr).is_ok());
        assert!(Pixels::with_stride(&data, 2, 2, 27, PixelLayout::Bgr).is_err());
        assert!(message(Pixels::with_stride(
            &data,
            1,
            u32::MAX,
            usize::MAX / 2,
            PixelLayout::Gray
        ))
        .contains("memory"));
        // Empty images are valid (they hold no face).
        assert_eq!(Pixels::new(&[], 0, 100, PixelLayout::Rgb).unwrap().height(), 100);
        assert!(Pixels::new(&[], 100, 0, PixelLayout::Bgra).is_ok());
    }

    /// The conversion's speed at 1920×1080 (not a check: `cargo test --release --lib profile_conversions --
    /// --ignored --nocapture`).
    #[test]
    #[ignore = "a timing to read, not a check"]
    fn profile_conversions() {
        for layout in [
            PixelLayout::Bgr,
            PixelLayout::Bgra,
            PixelLayout::Rgba,
            PixelLayout::Gray,
        ] {
            let data: Vec<u8> = (0..1920 * 1080 * layout.bytes_per_pixel())
                .map(|i| (i * 7) as u8)
                .collect();
            let pixels = Pixels::new(&data, 1920, 1080, layout).unwrap();
            let mut rgb = Vec::new();
            pixels.write_rgb(&mut rgb);
            let best = (0..30)
                .map(|_| {
                    let start = std::time::Instant::now();
                    pixels.write_rgb(&mut rgb);
                    start.elapsed()
                })
                .min()
                .unwrap_or_default();
            println!(
                "{layout:?} to packed RGB, 1920x1080: {:.3} ms (best of 30)",
                best.as_secs_f64() * 1e3
            );
        }
    }
}
