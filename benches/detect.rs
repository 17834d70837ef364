//! `detect` on the CPU and on the GPU (when wgpu finds an adapter; lavapipe in CI): end to end, each stage on its
//! own (the per-stage times that `Detector::detect_timed` measures inside the same calls), and `detect_batch` on
//! 16 frames, on the two bench images of `../shared/data/images`.
//!
//! `cargo bench --bench detect` (add `-- cpu/` or `-- gpu/` to filter). Without `../shared/data` it falls back to
//! the shipped astronaut image.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mtcnn_wgpu::{Detector, Device, PixelLayout, Pixels, StageTimings};

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

/// 16 frames of mixed sizes: the shared images (up to 640×512 on a software adapter), repeated as needed, or
/// the astronaut at several sizes.
fn mixed_frames(software: bool) -> Vec<image::RgbImage> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/images");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&shared)
        .map(|dir| dir.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    paths.sort();
    let mut images: Vec<image::RgbImage> = paths
        .iter()
        .filter_map(|p| Some(image::open(p).ok()?.to_rgb8()))
        .filter(|i| !software || i.width() * i.height() <= 640 * 512)
        .collect();
    if images.is_empty() {
        let astronaut = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/astronaut.png"))
            .expect("decode astronaut")
            .to_rgb8();
        images = [512, 400, 320, 256]
            .iter()
            .map(|&s| image::imageops::resize(&astronaut, s, s, image::imageops::FilterType::Triangle))
            .collect();
    }
    images.iter().cycle().take(16).cloned().collect()
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

/// A network stage: its name, its time and its multiply-adds.
type NetworkStage = (&'static str, fn(&StageTimings) -> Duration, fn(&StageTimings) -> u64);
const NETWORK_STAGES: [NetworkStage; 3] = [
    ("pyramid_pnet", |t| t.pnet, |t| t.pnet_multiply_adds),
    ("rnet", |t| t.rnet, |t| t.rnet_multiply_adds),
    ("onet", |t| t.onet, |t| t.onet_multiply_adds),
];
/// The network stages' device times (GPU timestamp queries).
type DeviceStage = (
    &'static str,
    fn(&StageTimings) -> Option<Duration>,
    fn(&StageTimings) -> u64,
);
const DEVICE_STAGES: [DeviceStage; 3] = [
    ("pyramid_pnet_device", |t| t.pnet_device, |t| t.pnet_multiply_adds),
    ("rnet_device", |t| t.rnet_device, |t| t.rnet_multiply_adds),
    ("onet_device", |t| t.onet_device, |t| t.onet_multiply_adds),
];
/// The host-only stages (box arithmetic and NMS): times only.
type HostStage = (&'static str, fn(&StageTimings) -> Duration);
const HOST_STAGES: [HostStage; 2] = [
    ("pnet_nms", |t| t.pnet_nms),
    ("nms_rnet_onet", |t| t.rnet_nms + t.onet_nms),
];

/// Benches one stage's share of `detect_timed`.
fn bench_stage(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    detector: &Detector,
    image: &image::RgbImage,
    pick: impl Fn(&StageTimings) -> Duration,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| pick(&detector.detect_timed(image).expect("detect").1))
                .sum()
        })
    });
}

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
            for (stage, pick) in HOST_STAGES {
                bench_stage(&mut group, stage, &detector, image, pick);
            }
            // From here on criterion's "elem/s" are multiply-adds a second: the distance to the hardware.
            let work = detector.detect_timed(image).expect("detect").1;
            for (stage, pick, multiply_adds) in NETWORK_STAGES {
                group.throughput(Throughput::Elements(multiply_adds(&work)));
                bench_stage(&mut group, stage, &detector, image, pick);
            }
            // The same stages timed on the device by timestamp queries, where the adapter has them.
            if work.pnet_device.is_some() {
                for (stage, pick, multiply_adds) in DEVICE_STAGES {
                    group.throughput(Throughput::Elements(multiply_adds(&work)));
                    bench_stage(&mut group, stage, &detector, image, move |t| {
                        pick(t).unwrap_or_default()
                    });
                }
            }
            group.throughput(Throughput::Elements(work.multiply_adds()));
            group.bench_function("detect", |b| b.iter(|| detector.detect(image).expect("detect")));
            // The same frame as BGRA (a capture API's layout): the difference is the conversion to packed RGB.
            let bgra: Vec<u8> = image.pixels().flat_map(|p| [p[2], p[1], p[0], 255]).collect();
            let pixels = Pixels::new(&bgra, image.width(), image.height(), PixelLayout::Bgra).expect("pixels");
            group.bench_function("detect_bgra", |b| b.iter(|| detector.detect(pixels).expect("detect")));
            if !(software && image.width() > 640) {
                group.throughput(Throughput::Elements(16 * work.multiply_adds()));
                let frames = vec![image.clone(); 16];
                group.bench_function("batch_of_16", |b| {
                    b.iter(|| detector.detect_batch(&frames).expect("detect_batch").len())
                });
            }
            group.finish();
        }
        // Throughput in images a second: 16 frames of mixed sizes, as one batch and one at a time.
        let frames = mixed_frames(software);
        let mut group = c.benchmark_group(format!("{device}/mixed_16"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5))
            .throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function("detect_batch", |b| {
            b.iter(|| detector.detect_batch(&frames).expect("detect_batch").len())
        });
        group.bench_function("one_at_a_time", |b| {
            b.iter(|| {
                frames
                    .iter()
                    .map(|f| detector.detect(f).expect("detect").len())
                    .sum::<usize>()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, detect);
criterion_main!(benches);
