//! A stream of frames, as a video application sees it: one detector, built once, called frame after frame with
//! `detect_into` and one list of faces that is refilled each time. After the first frame of a size, the CPU path
//! allocates no memory at all and the GPU path creates no buffer and no bind group (the detector keeps its
//! workspaces and pools), so a steady stream costs only the work itself. Prints frames a second.
//!
//! `cargo run --release --example frames -- FOLDER [auto|gpu|cpu]`
//! (with `-` or no folder, 60 frames of the astronaut drifting across a 640×480 canvas).

use std::time::Instant;

use image::RgbImage;
use mtcnn_wgpu::{Detector, Device};

fn frames_from(folder: Option<String>) -> Result<Vec<RgbImage>, Box<dyn std::error::Error>> {
    let Some(folder) = folder.filter(|f| !f.is_empty() && f != "-") else {
        let astronaut = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))?.to_rgb8();
        let small = image::imageops::resize(&astronaut, 256, 256, image::imageops::FilterType::Triangle);
        return Ok((0..60)
            .map(|i| {
                let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([40, 40, 40]));
                image::imageops::replace(&mut frame, &small, i * 6, 100 + (i % 10) * 5);
                frame
            })
            .collect());
    };
    let mut paths: Vec<_> = std::fs::read_dir(&folder)?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    // Frames that don't decode are skipped, as a player would drop them.
    Ok(paths
        .iter()
        .filter_map(|p| Some(image::open(p).ok()?.to_rgb8()))
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let frames = frames_from(args.next())?;
    let device = match args.next().as_deref() {
        Some("gpu") => Device::Gpu,
        Some("cpu") => Device::Cpu,
        _ => Device::Auto,
    };
    let detector = Detector::builder().device(device).build()?;
    println!("{} frames on {}", frames.len(), detector.adapter().unwrap_or("the CPU"));
    let (mut found, mut first) = (0, None);
    // One list for the whole stream: `detect_into` clears it and refills it, keeping its allocation.
    let mut faces = Vec::new();
    let start = Instant::now();
    for frame in &frames {
        let t = Instant::now();
        detector.detect_into(frame, &mut faces)?;
        found += faces.len();
        first.get_or_insert(t.elapsed());
    }
    let seconds = start.elapsed().as_secs_f64();
    let first = first.unwrap_or_default().as_secs_f64();
    println!(
        "{found} faces; first frame {:.1} ms (allocates the buffers); all {:.1} frames a second",
        first * 1e3,
        frames.len() as f64 / seconds.max(1e-9)
    );
    Ok(())
}
