//! An image beyond the GPU's binding limits: 8000×6000 pixels, golden images pasted onto a grey canvas. Its float
//! copy (576 MB) and its largest pyramid levels exceed one storage binding (128 MiB on lavapipe), so the GPU path
//! detects it level by level and strip by strip; it must find the faces the CPU path finds, without a validation
//! error or running out of memory. (`src/parity_tests.rs` does the same with artificially lowered limits on a
//! small image.)

#![cfg(feature = "gpu")]

mod common;

use image::RgbImage;
use mtcnn_wgpu::{Detector, Device};

#[test]
fn an_8000_by_6000_image_finds_the_cpu_faces_on_the_gpu() {
    let Some(data) = common::shared_data_or_skip("an_8000_by_6000_image_finds_the_cpu_faces_on_the_gpu") else {
        return;
    };
    let Some(gpu) = common::gpu_detector_or_skip() else {
        return;
    };
    let mut canvas = RgbImage::from_pixel(8000, 6000, image::Rgb([110, 110, 110]));
    let pastes = [
        ("tom_hanks.png", 1, 200, 300),
        ("messi5.png", 1, 2500, 400),
        ("multiface.png", 1, 5200, 3500),
        ("bald_guys.png", 1, 300, 4200),
        ("ivan.png", 4, 3000, 2400),
    ];
    for (name, zoom, x, y) in pastes {
        let image = image::open(data.join("images").join(name)).unwrap().to_rgb8();
        let image = image::imageops::resize(
            &image,
            image.width() * zoom,
            image.height() * zoom,
            image::imageops::FilterType::Triangle,
        );
        image::imageops::replace(&mut canvas, &image, x, y);
    }
    let cpu = Detector::builder().device(Device::Cpu).build().unwrap();
    let expected = cpu.detect(&canvas).unwrap();
    let started = std::time::Instant::now();
    let (got, timings) = gpu.detect_timed(&canvas).unwrap();
    println!(
        "8000×6000 on {}: {} faces in {:.1} s ({} levels, {} cells, {} R-Net inputs); CPU: {} faces",
        gpu.adapter().unwrap_or("?"),
        got.len(),
        started.elapsed().as_secs_f64(),
        timings.levels,
        timings.proposals,
        timings.rnet_inputs,
        expected.len()
    );
    assert!(
        expected.len() >= 10,
        "the pasted faces must be found for the test to mean something"
    );
    assert_eq!(got.len(), expected.len());
    let mut worst = 0.0f32;
    for (g, e) in got.iter().zip(&expected) {
        assert!(g.bbox.iou(&e.bbox) >= 0.95, "{g:?} vs {e:?}");
        assert!((g.confidence - e.confidence).abs() <= 0.01, "{g:?} vs {e:?}");
        let (gk, ek) = (g.keypoints.unwrap().to_array(), e.keypoints.unwrap().to_array());
        for (p, q) in gk.iter().zip(&ek) {
            worst = worst.max((p.x - q.x).abs()).max((p.y - q.y).abs());
        }
    }
    println!("worst landmark difference {worst:.2e} px");
    assert!(worst <= 2.0, "{worst}");
}
