//! `mtcnn`: face detection from the command line, a thin shell over the `mtcnn_wgpu` library.

mod bench;
mod decoding;
mod detect;
mod draw;
mod font;
mod frames;
mod inputs;
mod jsonl;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mtcnn_wgpu::{CpuKernels, Detector, Device, Stages, Thresholds, Weights};

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
    /// Detect faces in raw 8-bit frames back to back (from stdin or a file, as `ffmpeg -f rawvideo` writes them);
    /// print one {"frame", "faces"} line per frame.
    Frames(frames::FramesArgs),
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
pub(crate) struct DetectorArgs {
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
    /// Clamp keypoints to the image too (the Python package's limit_boundaries_landmarks=True); O-Net places
    /// those of a face cut by the edge outside the image.
    #[arg(long)]
    fit_keypoints: bool,
    /// Where the networks run.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// A safetensors weights file instead of the embedded weights.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// CPU threads for the detection (default: one a core, or RAYON_NUM_THREADS).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
}

#[derive(Args)]
struct DetectArgs {
    /// Image files (jpg, png, bmp, webp, gif's first frame, tiff) and folders of them; - reads one image from
    /// standard input.
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
    /// Detect on the pixels as stored, not turned upright by the file's EXIF orientation (phone photos are often
    /// stored sideways); boxes then refer to the stored pixels.
    #[arg(long)]
    ignore_orientation: bool,
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
    /// Print one JSON object (the figures above, and per stage with --stages) instead of text.
    #[arg(long)]
    json: bool,
    /// Time `detect_batch` on this many copies of the image (frames a second = batch / time).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    batch: u32,
    #[command(flatten)]
    detector: DetectorArgs,
}

pub(crate) fn build_detector(args: &DetectorArgs) -> Result<Detector, String> {
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
        .fit_keypoints_to_image(args.fit_keypoints)
        .device(device);
    if let Some(threads) = args.threads {
        builder = builder.cpu_threads(threads as usize);
    }
    if let Some(path) = &args.weights {
        builder = builder.weights(Weights::from_file(path).map_err(|e| e.to_string())?);
    }
    let detector = builder.build().map_err(|e| e.to_string())?;
    match detector.adapter() {
        Some(adapter) => log::info!("device: gpu, adapter {adapter} (requested {})", device.name()),
        None => log::info!(
            "device: cpu, {} threads, {} kernels (requested {})",
            detector.cpu_threads(),
            CpuKernels::detected(),
            device.name()
        ),
    }
    Ok(detector)
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
        Command::Bench(args) => bench::run(args),
        Command::Frames(args) => frames::run(args),
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
