//! Inputs that must not panic, with their results asserted: tiny, empty, extreme-aspect and blank images, other
//! pixel formats, and broken weights files.

use image::{DynamicImage, GrayImage, Rgb, RgbImage};
use mtcnn_wgpu::{Detector, Error, Stages, Weights};

fn astronaut() -> RgbImage {
    image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8()
}

#[test]
fn images_too_small_for_a_face_give_no_faces() {
    let detector = Detector::new().unwrap();
    for (w, h) in [(0, 0), (1, 1), (0, 50), (50, 0), (11, 11), (12, 12), (11, 400)] {
        let faces = detector.detect(&RgbImage::new(w, h)).unwrap();
        assert!(faces.is_empty(), "{w}x{h}");
    }
}

#[test]
fn extreme_strips_work() {
    let detector = Detector::new().unwrap();
    assert!(detector
        .detect(&RgbImage::from_pixel(1, 10000, Rgb([200, 120, 90])))
        .unwrap()
        .is_empty());
    assert!(detector
        .detect(&RgbImage::from_pixel(10000, 1, Rgb([200, 120, 90])))
        .unwrap()
        .is_empty());
    // Wide enough for a few pyramid levels: runs every stage's code on a degenerate shape.
    let strip = RgbImage::from_fn(4000, 24, |x, y| {
        Rgb([(x % 251) as u8, (y * 10) as u8, ((x * y) % 256) as u8])
    });
    let faces = detector.detect(&strip).unwrap();
    assert!(faces.iter().all(|f| f.bbox.x >= 0.0 && f.bbox.bottom() <= 23.0));
}

#[test]
fn a_uniform_grey_image_has_no_faces() {
    let detector = Detector::new().unwrap();
    for v in [0u8, 128, 255] {
        assert!(
            detector
                .detect(&RgbImage::from_pixel(320, 240, Rgb([v, v, v])))
                .unwrap()
                .is_empty(),
            "grey {v}"
        );
    }
}

#[test]
fn other_pixel_formats_convert_like_to_rgb8() {
    let detector = Detector::new().unwrap();
    let rgb = astronaut();
    let expected = detector.detect(&rgb).unwrap();
    assert_eq!(expected.len(), 1);
    let dynamic = DynamicImage::ImageRgb8(rgb.clone());
    for converted in [
        DynamicImage::ImageRgba8(dynamic.to_rgba8()),
        DynamicImage::ImageRgb16(dynamic.to_rgb16()),
        DynamicImage::ImageRgb32F(dynamic.to_rgb32f()),
    ] {
        assert_eq!(
            detector.detect_dynamic(&converted).unwrap(),
            expected,
            "{:?}",
            converted.color()
        );
    }
    // Grey is replicated to three channels, so it equals detecting on the replicated RGB image.
    let grey: GrayImage = dynamic.to_luma8();
    let replicated = RgbImage::from_fn(grey.width(), grey.height(), |x, y| {
        let v = grey.get_pixel(x, y)[0];
        Rgb([v, v, v])
    });
    assert_eq!(
        detector.detect_dynamic(&DynamicImage::ImageLuma8(grey)).unwrap(),
        detector.detect(&replicated).unwrap()
    );
}

/// Float images, the one way non-finite pixels reach the detector: NaN and ±inf go through `to_rgb8` like any
/// other value (NaN and +inf to 255, −inf to 0) and the face is still found; nothing panics or reads them as
/// floats. (The f32 tensor entry points, `nets::CpuNets`, refuse them: `tests/nets.rs`.)
#[test]
fn float_images_with_nan_and_infinite_pixels_are_detected_as_to_rgb8_makes_them() {
    let detector = Detector::builder().device(mtcnn_wgpu::Device::Cpu).build().unwrap();
    let mut float = DynamicImage::ImageRgb8(astronaut()).to_rgb32f();
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.5, 7.0];
    for (i, value) in float.iter_mut().enumerate().filter(|(i, _)| i % 97 == 0) {
        *value = specials[i % specials.len()];
    }
    let float = DynamicImage::ImageRgb32F(float);
    let special = image::Rgb32FImage::from_raw(1, 1, vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY]).unwrap();
    assert_eq!(DynamicImage::ImageRgb32F(special).to_rgb8().as_raw(), &[255, 255, 0]);
    let faces = detector.detect_dynamic(&float).unwrap();
    assert_eq!(faces, detector.detect(&float.to_rgb8()).unwrap());
    assert_eq!(faces.len(), 1, "the astronaut's face, through the noise");
}

#[test]
fn faces_only_returns_boxes_without_keypoints() {
    let rgb = astronaut();
    let full = Detector::new().unwrap().detect(&rgb).unwrap();
    let quick = Detector::builder()
        .stages(Stages::FacesOnly)
        .build()
        .unwrap()
        .detect(&rgb)
        .unwrap();
    assert!(!quick.is_empty() && quick.iter().all(|f| f.keypoints.is_none() && f.confidence > 0.7));
    // The best R-Net box covers the O-Net face.
    let (a, b) = (&quick[0].bbox, &full[0].bbox);
    let inter =
        (a.right().min(b.right()) - a.x.max(b.x)).max(0.0) * (a.bottom().min(b.bottom()) - a.y.max(b.y)).max(0.0);
    assert!(inter / (b.width * b.height) > 0.6, "{a:?} vs {b:?}");
    let json = serde_json::to_value(&quick).unwrap();
    assert!(json[0].get("keypoints").is_none());
}

#[test]
fn boxes_are_clamped_only_with_fit_to_image() {
    // A face cut by the left edge: the astronaut shifted 200 px left.
    let src = astronaut();
    let shifted = RgbImage::from_fn(300, 512, |x, y| *src.get_pixel(x + 200, y));
    let clamped = Detector::new().unwrap().detect(&shifted).unwrap();
    let free = Detector::builder()
        .fit_to_image(false)
        .build()
        .unwrap()
        .detect(&shifted)
        .unwrap();
    assert_eq!(clamped.len(), free.len());
    assert!(clamped
        .iter()
        .all(|f| f.bbox.x >= 0.0 && f.bbox.y >= 0.0 && f.bbox.right() <= 299.0));
    assert!(
        free.iter().any(|f| f.bbox.x < 0.0),
        "the shifted face should run off the left edge: {free:?}"
    );
}

fn embedded_bytes() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/weights/mtcnn.safetensors")).unwrap()
}

/// What a test does to one tensor: change its dtype, shape or little-endian bytes, or drop it (return false).
type Edit = dyn Fn(&mut safetensors::Dtype, &mut Vec<usize>, &mut Vec<u8>) -> bool;

/// The embedded tensors re-serialized, with `edit` applied to the named tensor.
fn rewritten(name: &str, edit: &Edit) -> Vec<u8> {
    let bytes = embedded_bytes();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors = Vec::new();
    for (n, view) in file.tensors() {
        let (mut dtype, mut shape, mut data) = (view.dtype(), view.shape().to_vec(), view.data().to_vec());
        if n != name || edit(&mut dtype, &mut shape, &mut data) {
            tensors.push((n, dtype, shape, data));
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, t, s, d)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*t, s.clone(), d).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, &None).unwrap()
}

#[test]
fn broken_weights_are_typed_errors_that_name_the_tensor() {
    let bytes = embedded_bytes();
    assert!(Weights::from_bytes(&bytes).is_ok());

    let err = Weights::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(
        matches!(err, Error::WeightsFormat(ref m) if m.contains("truncated: tensor `")),
        "{err}"
    );
    assert!(matches!(Weights::from_bytes(&bytes[..5]), Err(Error::WeightsFormat(_))));

    let wrong_shape = rewritten("rnet.fc4.weight", &|_, shape, _| {
        *shape = vec![128, 576];
        true
    });
    let err = Weights::from_bytes(&wrong_shape).unwrap_err();
    assert!(
        matches!(&err, Error::TensorShape { name, expected, found }
            if name == "rnet.fc4.weight" && expected == &[576, 128] && found == &[128, 576]),
        "{err}"
    );
    assert!(err.to_string().contains("rnet.fc4.weight"));

    let nan = rewritten("onet.conv2.bias", &|_, _, data| {
        data[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
        true
    });
    let err = Weights::from_bytes(&nan).unwrap_err();
    assert!(
        matches!(&err, Error::TensorContent { name, .. } if name == "onet.conv2.bias"),
        "{err}"
    );

    let missing = rewritten("pnet.prelu2.alpha", &|_, _, _| false);
    let err = Weights::from_bytes(&missing).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { name, .. } if name == "pnet.prelu2.alpha"),
        "{err}"
    );

    let half = rewritten("onet.fc6_3.bias", &|dtype, _, data| {
        *dtype = safetensors::Dtype::F16;
        data.truncate(4);
        true
    });
    let err = Weights::from_bytes(&half).unwrap_err();
    assert!(
        matches!(&err, Error::TensorContent { name, problem } if name == "onet.fc6_3.bias" && problem.contains("F16"))
    );

    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    assert!(matches!(Weights::from_bytes(&junk), Err(Error::WeightsFormat(_))));

    let err = Weights::from_file("/nonexistent/mtcnn.safetensors").unwrap_err();
    assert!(matches!(err, Error::WeightsIo { .. }), "{err}");
}

#[test]
fn results_are_bit_identical_across_thread_counts_and_runs() {
    let detector = Detector::new().unwrap();
    let image = astronaut();
    let reference = detector.detect(&image).unwrap();
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        assert_eq!(
            pool.install(|| detector.detect(&image).unwrap()),
            reference,
            "{threads} threads"
        );
    }
    assert_eq!(detector.detect(&image).unwrap(), reference);
    // A detector with a pool of its own: the same bits, whatever the count.
    for threads in [1, 3] {
        let own = Detector::builder().cpu_threads(threads).build().unwrap();
        assert_eq!(own.cpu_threads(), threads);
        assert_eq!(own.detect(&image).unwrap(), reference, "cpu_threads({threads})");
        assert_eq!(
            own.detect_batch(&[image.clone(), image.clone()]).unwrap(),
            [reference.clone(), reference.clone()]
        );
    }
}

#[test]
fn images_over_max_pixels_are_refused_before_any_work() {
    let detector = Detector::builder()
        .device(mtcnn_wgpu::Device::Cpu)
        .max_pixels(1000)
        .build()
        .unwrap();
    let big = image::RgbImage::new(40, 30);
    let err = detector.detect(&big).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ImageTooLarge {
                width: 40,
                height: 30,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max_pixels"), "{err}");
    // In a batch, the whole call fails and names the image.
    let small = image::RgbImage::new(30, 30);
    assert!(detector.detect(&small).unwrap().is_empty());
    assert!(matches!(
        detector.detect_batch(&[small, big]),
        Err(Error::ImageTooLarge { width: 40, .. })
    ));
    assert!(matches!(
        Detector::builder().max_pixels(0).build(),
        Err(Error::InvalidOption { name: "max_pixels", .. })
    ));
    assert_eq!(
        Detector::builder()
            .device(mtcnn_wgpu::Device::Cpu)
            .build()
            .unwrap()
            .options()
            .max_pixels,
        100_000_000
    );
}
