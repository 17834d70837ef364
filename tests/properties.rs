//! Properties that hold for any input (proptest, CPU path): arbitrary sizes, pixels and valid options never panic;
//! boxes and keypoints are finite, boxes lie inside the image when fitted (and keypoints when those are fitted),
//! confidences lie in [0, 1] and come in descending order, and the same input gives the same output.

use mtcnn_wgpu::{Detector, Device, NmsThresholds, Thresholds};
use proptest::prelude::*;

/// An image with structure, not just noise: a gradient, a few blocks and noise, all from the seed.
fn image(width: u32, height: u32, seed: u64) -> image::RgbImage {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let blocks: Vec<(u32, u32, u32, [u8; 3])> = (0..4)
        .map(|_| {
            let r = next();
            let c = next().to_le_bytes();
            (
                (r % 97) as u32,
                ((r >> 8) % 97) as u32,
                ((r >> 16) % 40 + 5) as u32,
                [c[0], c[1], c[2]],
            )
        })
        .collect();
    image::RgbImage::from_fn(width, height, |x, y| {
        for &(bx, by, side, colour) in &blocks {
            if x >= bx && x < bx + side && y >= by && y < by + side {
                return image::Rgb(colour);
            }
        }
        let n = (next() % 32) as u8;
        image::Rgb([(x * 3) as u8 ^ n, (y * 5) as u8, ((x + y) as u8).wrapping_add(n)])
    })
}

/// Faces seen over all cases (printed, to show that the checks below met real faces).
static FACES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_image_and_options_give_sane_faces(
        width in 0u32..160,
        height in 0u32..160,
        seed in any::<u64>(),
        min_face in 12.0f64..60.0,
        scale in 0.3f64..0.95,
        pnet in 0.0f32..=1.0,
        rnet in 0.0f32..=1.0,
        onet in 0.0f32..=1.0,
        nms in 0.0f64..=1.0,
        fit in any::<bool>(),
        fit_keypoints in any::<bool>(),
        photo in any::<bool>(),
    ) {
        let detector = Detector::builder()
            .device(Device::Cpu)
            .min_face_size(min_face)
            .scale_factor(scale)
            .thresholds(Thresholds { pnet, rnet, onet })
            .nms(NmsThresholds { pnet_level: nms, pnet_all: nms, rnet: nms, onet: nms })
            .fit_to_image(fit)
            .fit_keypoints_to_image(fit_keypoints)
            .build()
            .unwrap();
        // Half the cases use the astronaut at that size, so that real faces (and their keypoints) are checked too.
        let image = if photo && width > 0 && height > 0 {
            let astronaut = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png")).unwrap().to_rgb8();
            image::imageops::resize(&astronaut, width * 2, height * 2, image::imageops::FilterType::Triangle)
        } else {
            image(width, height, seed)
        };
        let (width, height) = image.dimensions();
        let faces = detector.detect(&image).unwrap();
        FACES.fetch_add(faces.len(), std::sync::atomic::Ordering::Relaxed);
        for pair in faces.windows(2) {
            prop_assert!(pair[0].confidence >= pair[1].confidence, "confidences out of order");
        }
        for face in &faces {
            let b = face.bbox;
            prop_assert!([b.x, b.y, b.width, b.height].iter().all(|v| v.is_finite()), "{b:?}");
            prop_assert!((0.0..=1.0).contains(&face.confidence), "{}", face.confidence);
            if fit {
                prop_assert!(b.x >= 0.0 && b.y >= 0.0, "{b:?}");
                prop_assert!(b.right() <= width as f32 - 1.0 + 1e-3 && b.bottom() <= height as f32 - 1.0 + 1e-3, "{b:?}");
            }
            if let Some(k) = face.keypoints {
                prop_assert!(k.to_array().iter().all(|p| p.x.is_finite() && p.y.is_finite()));
                if fit_keypoints {
                    let inside = |p: &mtcnn_wgpu::Point| {
                        (0.0..=width as f32 - 1.0).contains(&p.x) && (0.0..=height as f32 - 1.0).contains(&p.y)
                    };
                    prop_assert!(k.to_array().iter().all(inside), "{k:?}");
                }
            }
        }
        prop_assert_eq!(detector.detect(&image).unwrap(), faces);
    }
}

#[test]
fn the_astronaut_at_odd_sizes_keeps_its_face() {
    let detector = Detector::builder().device(Device::Cpu).build().unwrap();
    let astronaut = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8();
    for (w, h) in [(300, 300), (257, 311), (401, 199)] {
        let image = image::imageops::resize(&astronaut, w, h, image::imageops::FilterType::Triangle);
        assert_eq!(detector.detect(&image).unwrap().len(), 1, "{w}×{h}");
    }
    println!(
        "faces seen by the property cases so far: {}",
        FACES.load(std::sync::atomic::Ordering::Relaxed)
    );
}
