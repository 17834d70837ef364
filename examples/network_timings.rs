//! Times each network alone on the CPU path, on fixed synthetic inputs of the sizes a 640×480 detection feeds
//! them: R-Net and O-Net on a batch of 36 crops, P-Net on a 288×384 pyramid level. Prints the best of 60 runs, in
//! milliseconds, and the multiply-adds a second. A quick way to compare builds or CPUs kernel by kernel.
//!
//! `cargo run --release --example network_timings -- [THREADS]` (default: 1).

use std::error::Error;
use std::time::Instant;

use mtcnn_wgpu::{nets::CpuNets, Weights};

/// Multiply-adds of one 24×24 R-Net crop, one 48×48 O-Net crop and P-Net on one 288×384 input.
const RNET_MACS: f64 = 1.53e6;
const ONET_MACS: f64 = 12.9e6;
const PNET_MACS: f64 = 1.926e8;
const CROPS: usize = 36;
const RUNS: usize = 60;

fn main() -> Result<(), Box<dyn Error>> {
    let threads = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 1,
    };
    let nets = CpuNets::new(&Weights::embedded()?);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    // Normalised pixels, as the pipeline feeds the networks: (v − 127.5) / 128.
    let pixels = |n: usize| {
        (0..n)
            .map(|i| ((i * 7919 % 256) as f32 - 127.5) / 128.0)
            .collect::<Vec<f32>>()
    };
    let (rnet_in, onet_in, pnet_in) = (
        pixels(CROPS * 24 * 24 * 3),
        pixels(CROPS * 48 * 48 * 3),
        pixels(288 * 384 * 3),
    );
    let mut best = [f64::INFINITY; 3];
    pool.install(|| -> Result<(), Box<dyn Error + Send + Sync>> {
        for _ in 0..RUNS {
            let start = Instant::now();
            nets.rnet(&rnet_in)?;
            best[0] = best[0].min(start.elapsed().as_secs_f64());
            let start = Instant::now();
            nets.onet(&onet_in)?;
            best[1] = best[1].min(start.elapsed().as_secs_f64());
            let start = Instant::now();
            nets.pnet(&pnet_in, 288, 384)?;
            best[2] = best[2].min(start.elapsed().as_secs_f64());
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let macs = [CROPS as f64 * RNET_MACS, CROPS as f64 * ONET_MACS, PNET_MACS];
    for ((name, seconds), macs) in ["R-Net, 36 crops", "O-Net, 36 crops", "P-Net, 288×384"]
        .iter()
        .zip(best)
        .zip(macs)
    {
        println!(
            "{name:16} {:7.3} ms  {:5.1} G multiply-adds/s",
            seconds * 1e3,
            macs / seconds / 1e9
        );
    }
    println!("(best of {RUNS} runs on {threads} thread(s))");
    Ok(())
}
