//! Arbitrary bytes into decode and detect, and arbitrary sizes, pixels and options into `detect`, on the CPU
//! path. Whatever comes in, nothing panics, and every result keeps the properties the library promises: finite
//! boxes (inside the image with `fit_to_image`), confidences in [0, 1] in descending order, finite keypoints
//! (inside the image with `fit_keypoints_to_image`), the same faces on a second run. `cargo fuzz run detect fuzz/corpus/detect`.

#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use image::{ImageReader, Limits, RgbImage};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use mtcnn_wgpu::{Detector, DetectorOptions, Device, Error, Face, PixelLayout, Pixels, Thresholds};

#[derive(Arbitrary, Debug)]
enum Input {
    /// A file as an upload form would receive it.
    Encoded(Vec<u8>),
    /// Pixels and options straight into `detect`.
    Raw {
        width: u8,
        height: u8,
        min_face_size: u16,
        scale_factor: u8,
        thresholds: [u8; 3],
        /// Bit 0: `fit_to_image`; bit 1: `fit_keypoints_to_image`.
        fit: u8,
        pixels: Vec<u8>,
    },
    /// A borrowed frame as a camera would hand it over: any layout, any stride, any length of bytes.
    Borrowed {
        width: u8,
        height: u8,
        layout: u8,
        /// Added to the row's length for the stride; negative values make too short a stride.
        padding: i8,
        bytes: Vec<u8>,
    },
}

fn default_detector() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(|| {
        Detector::builder()
            .device(Device::Cpu)
            .build()
            .expect("the default detector")
    })
}

/// What the detector was asked to clamp to the image.
#[derive(Clone, Copy)]
struct Fit {
    boxes: bool,
    keypoints: bool,
}

/// The default options' clamping: boxes, not keypoints.
const DEFAULT_FIT: Fit = Fit {
    boxes: true,
    keypoints: false,
};

/// The promises every result keeps.
fn check(faces: &[Face], width: u32, height: u32, fit: Fit) {
    for face in faces {
        let b = face.bbox;
        assert!([b.x, b.y, b.width, b.height].iter().all(|v| v.is_finite()), "{face:?}");
        assert!((0.0..=1.0).contains(&face.confidence), "{face:?}");
        if fit.boxes {
            let (w, h) = (width as f32, height as f32);
            assert!(
                b.x >= 0.0 && b.y >= 0.0 && b.right() <= w && b.bottom() <= h,
                "{face:?} in {width}×{height}"
            );
        }
        if let Some(k) = face.keypoints {
            assert!(
                k.to_array().iter().all(|p| p.x.is_finite() && p.y.is_finite()),
                "{face:?}"
            );
            if fit.keypoints {
                let (max_x, max_y) = (width as f32 - 1.0, height as f32 - 1.0);
                assert!(
                    k.to_array()
                        .iter()
                        .all(|p| (0.0..=max_x).contains(&p.x) && (0.0..=max_y).contains(&p.y)),
                    "{face:?} in {width}×{height}"
                );
            }
        }
    }
    assert!(faces.windows(2).all(|w| w[0].confidence >= w[1].confidence));
}

fn detect_twice(detector: &Detector, image: &RgbImage, fit: Fit) {
    let faces = detector
        .detect(image)
        .expect("detection of a decoded image does not fail");
    check(&faces, image.width(), image.height(), fit);
    assert_eq!(
        detector.detect(image).expect("second run"),
        faces,
        "the same input gives the same faces"
    );
}

/// The packed RGB the detector should see for `pixels`, written out independently of the library.
fn reference_rgb(pixels: &Pixels<'_>) -> RgbImage {
    let bytes = pixels.layout().bytes_per_pixel();
    RgbImage::from_fn(pixels.width(), pixels.height(), |x, y| {
        let at = y as usize * pixels.stride() + x as usize * bytes;
        let p = &pixels.data()[at..at + bytes];
        image::Rgb(match pixels.layout() {
            PixelLayout::Bgr | PixelLayout::Bgra => [p[2], p[1], p[0]],
            PixelLayout::Gray => [p[0]; 3],
            _ => [p[0], p[1], p[2]],
        })
    })
}

fuzz_target!(|input: Input| {
    match input {
        Input::Encoded(bytes) => {
            // The CLI's decoder limits: a file that claims a huge size is refused before any allocation.
            let mut limits = Limits::default();
            limits.max_image_width = Some(2048);
            limits.max_image_height = Some(2048);
            limits.max_alloc = Some(64 << 20);
            let Ok(reader) = ImageReader::new(Cursor::new(bytes)).with_guessed_format() else {
                return;
            };
            let mut reader = reader;
            reader.limits(limits);
            let Ok(decoded) = reader.decode() else { return };
            let image = decoded.to_rgb8();
            if u64::from(image.width()) * u64::from(image.height()) > 512 * 512 {
                return; // keeps each run short; size is exercised by the tests
            }
            detect_twice(default_detector(), &image, DEFAULT_FIT);
        }
        Input::Raw {
            width,
            height,
            min_face_size,
            scale_factor,
            thresholds,
            fit,
            pixels,
        } => {
            let fit = Fit {
                boxes: fit & 1 != 0,
                keypoints: fit & 2 != 0,
            };
            let (width, height) = (u32::from(width), u32::from(height));
            let len = (width * height * 3) as usize;
            let data: Vec<u8> = (0..len)
                .map(|i| pixels.get(i % pixels.len().max(1)).copied().unwrap_or(0))
                .collect();
            let image = RgbImage::from_raw(width, height, data).expect("the buffer has the size");
            let [p, r, o] = thresholds.map(|t| f32::from(t) / 255.0);
            let options = DetectorOptions {
                min_face_size: f64::from(min_face_size) / 4.0,
                scale_factor: f64::from(scale_factor) / 256.0,
                thresholds: Thresholds {
                    pnet: p,
                    rnet: r,
                    onet: o,
                },
                fit_to_image: fit.boxes,
                fit_keypoints_to_image: fit.keypoints,
                device: Device::Cpu,
                ..DetectorOptions::default()
            };
            // Invalid options are refused when the detector is built, with an error, not a panic.
            let Ok(detector) = Detector::builder().options(options).build() else {
                return;
            };
            detect_twice(&detector, &image, fit);
        }
        Input::Borrowed {
            width,
            height,
            layout,
            padding,
            bytes,
        } => {
            let layouts = [
                PixelLayout::Rgb,
                PixelLayout::Bgr,
                PixelLayout::Rgba,
                PixelLayout::Bgra,
                PixelLayout::Gray,
            ];
            let layout = layouts[usize::from(layout) % layouts.len()];
            let (width, height) = (u32::from(width), u32::from(height));
            let row = width as usize * layout.bytes_per_pixel();
            let stride = row.saturating_add_signed(isize::from(padding));
            // Bytes that don't cover the image are refused with an error that says so, never read past.
            let pixels = match Pixels::with_stride(&bytes, width, height, stride, layout) {
                Ok(pixels) => pixels,
                Err(Error::InvalidImage(_)) => {
                    assert!(stride < row || bytes.len() < stride * (height as usize).saturating_sub(1) + row);
                    return;
                }
                Err(other) => panic!("unexpected error {other}"),
            };
            let detector = default_detector();
            let faces = detector
                .detect(pixels)
                .expect("detection of valid pixels does not fail");
            check(&faces, width, height, DEFAULT_FIT);
            assert_eq!(
                detector.detect(&reference_rgb(&pixels)).expect("the same image in RGB"),
                faces,
                "a layout gives the faces of its RGB"
            );
        }
    }
});
