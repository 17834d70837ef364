//! Helpers shared by the integration tests: where `../shared/data` is, and the rule that in CI nothing skips.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/data` beside the repository, or `$MTCNN_SHARED_DATA`.
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("MTCNN_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    dir.join("reference").is_dir().then_some(dir)
}

/// True where a missing prerequisite must fail the test instead of skipping it: in CI (`CI` set and not
/// "false"/"0") or with `MTCNN_REQUIRE_DATA=1`.
pub fn must_not_skip() -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .map(|v| !v.is_empty() && v != "0" && v != "false")
            .unwrap_or(false)
    };
    set("CI") || set("MTCNN_REQUIRE_DATA")
}

/// The shared data folder, or `None` after printing why the test is skipped (a panic in CI).
pub fn shared_data_or_skip(test: &str) -> Option<PathBuf> {
    match shared_data() {
        Some(dir) => Some(dir),
        None if must_not_skip() => {
            panic!("{test}: ../shared/data is missing (set MTCNN_SHARED_DATA); in CI this test may not skip")
        }
        None => {
            eprintln!("SKIPPED {test}: ../shared/data not found (set MTCNN_SHARED_DATA to run it)");
            None
        }
    }
}

pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// A `Device::Gpu` detector, or `None` after printing why the GPU tests skip (a panic with `MTCNN_REQUIRE_GPU`).
pub fn gpu_detector_or_skip() -> Option<mtcnn_wgpu::Detector> {
    gpu_detector_from(mtcnn_wgpu::Detector::builder())
}

/// [`gpu_detector_or_skip`] with other options.
pub fn gpu_detector_from(builder: mtcnn_wgpu::DetectorBuilder) -> Option<mtcnn_wgpu::Detector> {
    match builder.device(mtcnn_wgpu::Device::Gpu).build() {
        Ok(d) => Some(d),
        Err(e) if std::env::var_os("MTCNN_REQUIRE_GPU").is_some_and(|v| v != "0") => {
            panic!("MTCNN_REQUIRE_GPU is set but Device::Gpu failed: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: no GPU ({e})");
            None
        }
    }
}
