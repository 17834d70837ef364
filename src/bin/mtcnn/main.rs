//! `mtcnn`: face detection from the command line, a thin shell over the `mtcnn_wgpu` library.

mod decoding;
mod detect;
mod draw;
mod font;
mod inputs;
mod jsonl;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use mtcnn_wgpu::{Detector, Device, Stages, Thresholds, Weights};

#[derive(Parser)]
#[command(name = "mtcnn", version, about = "MTCNN face detection and 5-point landmarks")]
struct Cli {
    /// Log more (-v: the device chosen and progress; -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect faces and print them as JSON: an array for one image, one object a line for several or for folders.
    Detect(DetectArgs),
    /// Time `detect` alone (decoding excluded), after a warm-up; print the median and minimum.
    Bench(BenchArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Auto,
    Gpu,
    Cpu,
}

#[derive(Args)]
struct DetectorArgs {
    /// Smallest face to find, in pixels.
    #[arg(long, default_value_t = 20.0)]
    min_face: f64,
    /// Pyramid scale factor, in (0, 1).
    #[arg(long, default_value_t = 0.709)]
    scale_factor: f64,
    /// Score thresholds of P-Net, R-Net and O-Net, comma-separated.
    #[arg(long, value_name = "P,R,O", value_delimiter = ',', default_values_t = [0.6, 0.7, 0.8])]
    thresholds: Vec<f32>,
    /// Only P-Net and R-Net: boxes without keypoints.
    #[arg(long)]
    faces_only: bool,
    /// Don't clamp boxes to the image.
    #[arg(long)]
    no_fit: bool,
    /// Where the networks run.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// A safetensors weights file instead of the embedded weights.
    #[arg(long)]
    weights: Option<PathBuf>,
}

#[derive(Args)]
struct DetectArgs {
    /// Image files (jpg, png, bmp, webp, gif's first frame, tiff) and folders of them.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Also take the images in the folders' subfolders.
    #[arg(long, short)]
    recursive: bool,
    /// Write one line an image, {"image", "width", "height", "faces"}, to OUT instead of stdout. OUT appears when
    /// the run completes; until then the lines go to a hidden .OUT.partial beside it.
    #[arg(long, value_name = "OUT")]
    jsonl: Option<PathBuf>,
    /// With --jsonl: keep the lines OUT (or an interrupted run's partial file) already has, and skip their images.
    #[arg(long)]
    resume: bool,
    /// Print unrounded floats instead of the package's rounded integers.
    #[arg(long)]
    raw: bool,
    /// Write the pictures with boxes, confidences and keypoints drawn: a file for one image, a folder for several.
    #[arg(long, value_name = "OUT")]
    draw: Option<PathBuf>,
    /// Write each face aligned to the ArcFace template into DIR, as STEM_INDEX.png (the image file's stem; the
    /// index in the order of the JSON).
    #[arg(long, value_name = "DIR")]
    align: Option<PathBuf>,
    /// Side of the aligned crops, in pixels (the template is scaled by size / 112).
    #[arg(long, default_value_t = 112, value_parser = clap::value_parser!(u32).range(1..=4096))]
    align_size: u32,
    #[command(flatten)]
    detector: DetectorArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// The image to time.
    image: PathBuf,
    /// Timed runs after the warm-up.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Also print the median time of each stage (wall, device, host, readback), its work and rate, and the
    /// candidate counts.
    #[arg(long)]
    stages: bool,
    /// Time `detect_batch` on this many copies of the image (frames a second = batch / time).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    batch: u32,
    #[command(flatten)]
    detector: DetectorArgs,
}

fn build_detector(args: &DetectorArgs) -> Result<Detector, String> {
    let device = match args.device {
        DeviceArg::Auto => Device::Auto,
        DeviceArg::Gpu => Device::Gpu,
        DeviceArg::Cpu => Device::Cpu,
    };
    let [pnet, rnet, onet] = args.thresholds[..] else {
        return Err(format!(
            "--thresholds takes three values, P,R,O; got {}",
            args.thresholds.len()
        ));
    };
    let mut builder = Detector::builder()
        .min_face_size(args.min_face)
        .scale_factor(args.scale_factor)
        .thresholds(Thresholds { pnet, rnet, onet })
        .stages(if args.faces_only {
            Stages::FacesOnly
        } else {
            Stages::FacesAndLandmarks
        })
        .fit_to_image(!args.no_fit)
        .device(device);
    if let Some(path) = &args.weights {
        builder = builder.weights(Weights::from_file(path).map_err(|e| e.to_string())?);
    }
    let detector = builder.build().map_err(|e| e.to_string())?;
    match detector.adapter() {
        Some(adapter) => log::info!("device: gpu, adapter {adapter} (requested {})", device.name()),
        None => log::info!(
            "device: cpu, {} threads (requested {})",
            rayon::current_num_threads(),
            device.name()
        ),
    }
    Ok(detector)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median of each stage: wall-clock time, device time (GPU timestamp queries, when the adapter has them), the
/// host's share of the wall time (uploads, encoding, waiting, readback), the readback (GPU: its time and size),
/// the networks' multiply-adds and the rate achieved (on the device time when there is one), then the candidate
/// counts.
fn print_stages(stages: &[mtcnn_wgpu::StageTimings]) {
    type Pick = fn(&mtcnn_wgpu::StageTimings) -> Duration;
    type PickDevice = fn(&mtcnn_wgpu::StageTimings) -> Option<Duration>;
    type PickReadback = fn(&mtcnn_wgpu::StageTimings) -> Option<mtcnn_wgpu::Readback>;
    let m = |f: Pick| median(stages.iter().map(f).collect());
    let device = |f: PickDevice| {
        let times: Option<Vec<Duration>> = stages.iter().map(f).collect();
        times.map(median)
    };
    // The size is the same every run; the time is the median.
    let readback = |f: PickReadback| {
        let all: Option<Vec<mtcnn_wgpu::Readback>> = stages.iter().map(f).collect();
        all.map(|all| (median(all.iter().map(|r| r.time).collect()), all[0].bytes))
    };
    let missing = || format!("{:>10}", "-");
    let c = &stages[0];
    println!("  stage              wall ms  device ms    host ms    read ms    read KB   G mul-add   G mul-add/s");
    let network = |name: &str,
                   wall: Duration,
                   device: Option<Duration>,
                   read: Option<(Duration, u64)>,
                   work: u64,
                   note: String| {
        let (device_ms, host_ms) = match device {
            Some(d) => (
                format!("{:10.2}", ms(d)),
                format!("{:10.2}", ms(wall.saturating_sub(d))),
            ),
            None => (missing(), missing()),
        };
        let (read_ms, read_kb) = match read {
            Some((time, bytes)) => (format!("{:10.3}", ms(time)), format!("{:10.1}", bytes as f64 / 1024.0)),
            None => (missing(), missing()),
        };
        let seconds = device.unwrap_or(wall).as_secs_f64();
        let rate = if seconds > 0.0 {
            work as f64 / seconds / 1e9
        } else {
            0.0
        };
        let line = format!(
            "  {name:<16} {:8.2} {device_ms} {host_ms} {read_ms} {read_kb} {:11.3} {:13.1}  {note}",
            ms(wall),
            work as f64 / 1e9,
            rate
        );
        println!("{}", line.trim_end());
    };
    let host_only = |name: &str, wall: Duration, note: String| {
        let line = format!("  {name:<16} {:8.2} {:>69}  {note}", ms(wall), "");
        println!("{}", line.trim_end());
    };
    host_only("upload", m(|t| t.upload), String::new());
    network(
        "pyramid + P-Net",
        m(|t| t.pnet),
        device(|t| t.pnet_device),
        readback(|t| t.pnet_readback),
        c.pnet_multiply_adds,
        format!("levels {}, cells above threshold {}", c.levels, c.proposals),
    );
    let pyramid = stages.iter().map(|t| t.pyramid).collect::<Option<Vec<_>>>().map(median);
    let pyramid_device = device(|t| t.pyramid_device);
    if pyramid.is_some() || pyramid_device.is_some() {
        let column = |d: Option<Duration>| d.map_or_else(missing, |d| format!("{:10.2}", ms(d)));
        // On the CPU the share is measured in the threads' time; on a GPU by timestamps.
        let wall = pyramid.map_or(format!("{:>8}", "-"), |d| format!("{:8.2}", ms(d)));
        println!("  {:<16} {wall} {}", "  (pyramid)", column(pyramid_device));
    }
    host_only(
        "P-Net NMS",
        m(|t| t.pnet_nms),
        format!("-> {} candidates", c.rnet_inputs),
    );
    network(
        "crops + R-Net",
        m(|t| t.rnet),
        device(|t| t.rnet_device),
        readback(|t| t.rnet_readback),
        c.rnet_multiply_adds,
        String::new(),
    );
    host_only(
        "R-Net NMS",
        m(|t| t.rnet_nms),
        format!("-> {} candidates", c.onet_inputs),
    );
    network(
        "crops + O-Net",
        m(|t| t.onet),
        device(|t| t.onet_device),
        readback(|t| t.onet_readback),
        c.onet_multiply_adds,
        String::new(),
    );
    host_only("O-Net NMS", m(|t| t.onet_nms), format!("-> {} faces", c.faces));
    let total = m(|t| t.total());
    let rate = c.multiply_adds() as f64 / total.as_secs_f64().max(1e-12) / 1e9;
    println!(
        "  total            {:8.2} {:>43} {:11.3} {rate:13.1}",
        ms(total),
        "",
        c.multiply_adds() as f64 / 1e9
    );
}

fn bench(args: &BenchArgs) -> Result<usize, String> {
    let detector = build_detector(&args.detector)?;
    let image = decoding::decode(&args.image).map_err(|e| format!("{}: {e}", args.image.display()))?;
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
    let per_batch = if args.batch > 1 {
        format!(
            " for a batch of {}: {:.2} ms a frame, {:.1} frames a second",
            args.batch,
            ms(median_total) / f64::from(args.batch),
            f64::from(args.batch) / median_total.as_secs_f64()
        )
    } else {
        String::new()
    };
    println!(
        "{} {}x{} device {} threads {}: {} faces, median {:.2} ms, min {:.2} ms over {runs} runs{per_batch}",
        args.image.display(),
        image.width(),
        image.height(),
        detector.device().name(),
        rayon::current_num_threads(),
        faces,
        ms(median_total),
        ms(*totals.iter().min().unwrap_or(&Duration::ZERO)),
    );
    if args.stages {
        print_stages(&stages);
    }
    Ok(0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .format_timestamp(None)
        .init();
    let result = match &cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Bench(args) => bench(args),
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        // The command has reported each failure and a summary.
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mtcnn: {e}");
            ExitCode::from(2)
        }
    }
}
