//! `mtcnn detect`: files and folders, decoded on worker threads while the detector works (in batches on a GPU),
//! results on stdout or in a JSONL file that can be resumed, a progress bar on a terminal, and a summary.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mtcnn_wgpu::{Detector, Device, Face, Pixels};

use crate::decoding::{Decoded, InOrder, Orientation, STDIN};
use crate::jsonl::JsonlWriter;
use crate::{build_detector, draw, inputs, DetectArgs};

/// Images a GPU detects together (`detect_batch`); the CPU takes them one at a time.
pub(crate) const GPU_BATCH: usize = 8;
/// Decoding threads.
const DECODERS: usize = 2;

pub(crate) fn faces_json(faces: &[Face], raw: bool) -> serde_json::Value {
    if raw {
        serde_json::Value::Array(
            faces
                .iter()
                .map(|f| serde_json::to_value(f.unrounded()).unwrap_or_default())
                .collect(),
        )
    } else {
        serde_json::to_value(faces).unwrap_or_default()
    }
}

/// The name that output files for `image` start with: its file stem, or "stdin".
fn stem(image: &Path) -> String {
    if image == Path::new(STDIN) {
        return "stdin".into();
    }
    image.file_stem().unwrap_or_default().to_string_lossy().into_owned()
}

fn draw_target(out: &Path, image: &Path, several: bool) -> PathBuf {
    if several {
        out.join(format!("{}.png", stem(image)))
    } else {
        out.to_path_buf()
    }
}

/// Where results go: stdout (a JSON array for one image, a line an image for several) or the JSONL file.
enum Sink {
    Stdout { several: bool },
    Jsonl(JsonlWriter),
}

impl Sink {
    fn write(&mut self, path: &Path, image: &RgbImage, faces: serde_json::Value) -> Result<(), String> {
        let line = serde_json::json!({
            "image": path.to_string_lossy(),
            "width": image.width(),
            "height": image.height(),
            "faces": faces,
        });
        match self {
            Sink::Jsonl(writer) => writer.write(&line),
            Sink::Stdout { several } => {
                let value = if *several { line } else { line["faces"].clone() };
                let mut out = std::io::stdout().lock();
                writeln!(out, "{value}")
                    .and_then(|_| out.flush())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// The progress bar on a terminal (stderr); hidden otherwise.
fn progress(total: usize) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images, {msg}, {per_sec}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub fn run(args: &DetectArgs) -> Result<usize, String> {
    let detector = build_detector(&args.detector)?;
    if let Some(dir) = &args.align {
        if args.detector.faces_only {
            return Err("--align needs keypoints, which --faces-only does not compute".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("--align {}: {e}", dir.display()))?;
    }
    if args.images.iter().filter(|p| p.as_path() == Path::new(STDIN)).count() > 1 {
        return Err("- (standard input) can be named once".into());
    }
    if args.resume && args.jsonl.is_none() {
        return Err("--resume needs --jsonl OUT".into());
    }
    let (mut files, unlisted) = inputs::expand(&args.images, args.recursive);
    let several = files.len() > 1 || args.images.iter().any(|p| p.is_dir());
    if let (Some(out), true) = (&args.draw, several) {
        std::fs::create_dir_all(out).map_err(|e| format!("--draw {}: {e}", out.display()))?;
    }
    let mut sink = match &args.jsonl {
        Some(out) => {
            let (writer, done) = JsonlWriter::open(out, args.resume)?;
            files.retain(|f| !done.contains(f.to_string_lossy().as_ref()));
            Sink::Jsonl(writer)
        }
        None => Sink::Stdout { several },
    };

    let bar = progress(files.len());
    let mut failures = unlisted.len();
    for (dir, reason) in &unlisted {
        bar.suspend(|| eprintln!("mtcnn: {}: {reason}", dir.display()));
    }
    let (mut images, mut faces_found) = (0usize, 0usize);
    let started = Instant::now();
    let batch = if detector.device() == Device::Gpu { GPU_BATCH } else { 1 };
    let orientation = if args.ignore_orientation {
        Orientation::AsStored
    } else {
        Orientation::Upright
    };
    let mut decoded = InOrder::new(files, DECODERS, orientation);
    loop {
        let group: Vec<Decoded> = decoded.by_ref().take(batch).collect();
        if group.is_empty() {
            break;
        }
        for (path, result) in detect_group(&detector, group) {
            let result = result.and_then(|(image, faces)| {
                save_extras(args, &detector, &path, &image, &faces, several)?;
                sink.write(&path, &image, faces_json(&faces, args.raw))?;
                Ok(faces.len())
            });
            match result {
                Ok(n) => {
                    images += 1;
                    faces_found += n;
                }
                Err(e) => {
                    failures += 1;
                    bar.suspend(|| eprintln!("mtcnn: {}: {e}", path.display()));
                }
            }
            bar.set_message(format!("{faces_found} faces, {failures} failed"));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if let Sink::Jsonl(writer) = sink {
        writer.finish()?;
    }
    if several || failures > 0 {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "mtcnn: {images} images, {faces_found} faces, {failures} failed, in {seconds:.1} s ({:.1} images a second)",
            images as f64 / seconds.max(1e-9)
        );
    }
    Ok(failures)
}

type Detected = (PathBuf, Result<(RgbImage, Vec<Face>), String>);

/// Detects the decoded images of a group ([`detect_each`]); the images that failed to decode keep their place.
fn detect_group(detector: &Detector, group: Vec<Decoded>) -> Vec<Detected> {
    // The decoded images move into one batch; the failures keep their place.
    let (mut images, mut slots) = (Vec::new(), Vec::with_capacity(group.len()));
    for (path, result) in group {
        slots.push((path, result.map(|image| images.push(image))));
    }
    let mut detected = detect_each(detector, &images).into_iter();
    let mut images = images.into_iter();
    slots
        .into_iter()
        .map(|(path, slot)| {
            let result = slot.and_then(|()| {
                let image = images.next().ok_or("lost an image")?;
                let faces = detected.next().ok_or("lost a result")??;
                Ok((image, faces))
            });
            (path, result)
        })
        .collect()
}

/// The faces of each of `images`, in order: as one batch (`detect_batch`) when there are several, and one by one
/// when there is one or the batch fails, so that an error lands on the image that caused it.
pub(crate) fn detect_each<'a, T>(detector: &Detector, images: &'a [T]) -> Vec<Result<Vec<Face>, String>>
where
    &'a T: Into<Pixels<'a>>,
{
    if images.len() > 1 {
        if let Ok(lists) = detector.detect_batch(images) {
            return lists.into_iter().map(Ok).collect();
        }
    }
    images
        .iter()
        .map(|image| detector.detect(image).map_err(|e| e.to_string()))
        .collect()
}

/// `--align` crops and the `--draw` picture of one image.
fn save_extras(
    args: &DetectArgs,
    detector: &Detector,
    path: &Path,
    image: &RgbImage,
    faces: &[Face],
    several: bool,
) -> Result<(), String> {
    if let Some(dir) = &args.align {
        let crops = detector
            .align_faces(image, faces, args.align_size)
            .map_err(|e| e.to_string())?;
        let stem = stem(path);
        for (i, crop) in crops.iter().enumerate() {
            let target = dir.join(format!("{stem}_{i}.png"));
            crop.save(&target)
                .map_err(|e| format!("--align {}: {e}", target.display()))?;
        }
    }
    if let Some(out) = &args.draw {
        let mut image = image.clone();
        draw::faces(&mut image, faces);
        let target = draw_target(out, path, several);
        image
            .save(&target)
            .map_err(|e| format!("--draw {}: {e}", target.display()))?;
    }
    Ok(())
}
