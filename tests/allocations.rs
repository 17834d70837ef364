//! A stream of same-size frames on the CPU path allocates nothing after the first: every allocation in the process
//! is counted (a counting global allocator, so this file is a test binary of its own).

use std::alloc::System;
use std::path::Path;

use image::RgbImage;
use mtcnn_wgpu::{Detector, Device, Face, PixelLayout, Pixels};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Three different 640×480 frames: the astronaut at three places on a grey canvas.
fn frames() -> Vec<RgbImage> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/astronaut.png");
    let astronaut = image::open(path).expect("assets/astronaut.png").to_rgb8();
    let small = image::imageops::resize(&astronaut, 256, 256, image::imageops::FilterType::Triangle);
    (0..3)
        .map(|i| {
            let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([40, 40, 40]));
            image::imageops::replace(&mut frame, &small, 60 + i * 150, 100 + i * 40);
            frame
        })
        .collect()
}

/// One test, not several: the counter is global, and tests running side by side would count each other.
#[test]
fn repeated_cpu_frames_allocate_nothing_after_the_first() {
    let detector = Detector::builder().device(Device::Cpu).build().unwrap();
    let frames = frames();
    let mut faces: Vec<Face> = Vec::new();

    // The counter does count: the first frame on a fresh detector allocates its buffers.
    let region = Region::new(GLOBAL);
    detector.detect_into(&frames[0], &mut faces).unwrap();
    let first = region.change();
    println!("first frame: {first:?}");
    assert!(first.allocations > 10 && first.bytes_allocated > 1 << 20, "{first:?}");
    assert_eq!(detector.detect(&frames[0]).unwrap(), faces);

    // Warm-up: each frame once, so that every list has grown to the largest candidate count of the three.
    let mut expected = Vec::new();
    for frame in &frames {
        detector.detect_into(frame, &mut faces).unwrap();
        assert!(
            !faces.is_empty(),
            "the astronaut must be found for the test to mean something"
        );
        expected.push(faces.clone());
    }

    // Inside rayon's pool (as a video loop running on it would be), nothing at all is allocated.
    let inside = rayon::scope(|_| {
        let region = Region::new(GLOBAL);
        for _ in 0..5 {
            for (frame, expected) in frames.iter().zip(&expected) {
                detector.detect_into(frame, &mut faces).unwrap();
                assert_eq!(&faces, expected);
            }
        }
        region.change()
    });
    println!("15 frames inside the pool: {inside:?}");
    assert_eq!((inside.allocations, inside.reallocations), (0, 0), "{inside:?}");

    // From an ordinary thread, each call hands one job to the pool; rayon's injector queue allocates one block per
    // 63 jobs, and nothing else is allocated.
    let region = Region::new(GLOBAL);
    for _ in 0..5 {
        for (frame, expected) in frames.iter().zip(&expected) {
            detector.detect_into(frame, &mut faces).unwrap();
            assert_eq!(&faces, expected);
        }
    }
    let outside = region.change();
    println!("15 frames from the test thread: {outside:?}");
    assert!(outside.allocations <= 1 && outside.reallocations == 0, "{outside:?}");

    // Frames in another layout (BGRA, padded rows, as a capture API gives them) are converted into a buffer the
    // detector keeps: after the first, nothing is allocated either, and the faces are the RGB frames'.
    let bgra: Vec<Vec<u8>> = frames
        .iter()
        .map(|frame| {
            frame
                .rows()
                .flat_map(|row| row.flat_map(|p| [p[2], p[1], p[0], 255]).chain([0; 64]))
                .collect()
        })
        .collect();
    fn pixels(data: &[u8]) -> Pixels<'_> {
        Pixels::with_stride(data, 640, 480, 640 * 4 + 64, PixelLayout::Bgra).unwrap()
    }
    detector.detect_into(pixels(&bgra[0]), &mut faces).unwrap();
    let bgra_frames = rayon::scope(|_| {
        let region = Region::new(GLOBAL);
        for _ in 0..5 {
            for (frame, expected) in bgra.iter().zip(&expected) {
                detector.detect_into(pixels(frame), &mut faces).unwrap();
                assert_eq!(&faces, expected);
            }
        }
        region.change()
    });
    println!("15 BGRA frames inside the pool: {bgra_frames:?}");
    assert_eq!(
        (bgra_frames.allocations, bgra_frames.reallocations),
        (0, 0),
        "{bgra_frames:?}"
    );
}
