//! `mtcnn bench`: times `detect` (or `detect_batch`) on one decoded image after a warm-up, and prints the median
//! and minimum, per stage with `--stages`, and the process's peak resident memory, as text or as one JSON object
//! (`--json`).

use std::time::{Duration, Instant};

use mtcnn_wgpu::{CpuKernels, StageTimings};
use serde_json::{json, Value};

use crate::{build_detector, decoding, BenchArgs};

pub fn run(args: &BenchArgs) -> Result<usize, String> {
    let detector = build_detector(&args.detector)?;
    let image = decoding::decode(&args.image, decoding::Orientation::Upright)
        .map_err(|e| format!("{}: {e}", args.image.display()))?;
    let runs = args.runs.max(1);
    let batch = vec![image.clone(); args.batch as usize];
    let (faces, _) = detector.detect_batch_timed(&batch).map_err(|e| e.to_string())?; // warm-up
    let faces = faces.first().map_or(0, Vec::len);
    let mut totals = Vec::with_capacity(runs);
    let mut stages = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let (_, t) = detector.detect_batch_timed(&batch).map_err(|e| e.to_string())?;
        totals.push(start.elapsed());
        stages.push(t);
    }
    let median_total = median(totals.clone());
    let min_total = totals.iter().min().copied().unwrap_or_default();
    let frames = f64::from(args.batch);
    let peak = peak_resident_mib();
    if args.json {
        let mut report = json!({
            "image": args.image.display().to_string(),
            "width": image.width(),
            "height": image.height(),
            "device": detector.device().name(),
            "adapter": detector.adapter(),
            "threads": detector.cpu_threads(),
            "cpu_kernels": CpuKernels::detected().name(),
            "batch": args.batch,
            "runs": runs,
            "faces": faces,
            "median_ms": ms(median_total),
            "min_ms": ms(min_total),
            "frames_per_second": frames / median_total.as_secs_f64().max(1e-12),
            "peak_resident_mib": peak,
        });
        if args.stages {
            report["stages"] = StageMedians::of(&stages).to_json();
        }
        println!("{report}");
        return Ok(0);
    }
    let per_batch = if args.batch > 1 {
        format!(
            " for a batch of {}: {:.2} ms a frame, {:.1} frames a second",
            args.batch,
            ms(median_total) / frames,
            frames / median_total.as_secs_f64()
        )
    } else {
        String::new()
    };
    let peak = peak.map_or(String::new(), |mib| format!(", peak memory {mib:.0} MiB"));
    // The CPU kernels' version matters to the CPU path only (on a GPU the host's CPU runs NMS and little else).
    let kernels = match detector.adapter() {
        Some(_) => String::new(),
        None => format!(" ({} kernels)", CpuKernels::detected()),
    };
    println!(
        "{} {}x{} device {}{kernels} threads {}: {} faces, median {:.2} ms, min {:.2} ms over {runs} runs{per_batch}{peak}",
        args.image.display(),
        image.width(),
        image.height(),
        detector.device().name(),
        detector.cpu_threads(),
        faces,
        ms(median_total),
        ms(min_total),
    );
    if args.stages {
        StageMedians::of(&stages).print();
    }
    Ok(0)
}

/// The whole process's peak resident memory so far (`VmHWM`), in MiB: the decoded image, the detector's buffers
/// and everything else. Linux only; `None` elsewhere.
fn peak_resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One network stage over the runs: the medians of its wall time, its device time (GPU timestamp queries, when
/// the adapter has them) and its readback time (GPU), the readback's size and the stage's multiply-adds.
struct NetworkStage {
    wall: Duration,
    device: Option<Duration>,
    readback: Option<(Duration, u64)>,
    multiply_adds: u64,
}

impl NetworkStage {
    fn of(
        runs: &[StageTimings],
        wall: fn(&StageTimings) -> Duration,
        device: fn(&StageTimings) -> Option<Duration>,
        readback: fn(&StageTimings) -> Option<mtcnn_wgpu::Readback>,
        multiply_adds: u64,
    ) -> Self {
        let readbacks: Option<Vec<mtcnn_wgpu::Readback>> = runs.iter().map(readback).collect();
        NetworkStage {
            wall: median(runs.iter().map(wall).collect()),
            device: median_of_measured(runs, device),
            // The size is the same every run; the time is the median.
            readback: readbacks.map(|all| (median(all.iter().map(|r| r.time).collect()), all[0].bytes)),
            multiply_adds,
        }
    }

    /// Multiply-adds a second, on the device time when there is one.
    fn rate(&self) -> f64 {
        let seconds = self.device.unwrap_or(self.wall).as_secs_f64();
        if seconds > 0.0 {
            self.multiply_adds as f64 / seconds
        } else {
            0.0
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "wall_ms": ms(self.wall),
            "device_ms": self.device.map(ms),
            "readback_ms": self.readback.map(|(t, _)| ms(t)),
            "readback_bytes": self.readback.map(|(_, b)| b),
            "multiply_adds": self.multiply_adds,
            "multiply_adds_per_second": self.rate(),
        })
    }
}

/// The median of a time measured in every run, `None` where it was not measured.
fn median_of_measured(runs: &[StageTimings], f: fn(&StageTimings) -> Option<Duration>) -> Option<Duration> {
    let times: Option<Vec<Duration>> = runs.iter().map(f).collect();
    times.map(median)
}

/// The median of each stage over the runs, and the first run's counts (every run has the same).
struct StageMedians {
    upload: Duration,
    pnet: NetworkStage,
    /// The pyramid's part of P-Net's stage: on the CPU from the threads' time, on a GPU from timestamps.
    pyramid: Option<Duration>,
    pyramid_device: Option<Duration>,
    pnet_nms: Duration,
    rnet: NetworkStage,
    rnet_nms: Duration,
    onet: NetworkStage,
    onet_nms: Duration,
    total: Duration,
    counts: StageTimings,
}

impl StageMedians {
    fn of(runs: &[StageTimings]) -> Self {
        let m = |f: fn(&StageTimings) -> Duration| median(runs.iter().map(f).collect());
        let c = runs[0];
        StageMedians {
            upload: m(|t| t.upload),
            pnet: NetworkStage::of(
                runs,
                |t| t.pnet,
                |t| t.pnet_device,
                |t| t.pnet_readback,
                c.pnet_multiply_adds,
            ),
            pyramid: median_of_measured(runs, |t| t.pyramid),
            pyramid_device: median_of_measured(runs, |t| t.pyramid_device),
            pnet_nms: m(|t| t.pnet_nms),
            rnet: NetworkStage::of(
                runs,
                |t| t.rnet,
                |t| t.rnet_device,
                |t| t.rnet_readback,
                c.rnet_multiply_adds,
            ),
            rnet_nms: m(|t| t.rnet_nms),
            onet: NetworkStage::of(
                runs,
                |t| t.onet,
                |t| t.onet_device,
                |t| t.onet_readback,
                c.onet_multiply_adds,
            ),
            onet_nms: m(|t| t.onet_nms),
            total: m(|t| t.total()),
            counts: c,
        }
    }

    fn to_json(&self) -> Value {
        let c = &self.counts;
        json!({
            "upload_ms": ms(self.upload),
            "pnet": self.pnet.to_json(),
            "pyramid_ms": self.pyramid.map(ms),
            "pyramid_device_ms": self.pyramid_device.map(ms),
            "pnet_nms_ms": ms(self.pnet_nms),
            "rnet": self.rnet.to_json(),
            "rnet_nms_ms": ms(self.rnet_nms),
            "onet": self.onet.to_json(),
            "onet_nms_ms": ms(self.onet_nms),
            "total_ms": ms(self.total),
            "levels": c.levels,
            "proposals": c.proposals,
            "rnet_inputs": c.rnet_inputs,
            "onet_inputs": c.onet_inputs,
            "faces": c.faces,
        })
    }

    /// A table: per stage the wall time, the device time, the host's share of the wall time (uploads, encoding,
    /// waiting, readback), the readback (GPU: its time and size), the networks' multiply-adds and the rate
    /// achieved, then the candidate counts.
    fn print(&self) {
        let c = &self.counts;
        let missing = || format!("{:>10}", "-");
        println!("  stage              wall ms  device ms    host ms    read ms    read KB   G mul-add   G mul-add/s");
        let network = |name: &str, stage: &NetworkStage, note: String| {
            let (device_ms, host_ms) = match stage.device {
                Some(d) => (
                    format!("{:10.2}", ms(d)),
                    format!("{:10.2}", ms(stage.wall.saturating_sub(d))),
                ),
                None => (missing(), missing()),
            };
            let (read_ms, read_kb) = match stage.readback {
                Some((time, bytes)) => (format!("{:10.3}", ms(time)), format!("{:10.1}", bytes as f64 / 1024.0)),
                None => (missing(), missing()),
            };
            let line = format!(
                "  {name:<16} {:8.2} {device_ms} {host_ms} {read_ms} {read_kb} {:11.3} {:13.1}  {note}",
                ms(stage.wall),
                stage.multiply_adds as f64 / 1e9,
                stage.rate() / 1e9
            );
            println!("{}", line.trim_end());
        };
        let host_only = |name: &str, wall: Duration, note: String| {
            let line = format!("  {name:<16} {:8.2} {:>69}  {note}", ms(wall), "");
            println!("{}", line.trim_end());
        };
        host_only("upload", self.upload, String::new());
        network(
            "pyramid + P-Net",
            &self.pnet,
            format!("levels {}, cells above threshold {}", c.levels, c.proposals),
        );
        if self.pyramid.is_some() || self.pyramid_device.is_some() {
            let device = self.pyramid_device.map_or_else(missing, |d| format!("{:10.2}", ms(d)));
            let wall = self.pyramid.map_or(format!("{:>8}", "-"), |d| format!("{:8.2}", ms(d)));
            println!("  {:<16} {wall} {device}", "  (pyramid)");
        }
        host_only("P-Net NMS", self.pnet_nms, format!("-> {} candidates", c.rnet_inputs));
        network("crops + R-Net", &self.rnet, String::new());
        host_only("R-Net NMS", self.rnet_nms, format!("-> {} candidates", c.onet_inputs));
        network("crops + O-Net", &self.onet, String::new());
        host_only("O-Net NMS", self.onet_nms, format!("-> {} faces", c.faces));
        let rate = c.multiply_adds() as f64 / self.total.as_secs_f64().max(1e-12) / 1e9;
        println!(
            "  total            {:8.2} {:>43} {:11.3} {rate:13.1}",
            ms(self.total),
            "",
            c.multiply_adds() as f64 / 1e9
        );
    }
}
