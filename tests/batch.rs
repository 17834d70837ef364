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
    assert!(detector.detect_batch(&[] as &[image::RgbImage]).unwrap().is_empty());
}

#[test]
fn a_gpu_batch_gives_each_image_its_own_faces() {
    let Some(gpu) = common::gpu_detector_or_skip() else {
        return;
    };
    let faces = assert_batch_matches_single(&gpu, &mixed_batch());
    assert_eq!(faces, 3);
    assert!(gpu.detect_batch(&[] as &[image::RgbImage]).unwrap().is_empty());

    // The golden images (all of them with MTCNN_GPU_ALL_IMAGES=1, as in CI; otherwise those up to about
    // 640×480) as one mixed-size batch: the same faces as one by one.
    let Some(images) = golden_images("a_gpu_batch_gives_each_image_its_own_faces", 640 * 512) else {
        return;
    };
    let faces = assert_batch_matches_single(&gpu, &images);
    println!(
        "gpu batch of {} golden images: {faces} faces, identical to one by one",
        images.len()
    );
    assert!(faces >= 40, "{faces}");
}

#[test]
fn a_cpu_batch_of_the_golden_images_gives_each_image_its_own_faces() {
    let Some(images) = golden_images(
        "a_cpu_batch_of_the_golden_images_gives_each_image_its_own_faces",
        usize::MAX,
    ) else {
        return;
    };
    let detector = Detector::builder().device(Device::Cpu).build().unwrap();
    let faces = assert_batch_matches_single(&detector, &images);
    assert_eq!((images.len(), faces), (18, 99));
}

/// The golden images up to `max_pixels` (all of them with MTCNN_GPU_ALL_IMAGES=1), sorted by name.
fn golden_images(test: &str, max_pixels: usize) -> Option<Vec<image::RgbImage>> {
    let data = shared_data_or_skip(test)?;
    let all = std::env::var_os("MTCNN_GPU_ALL_IMAGES").is_some_and(|v| v != "0");
    let mut names: Vec<_> = std::fs::read_dir(data.join("images"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    names.sort();
    Some(
        names
            .iter()
            .map(|p| image::open(p).unwrap().to_rgb8())
            .filter(|i| all || (i.width() * i.height()) as usize <= max_pixels)
            .collect(),
    )
}

/// A batch larger than one segment table holds (1024 entries: the host splits such dispatches): 1100 small
/// crops of the photo, each with the astronaut's face, several pyramid levels and R-Net and O-Net crops of its
/// own. A sample, including images past the first table, gives the same faces as alone.
#[test]
fn a_gpu_batch_longer_than_one_segment_table_gives_each_image_its_own_faces() {
    let Some(gpu) = common::gpu_detector_or_skip() else {
        return;
    };
    let photo = astronaut();
    let images: Vec<image::RgbImage> = (0..1100u32)
        .map(|i| {
            let crop = image::imageops::crop_imm(&photo, 100 + i % 11, 20 + i / 11 % 9, 201, 237).to_image();
            image::imageops::resize(&crop, 64, 75, image::imageops::FilterType::Triangle)
        })
        .collect();
    let batch = gpu.detect_batch(&images).unwrap();
    assert_eq!(batch.len(), images.len());
    for i in (0..images.len()).step_by(61).chain([1023, 1024, 1099]) {
        let alone = gpu.detect(&images[i]).unwrap();
        assert!(!alone.is_empty(), "image {i} has no face");
        assert_eq!(batch[i], alone, "image {i}");
    }
}
