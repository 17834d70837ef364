//! One `Detector` shared by many threads: every result equals the single-thread result, on the CPU and on the GPU
//! (lavapipe in CI), with single images and batches interleaved.

mod common;

use std::sync::Arc;

use common::shared_data_or_skip;
use mtcnn_wgpu::{Detector, Device, Face};

/// The astronaut, three golden images and a crop; with `all_golden`, every golden image instead of three.
fn images_with(all_golden: bool) -> Vec<image::RgbImage> {
    let astronaut = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8();
    let mut images = vec![astronaut.clone()];
    if let Some(data) = shared_data_or_skip("threads") {
        let names: Vec<String> = match all_golden {
            false => ["ivan", "messi5", "test1"].map(String::from).to_vec(),
            true => {
                let reference = std::fs::read_dir(data.join("reference")).unwrap();
                let mut names: Vec<String> = reference
                    .filter_map(|e| {
                        let name = e.ok()?.file_name().into_string().ok()?;
                        Some(name.strip_suffix(".json")?.to_string())
                    })
                    .filter(|name| data.join(format!("images/{name}.png")).is_file())
                    .collect();
                names.sort();
                names
            }
        };
        for name in names {
            images.push(image::open(data.join(format!("images/{name}.png"))).unwrap().to_rgb8());
        }
    }
    images.push(image::imageops::crop_imm(&astronaut, 100, 20, 301, 257).to_image());
    images
}

/// `threads` threads, each running every image `runs` times one by one on the same detector, and the images as one
/// batch after every `batch_every`-th run.
fn shared_by_threads(detector: Detector, threads: usize, runs: usize, batch_every: usize, all_golden: bool) {
    let images = Arc::new(images_with(all_golden));
    let expected: Arc<Vec<Vec<Face>>> = Arc::new(images.iter().map(|i| detector.detect(i).unwrap()).collect());
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (detector, images, expected) = (detector.clone(), images.clone(), expected.clone());
            std::thread::spawn(move || {
                for run in 0..runs {
                    // Threads start at different images, so that different work overlaps.
                    for k in 0..images.len() {
                        let i = (k + t + run) % images.len();
                        assert_eq!(
                            detector.detect(&images[i]).unwrap(),
                            expected[i],
                            "thread {t}, image {i}"
                        );
                    }
                    if (run + 1) % batch_every == 0 {
                        assert_eq!(
                            &detector.detect_batch(&images).unwrap(),
                            expected.as_ref(),
                            "thread {t} batch"
                        );
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a detection thread panicked");
    }
    println!(
        "{threads} threads × {runs} runs × {} images ({} detections, and {} batches) on {}: all equal to one thread",
        images.len(),
        threads * runs * images.len(),
        threads * (runs / batch_every),
        detector.adapter().unwrap_or("the CPU")
    );
}

fn cpu_detector() -> Detector {
    Detector::builder().device(Device::Cpu).build().unwrap()
}

#[test]
fn sixteen_threads_share_one_cpu_detector() {
    shared_by_threads(cpu_detector(), 16, 3, 1, false);
}

#[test]
fn sixteen_threads_share_one_gpu_detector() {
    let Some(gpu) = common::gpu_detector_or_skip() else {
        return;
    };
    shared_by_threads(gpu, 16, 1, 1, false);
}

/// The full check on the CPU: 16 threads × 50 runs of every golden image, and a batch of them after each run
/// (minutes). `cargo test --release --test threads -- --ignored`.
#[test]
#[ignore]
fn sixteen_threads_fifty_runs_of_the_golden_set_on_the_cpu() {
    shared_by_threads(cpu_detector(), 16, 50, 1, true);
}

/// The full check on the GPU: 16 threads × 50 runs of every golden image, and a batch of them after every tenth
/// run. The calls take turns on the device, so this is 800 passes over the set: about a minute on a real GPU, an
/// hour and a half on lavapipe.
#[test]
#[ignore]
fn sixteen_threads_fifty_runs_of_the_golden_set_on_the_gpu() {
    let Some(gpu) = common::gpu_detector_or_skip() else {
        return;
    };
    shared_by_threads(gpu, 16, 50, 10, true);
}
