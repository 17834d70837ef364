//! A service's view: many requests arrive at once and each awaits its faces with `detect_async`, on whatever
//! executor the application runs (here `futures`' own `block_on`). The detector runs a bounded number of
//! detections at a time on its worker threads, whatever the number of requests; the requests whose callers gave
//! up are skipped. Prints requests a second against one `detect` after the other.
//!
//! `cargo run --release --example requests -- [IMAGE] [REQUESTS]` (default: the astronaut, 64 requests).

use std::time::Instant;

use mtcnn_wgpu::{Detector, Device};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png").to_owned());
    let requests: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(64);
    let image = image::open(&path)?.to_rgb8();
    let detector = Detector::builder().device(Device::Cpu).build()?;
    let expected = detector.detect(&image)?;

    let start = Instant::now();
    for _ in 0..requests {
        detector.detect(&image)?;
    }
    let one_by_one = start.elapsed().as_secs_f64();

    // All requests in flight at once; half of the callers give up (drop their futures) straight away.
    let start = Instant::now();
    let mut pending: Vec<_> = (0..requests).map(|_| detector.detect_async(image.clone())).collect();
    let kept: Vec<_> = pending
        .drain(..)
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, f)| f)
        .collect();
    let answered = futures::executor::block_on(futures::future::join_all(kept));
    let concurrent = start.elapsed().as_secs_f64();
    for faces in &answered {
        assert_eq!(faces.as_ref().map_err(|e| e.to_string())?, &expected);
    }

    println!(
        "{requests} requests on {} CPU threads: one by one {:.1} requests/s; all at once, {} awaited and {} given \
         up, {:.1} answered/s",
        detector.cpu_threads(),
        requests as f64 / one_by_one,
        answered.len(),
        requests - answered.len(),
        answered.len() as f64 / concurrent
    );
    Ok(())
}
