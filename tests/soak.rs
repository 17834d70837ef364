//! Long runs keep memory flat: after a warm-up, resident memory does not grow with the number of detections, on
//! the CPU and on the GPU (lavapipe in CI; the GPU buffer pool and bind-group cache are bounded). CI runs a few
//! hundred detections; `cargo test --release --test soak -- --ignored` runs 10 000.

mod common;

/// Resident memory of this process in bytes (Linux), or `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Runs `detector` `runs` times after `warmup` runs; returns resident memory after the warm-up and at the end.
fn soak(detector: &mtcnn_wgpu::Detector, image: &image::RgbImage, warmup: usize, runs: usize) -> Option<(u64, u64)> {
    let expected = detector.detect(image).unwrap();
    for _ in 0..warmup {
        detector.detect(image).unwrap();
    }
    let start = resident_bytes()?;
    for _ in 0..runs {
        assert_eq!(detector.detect(image).unwrap(), expected);
    }
    Some((start, resident_bytes()?))
}

fn frame(side: u32) -> image::RgbImage {
    let astronaut = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8();
    image::imageops::resize(&astronaut, side, side, image::imageops::FilterType::Triangle)
}

fn check(name: &str, detector: &mtcnn_wgpu::Detector, side: u32, runs: usize) {
    let Some((start, end)) = soak(detector, &frame(side), 20, runs) else {
        return eprintln!("SKIPPED {name}: no /proc/self/statm");
    };
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "{name}: {runs} detections after a warm-up of 20: resident {:.1} MiB → {:.1} MiB",
        mib(start),
        mib(end)
    );
    assert!(
        end <= start + (8 << 20),
        "resident memory grew from {start} to {end} bytes"
    );
}

// One test for both devices: resident memory is the whole process's, so nothing else may run beside it.
#[test]
fn long_runs_keep_memory_flat() {
    let cpu = mtcnn_wgpu::Detector::builder()
        .device(mtcnn_wgpu::Device::Cpu)
        .build()
        .unwrap();
    check("cpu soak", &cpu, 256, 300);
    drop(cpu);
    if let Some(gpu) = common::gpu_detector_or_skip() {
        check("gpu soak", &gpu, 160, 100);
    }
}

#[test]
#[ignore]
fn ten_thousand_detections_keep_memory_flat() {
    let cpu = mtcnn_wgpu::Detector::builder()
        .device(mtcnn_wgpu::Device::Cpu)
        .build()
        .unwrap();
    check("cpu soak", &cpu, 256, 10_000);
    if let Some(gpu) = common::gpu_detector_or_skip() {
        check("gpu soak", &gpu, 160, 10_000);
    }
}
