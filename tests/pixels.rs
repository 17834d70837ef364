//! Borrowed pixels in other layouts (`Pixels`: BGR, RGBA, BGRA, grey, padded rows) give exactly the faces of the
//! same image in packed RGB, on both devices.

mod common;

use image::{GrayImage, ImageBuffer, Rgb, RgbImage, RgbaImage};
use mtcnn_wgpu::{Detector, Device, Error, Face, PixelLayout, Pixels};

fn astronaut() -> RgbImage {
    image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .expect("assets/astronaut.png")
        .to_rgb8()
}

/// `image`'s pixels in `layout`, each row followed by `padding` bytes of 0xAB (alpha 0x11, which must not matter).
/// Row by row with explicit indices: `ImageBuffer::rows` yields no rows at all for an image 0 pixels wide, whose
/// rows still take their padding.
fn encode(image: &RgbImage, layout: PixelLayout, padding: usize) -> Vec<u8> {
    let mut data = Vec::new();
    for y in 0..image.height() {
        for x in 0..image.width() {
            let Rgb([r, g, b]) = *image.get_pixel(x, y);
            match layout {
                PixelLayout::Rgb => data.extend([r, g, b]),
                PixelLayout::Bgr => data.extend([b, g, r]),
                PixelLayout::Rgba => data.extend([r, g, b, 0x11]),
                PixelLayout::Bgra => data.extend([b, g, r, 0x11]),
                _ => unreachable!("colour layouts only"),
            }
        }
        data.extend(std::iter::repeat_n(0xAB, padding));
    }
    data
}

const COLOUR_LAYOUTS: [PixelLayout; 4] = [PixelLayout::Rgb, PixelLayout::Bgr, PixelLayout::Rgba, PixelLayout::Bgra];

/// Every colour layout, packed and with padded rows, and grey, against `detect(&RgbImage)` on `detector`.
fn every_layout_gives_the_rgb_faces(detector: &Detector) {
    let rgb = astronaut();
    let (width, height) = rgb.dimensions();
    let expected = detector.detect(&rgb).unwrap();
    assert!(
        !expected.is_empty(),
        "the astronaut must be found for the test to mean something"
    );

    for layout in COLOUR_LAYOUTS {
        for padding in [0, 13] {
            let data = encode(&rgb, layout, padding);
            let stride = width as usize * layout.bytes_per_pixel() + padding;
            let pixels = Pixels::with_stride(&data, width, height, stride, layout).unwrap();
            assert_eq!(
                detector.detect(pixels).unwrap(),
                expected,
                "{layout:?}, {padding} bytes of padding"
            );
        }
    }

    // Grey is replicated to three channels, as `DynamicImage::to_rgb8` does.
    let grey: GrayImage = image::imageops::grayscale(&rgb);
    let grey_as_rgb = image::DynamicImage::ImageLuma8(grey.clone()).to_rgb8();
    let grey_faces = detector.detect(&grey_as_rgb).unwrap();
    assert!(!grey_faces.is_empty());
    assert_eq!(detector.detect(&grey).unwrap(), grey_faces);
    assert_eq!(
        detector.detect_dynamic(&image::DynamicImage::ImageLuma8(grey)).unwrap(),
        grey_faces
    );

    // `image`'s RGBA buffers and RGB buffers over a borrowed slice convert without a copy of the caller's.
    let rgba: RgbaImage = image::DynamicImage::ImageRgb8(rgb.clone()).to_rgba8();
    assert_eq!(detector.detect(&rgba).unwrap(), expected);
    assert_eq!(
        detector.detect_dynamic(&image::DynamicImage::ImageRgba8(rgba)).unwrap(),
        expected
    );
    let borrowed: ImageBuffer<Rgb<u8>, &[u8]> = ImageBuffer::from_raw(width, height, rgb.as_raw().as_slice()).unwrap();
    assert_eq!(detector.detect(&borrowed).unwrap(), expected);

    // A batch of mixed layouts and sizes: each image's faces as alone.
    let bgra = encode(&rgb, PixelLayout::Bgra, 7);
    let small = image::imageops::resize(&rgb, 200, 200, image::imageops::FilterType::Triangle);
    let bgr_small = encode(&small, PixelLayout::Bgr, 0);
    let batch = [
        Pixels::with_stride(&bgra, width, height, width as usize * 4 + 7, PixelLayout::Bgra).unwrap(),
        Pixels::from(&small),
        Pixels::new(&bgr_small, 200, 200, PixelLayout::Bgr).unwrap(),
    ];
    let small_faces = detector.detect(&small).unwrap();
    assert_eq!(
        detector.detect_batch(&batch).unwrap(),
        vec![expected.clone(), small_faces.clone(), small_faces]
    );
}

fn cpu() -> Detector {
    Detector::builder().device(Device::Cpu).build().unwrap()
}

#[test]
fn every_layout_gives_the_rgb_faces_on_the_cpu() {
    every_layout_gives_the_rgb_faces(&cpu());
}

#[cfg(feature = "gpu")]
#[test]
fn every_layout_gives_the_rgb_faces_on_the_gpu() {
    if let Some(gpu) = common::gpu_detector_or_skip() {
        every_layout_gives_the_rgb_faces(&gpu);
    }
}

#[test]
fn alignment_takes_other_layouts_too() {
    let detector = cpu();
    let rgb = astronaut();
    let faces: Vec<Face> = detector.detect(&rgb).unwrap();
    let bgr = encode(&rgb, PixelLayout::Bgr, 5);
    let pixels = Pixels::with_stride(
        &bgr,
        rgb.width(),
        rgb.height(),
        rgb.width() as usize * 3 + 5,
        PixelLayout::Bgr,
    )
    .unwrap();
    assert_eq!(
        detector.align_faces(pixels, &faces, 112).unwrap(),
        detector.align_faces(&rgb, &faces, 112).unwrap()
    );
    assert_eq!(
        mtcnn_wgpu::align(pixels, &faces[0], 112).unwrap(),
        mtcnn_wgpu::align(&rgb, &faces[0], 112).unwrap()
    );
}

#[test]
fn pixels_that_do_not_describe_an_image_are_errors_and_empty_ones_have_no_faces() {
    let data = vec![0u8; 640 * 480 * 3];
    let short = Pixels::new(&data, 640, 480, PixelLayout::Bgra);
    assert!(
        matches!(&short, Err(Error::InvalidImage(m)) if m.contains("need 1228800 bytes, got 921600")),
        "{short:?}"
    );
    let narrow = Pixels::with_stride(&data, 640, 480, 1000, PixelLayout::Rgb);
    assert!(
        matches!(&narrow, Err(Error::InvalidImage(m)) if m.contains("stride is 1000")),
        "{narrow:?}"
    );
    assert!(matches!(
        Pixels::new(&data, u32::MAX, u32::MAX, PixelLayout::Rgba),
        Err(Error::InvalidImage(_))
    ));

    let detector = cpu();
    for (width, height) in [(0, 0), (0, 480), (640, 0), (5, 5)] {
        let pixels = Pixels::new(&data, width, height, PixelLayout::Bgr).unwrap();
        assert_eq!(detector.detect(pixels).unwrap(), vec![], "{width}x{height}");
    }
    // Empty images with padded rows (the case proptest found in the tests' own encoder): valid, no faces.
    for layout in COLOUR_LAYOUTS {
        for (width, height) in [(0, 66), (66, 0), (0, 0)] {
            let empty = RgbImage::new(width, height);
            let data = encode(&empty, layout, 8);
            let stride = width as usize * layout.bytes_per_pixel() + 8;
            let pixels = Pixels::with_stride(&data, width, height, stride, layout).unwrap();
            assert_eq!(detector.detect(pixels).unwrap(), vec![], "{width}x{height} {layout:?}");
        }
    }
    // max_pixels is checked before any conversion.
    let limited = Detector::builder()
        .device(Device::Cpu)
        .max_pixels(1000)
        .build()
        .unwrap();
    let pixels = Pixels::new(&data, 640, 480, PixelLayout::Bgr).unwrap();
    assert!(matches!(
        limited.detect(pixels),
        Err(Error::ImageTooLarge {
            width: 640,
            height: 480,
            ..
        })
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Any size, layout and padding: the faces of the same image in packed RGB (the astronaut resized, so that
    /// there are faces to compare).
    #[test]
    fn any_layout_size_and_padding_gives_the_rgb_faces(
        width in 0u32..200,
        height in 0u32..200,
        layout in 0usize..5,
        padding in 0usize..9,
    ) {
        let detector = cpu();
        let rgb = if width > 0 && height > 0 {
            image::imageops::resize(&astronaut(), width, height, image::imageops::FilterType::Triangle)
        } else {
            RgbImage::new(width, height)
        };
        let (layout, data, expected) = if layout == 4 {
            // (`image`'s grey conversions index out of bounds on an image 0 pixels wide.)
            let (grey, grey_rgb) = if width > 0 && height > 0 {
                let grey = image::imageops::grayscale(&rgb);
                let grey_rgb = image::DynamicImage::ImageLuma8(grey.clone()).to_rgb8();
                (grey, grey_rgb)
            } else {
                (GrayImage::new(width, height), RgbImage::new(width, height))
            };
            let mut data = Vec::new();
            for y in 0..height {
                data.extend((0..width).map(|x| grey.get_pixel(x, y)[0]));
                data.extend(std::iter::repeat_n(0xAB, padding));
            }
            let expected = detector.detect(&grey_rgb).unwrap();
            (PixelLayout::Gray, data, expected)
        } else {
            let layout = COLOUR_LAYOUTS[layout];
            (layout, encode(&rgb, layout, padding), detector.detect(&rgb).unwrap())
        };
        let stride = width as usize * layout.bytes_per_pixel() + padding;
        let pixels = Pixels::with_stride(&data, width, height, stride, layout).unwrap();
        proptest::prop_assert_eq!(detector.detect(pixels).unwrap(), expected);
    }
}

/// A frame type of the application's own, owning its BGRA bytes.
struct CaptureFrame {
    bgra: Vec<u8>,
    width: u32,
    height: u32,
}

impl<'a> From<&'a CaptureFrame> for Pixels<'a> {
    fn from(frame: &'a CaptureFrame) -> Self {
        Pixels::new(&frame.bgra, frame.width, frame.height, PixelLayout::Bgra).expect("a frame holds its pixels")
    }
}

#[test]
fn detect_async_takes_owned_frames_of_any_layout() {
    let detector = cpu();
    let rgb = astronaut();
    let expected = detector.detect(&rgb).unwrap();
    let frame = CaptureFrame {
        bgra: encode(&rgb, PixelLayout::Bgra, 0),
        width: rgb.width(),
        height: rgb.height(),
    };
    let rgba: RgbaImage = image::DynamicImage::ImageRgb8(rgb.clone()).to_rgba8();
    let (from_frame, from_rgba) = futures::executor::block_on(async {
        (
            detector.detect_async(frame).await.unwrap(),
            detector.detect_async(rgba).await.unwrap(),
        )
    });
    assert_eq!((from_frame, from_rgba), (expected.clone(), expected));
}

/// Luma alone (the Y plane of a YUV video frame, passed as `PixelLayout::Gray`) against RGB on the golden images:
/// how many of the RGB faces it still finds (IoU ≥ 0.5), and how many it adds. A figure for the README, with a
/// floor so that a regression shows.
#[test]
fn luma_alone_finds_most_of_the_rgb_faces() {
    let Some(data) = common::shared_data_or_skip("luma_alone_finds_most_of_the_rgb_faces") else {
        return;
    };
    let detector = cpu();
    let mut paths: Vec<_> = std::fs::read_dir(data.join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    paths.sort();
    let (mut faces, mut found, mut extra, mut ious) = (0, 0, 0, Vec::new());
    for path in &paths {
        let rgb = image::open(path).unwrap().to_rgb8();
        let luma = image::imageops::grayscale(&rgb);
        let (with_colour, grey) = (detector.detect(&rgb).unwrap(), detector.detect(&luma).unwrap());
        let mut used = vec![false; grey.len()];
        for face in &with_colour {
            let best = (0..grey.len())
                .filter(|&j| !used[j])
                .map(|j| (face.bbox.iou(&grey[j].bbox), j))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((iou, j)) = best.filter(|b| b.0 >= 0.5) {
                used[j] = true;
                found += 1;
                ious.push(iou);
            }
        }
        faces += with_colour.len();
        extra += used.iter().filter(|u| !**u).count();
    }
    ious.sort_by(f32::total_cmp);
    let median = ious.get(ious.len() / 2).copied().unwrap_or(0.0);
    println!(
        "luma alone: {found} of {faces} RGB faces found (IoU >= 0.5, median {median:.3}), {extra} more, on {} images",
        paths.len()
    );
    assert!(faces >= 90 && found * 100 >= faces * 85, "{found} of {faces}");
    assert!(extra <= 2, "{extra} faces found on luma only");
}
