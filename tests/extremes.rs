//! Extreme but valid options, on both devices: a minimum face larger than the image, thresholds of 0 and 1.
//! (`tests/memory.rs` runs `min_face_size` 12 on a large image against the README's memory formula.)

mod common;

use image::RgbImage;
use mtcnn_wgpu::{Detector, DetectorOptions, Device, Face, Thresholds};

fn astronaut(side: u32) -> RgbImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png");
    let image = image::open(path).expect("assets/astronaut.png").to_rgb8();
    image::imageops::resize(&image, side, side, image::imageops::FilterType::Triangle)
}

/// The CPU detector and, where there is an adapter, the GPU one, with these options.
fn detectors(options: DetectorOptions) -> Vec<Detector> {
    let mut all = vec![Detector::builder()
        .options(DetectorOptions {
            device: Device::Cpu,
            ..options
        })
        .build()
        .unwrap()];
    all.extend(common::gpu_detector_from(Detector::builder().options(options)));
    all
}

/// Finite boxes inside the image, confidences in [0, 1] in descending order, finite keypoints.
fn assert_sane(faces: &[Face], side: u32) {
    for f in faces {
        let b = f.bbox;
        assert!(
            b.x >= 0.0 && b.y >= 0.0 && b.right() <= side as f32 && b.bottom() <= side as f32,
            "{f:?}"
        );
        assert!((0.0..=1.0).contains(&f.confidence), "{f:?}");
        let k = f.keypoints.expect("all three stages ran");
        assert!(k.to_array().iter().all(|p| p.x.is_finite() && p.y.is_finite()), "{f:?}");
    }
    assert!(faces.windows(2).all(|w| w[0].confidence >= w[1].confidence));
}

#[test]
fn a_minimum_face_larger_than_the_image_finds_nothing_and_fails_nothing() {
    let image = astronaut(256);
    for detector in detectors(DetectorOptions {
        min_face_size: 1000.0,
        ..DetectorOptions::default()
    }) {
        let (faces, timings) = detector.detect_timed(&image).unwrap();
        assert!(faces.is_empty(), "{:?}: {faces:?}", detector.device());
        assert_eq!(timings.levels, 0, "no pyramid level can hold a 12-pixel cell");
    }
}

#[test]
fn thresholds_of_one_keep_nothing() {
    // A score must be strictly greater than its threshold, and no probability exceeds 1.
    let image = astronaut(256);
    for detector in detectors(DetectorOptions {
        thresholds: Thresholds {
            pnet: 1.0,
            rnet: 1.0,
            onet: 1.0,
        },
        ..DetectorOptions::default()
    }) {
        let (faces, timings) = detector.detect_timed(&image).unwrap();
        assert!(faces.is_empty() && timings.rnet_inputs == 0, "{:?}", detector.device());
    }
}

#[test]
fn thresholds_of_zero_keep_everything_and_stay_sane() {
    // Every P-Net cell passes: thousands of candidates go through R-Net and O-Net.
    let side = 160;
    let image = astronaut(side);
    let mut counts = Vec::new();
    for detector in detectors(DetectorOptions {
        thresholds: Thresholds {
            pnet: 0.0,
            rnet: 0.0,
            onet: 0.0,
        },
        ..DetectorOptions::default()
    }) {
        let (faces, timings) = detector.detect_timed(&image).unwrap();
        println!(
            "{:?}: {} cells, {} R-Net inputs, {} O-Net inputs, {} faces",
            detector.device(),
            timings.proposals,
            timings.rnet_inputs,
            timings.onet_inputs,
            faces.len()
        );
        assert!(timings.proposals > 1000, "{timings:?}");
        assert!(!faces.is_empty());
        assert_sane(&faces, side);
        counts.push((timings.proposals, faces.len()));
    }
    // The GPU finds the same cells; only a score tie flipped by its arithmetic could change the faces.
    if let [cpu, gpu] = counts[..] {
        assert_eq!(cpu.0, gpu.0, "cells above a threshold of 0");
    }
}
