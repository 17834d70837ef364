//! `detect` on the CPU and on the GPU (when wgpu finds an adapter; lavapipe in CI): end to end, each stage on its
//! own (the per-stage times that `Detector::detect_timed` measures inside the same calls), and a batch of 16
//! frames, on the two bench images of `../shared/data/images`.
//!
//! `cargo bench --bench detect` (add `-- cpu/` or `-- gpu/` to filter). Without `../shared/data` it falls back to
//! the shipped astronaut image.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use mtcnn_wgpu::{Detector, Device, StageTimings};

fn bench_images() -> Vec<(String, image::RgbImage)> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/images");
    let mut paths: Vec<PathBuf> = ["bench_640x480.png", "bench_1920x1080.png"]
        .iter()
        .map(|n| shared.join(n))
        .filter(|p| p.is_file())
        .collect();
    if paths.is_empty() {
        eprintln!("../shared/data/images not found: benchmarking assets/astronaut.png only");
        paths.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/astronaut.png"));
    }
    paths
        .iter()
        .map(|p| {
            let image = image::open(p).expect("decode bench image").to_rgb8();
            (format!("{}x{}", image.width(), image.height()), image)
        })
        .collect()
}

fn detectors() -> Vec<(&'static str, Detector)> {
    let mut out = vec![(
        "cpu",
        Detector::builder().device(Device::Cpu).build().expect("cpu detector"),
    )];
    match Detector::builder().device(Device::Gpu).build() {
        Ok(gpu) => {
            eprintln!("GPU adapter: {}", gpu.adapter().unwrap_or("?"));
            out.push(("gpu", gpu));
        }
        Err(e) => eprintln!("no GPU benches: {e}"),
    }
    out
}

type Stage = (&'static str, fn(&StageTimings) -> Duration);
const STAGES: [Stage; 5] = [
    ("pyramid_pnet", |t| t.pnet),
    ("pnet_nms", |t| t.pnet_nms),
    ("rnet", |t| t.rnet),
    ("onet", |t| t.onet),
    ("nms_rnet_onet", |t| t.rnet_nms + t.onet_nms),
];

fn detect(c: &mut Criterion) {
    let images = bench_images();
    for (device, detector) in detectors() {
        // A software adapter (lavapipe) takes seconds a frame at 1080p: its batches stay on the small image.
        let software = detector.adapter().is_some_and(|a| a.ends_with("Cpu)"));
        for (name, image) in &images {
            let mut group = c.benchmark_group(format!("{device}/{name}"));
            group
                .sample_size(10)
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(5));
            group.bench_function("detect", |b| b.iter(|| detector.detect(image).expect("detect")));
            for (stage, pick) in STAGES {
                group.bench_function(stage, |b| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| pick(&detector.detect_timed(image).expect("detect").1))
                            .sum()
                    })
                });
            }
            if !(software && image.width() > 640) {
                group.bench_function("batch_of_16", |b| {
                    b.iter(|| {
                        (0..16)
                            .map(|_| detector.detect(image).expect("detect").len())
                            .sum::<usize>()
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, detect);
criterion_main!(benches);
