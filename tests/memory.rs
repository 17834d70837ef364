//! The CPU path's peak memory against the formula in the README ("Memory"). A test binary of its own, because the
//! peak resident size (`VmHWM`) is the whole process's and only ever grows.

use image::RgbImage;
use mtcnn_wgpu::{Detector, DetectorOptions, Device};

/// The process's peak resident memory so far, in bytes (Linux).
fn peak_resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The README's bound: a base of 64 MiB (code, weights, threads, the test itself), the caller's 8-bit image and
/// its copy regrouped for the pyramid's resizes (3 bytes a pixel each), and the largest level's buffers,
/// `40·s²·W·H` bytes with `s = 12 / min_face_size` (the level and the two activation buffers), half as much again
/// when the levels run in two groups (largest level ≤ 2 MP).
fn formula(width: u64, height: u64, min_face_size: f64) -> u64 {
    let s = 12.0 / min_face_size;
    let pixels = (width * height) as f64;
    let level = pixels * 40.0 * s * s;
    let groups = if pixels * s * s <= (1 << 21) as f64 { 1.5 } else { 1.0 };
    (64.0 * 1048576.0 + 6.0 * pixels + level * groups) as u64
}

/// A grey canvas with the astronaut pasted at a few sizes, so that every stage has work.
fn canvas(width: u32, height: u32) -> RgbImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png");
    let astronaut = image::open(path).expect("assets/astronaut.png").to_rgb8();
    let mut canvas = RgbImage::from_pixel(width, height, image::Rgb([90, 90, 90]));
    for (i, side) in [400u32, 200, 120].into_iter().enumerate() {
        let face = image::imageops::resize(&astronaut, side, side, image::imageops::FilterType::Triangle);
        image::imageops::replace(&mut canvas, &face, 100 + i as i64 * 700, 100 + i as i64 * 300);
    }
    canvas
}

#[test]
fn cpu_peak_memory_stays_within_the_formula() {
    if peak_resident().is_none() {
        eprintln!("SKIPPED: no /proc/self/status here; the formula is checked on Linux");
        return;
    }
    // Smallest bound first: the peak only grows.
    for (width, height, min_face_size) in [(3840u32, 2160u32, 20.0), (3000, 2000, 12.0)] {
        let image = canvas(width, height);
        let detector = Detector::builder()
            .options(DetectorOptions {
                min_face_size,
                device: Device::Cpu,
                ..DetectorOptions::default()
            })
            .build()
            .unwrap();
        let faces = detector.detect(&image).unwrap();
        let peak = peak_resident().unwrap();
        let bound = formula(width.into(), height.into(), min_face_size);
        println!(
            "{width}×{height}, min_face_size {min_face_size}: {} faces, peak resident {} MiB, formula {} MiB",
            faces.len(),
            peak >> 20,
            bound >> 20
        );
        assert!(!faces.is_empty());
        assert!(peak <= bound, "peak {peak} over the formula's {bound}");
    }
}
