//! `detect_batch`: several images through each stage together give exactly the faces each image gives alone, on
//! the CPU and on the GPU (lavapipe in CI), including images of different sizes, images too small for any face and
//! empty images.

mod common;

use common::shared_data_or_skip;
use mtcnn_wgpu::{Detector, Device};

fn astronaut() -> image::RgbImage {
    image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8()
}

/// A mixed batch: a photo, a crop of it, an empty image, a grey image, one too small for a face, the photo again.
fn mixed_batch() -> Vec<image::RgbImage> {
    let photo = astronaut();
    let crop = image::imageops::crop_imm(&photo, 100, 20, 301, 257).to_image();
    vec![
        photo.clone(),
        crop,
        image::RgbImage::new(0, 0),
        image::RgbImage::from_pixel(120, 90, image::Rgb([128, 128, 128])),
        image::RgbImage::from_pixel(11, 30, image::Rgb([10, 200, 30])),
        photo,
    ]
}

fn assert_batch_matches_single(detector: &Detector, images: &[image::RgbImage]) -> usize {
    let (batch, timings) = detector.detect_batch_timed(images).unwrap();
    assert_eq!(batch.len(), images.len());
    let mut faces = 0;
    for (i, (image, got)) in images.iter().zip(&batch).enumerate() {
        let alone = detector.detect(image).unwrap();
        assert_eq!(got, &alone, "image {i} ({}×{})", image.width(), image.height());
        faces += alone.len();
    }
    assert_eq!(timings.faces, faces);
    faces
}

#[test]
fn a_cpu_batch_gives_each_image_its_own_faces() {
    let detector = Detector::builder().device(Device::Cpu).build().unwrap();
    let faces = assert_batch_matches_single(&detector, &mixed_batch());
    // The astronaut's face twice, and once more in the crop.
    assert_eq!(faces, 3);
    assert!(detector.detect_batch(&[]).unwrap().is_empty());
}

#[test]
fn a_gpu_batch_gives_each_image_its_own_faces() {
    let gpu = match Detector::builder().device(Device::Gpu).build() {
        Ok(d) => d,
        Err(e) if std::env::var_os("MTCNN_REQUIRE_GPU").is_some_and(|v| v != "0") => {
            panic!("MTCNN_REQUIRE_GPU is set but Device::Gpu failed: {e}")
        }
        Err(e) => return eprintln!("SKIPPED: no GPU ({e})"),
    };
    let faces = assert_batch_matches_single(&gpu, &mixed_batch());
    assert_eq!(faces, 3);
    assert!(gpu.detect_batch(&[]).unwrap().is_empty());

    // Real photos of several sizes from the shared data, where available: the same faces as one by one.
    let Some(data) = shared_data_or_skip("a_gpu_batch_gives_each_image_its_own_faces") else {
        return;
    };
    let images: Vec<image::RgbImage> = ["ivan", "messi5", "test1"]
        .iter()
        .map(|name| image::open(data.join(format!("images/{name}.png"))).unwrap().to_rgb8())
        .collect();
    assert!(assert_batch_matches_single(&gpu, &images) >= 3);
}
