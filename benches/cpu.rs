//! CPU path benchmarks: `detect` end to end on the two bench images of `../shared/data/images`, and each stage on
//! its own (the per-stage times that `Detector::detect_timed` measures inside the same calls).
//!
//! `cargo bench --bench cpu`. Without `../shared/data` it falls back to the shipped astronaut image.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
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

fn cpu(c: &mut Criterion) {
    let detector = Detector::builder().device(Device::Cpu).build().expect("detector");
    let images = bench_images();

    let mut group = c.benchmark_group("cpu_detect");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, image) in &images {
        group.bench_with_input(BenchmarkId::from_parameter(name), image, |b, image| {
            b.iter(|| detector.detect(image).expect("detect"))
        });
    }
    group.finish();

    type Stage = (&'static str, fn(&StageTimings) -> Duration);
    let stages: [Stage; 4] = [
        ("pyramid_pnet", |t| t.pnet),
        ("pnet_nms", |t| t.pnet_nms),
        ("rnet", |t| t.rnet),
        ("onet", |t| t.onet),
    ];
    for (name, image) in &images {
        let mut group = c.benchmark_group(format!("cpu_stage/{name}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for (stage, pick) in stages {
            group.bench_function(stage, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| pick(&detector.detect_timed(image).expect("detect").1))
                        .sum()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, cpu);
criterion_main!(benches);
