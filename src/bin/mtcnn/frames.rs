//! `mtcnn frames`: raw 8-bit frames back to back, from stdin or a file, as `ffmpeg -f rawvideo` writes them; one
//! JSON line per frame, written as soon as the frame is done, so that the output can be piped on.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use mtcnn_wgpu::{DetectorOptions, Device, PixelLayout, Pixels};

use crate::decoding::STDIN;
use crate::detect::{detect_each, faces_json, GPU_BATCH};
use crate::{build_detector, DetectorArgs};

/// The largest frame taken, in bytes, and the most a batch of frames may hold: a mistyped size or stride is an
/// error, not an allocation that fails.
const MAX_FRAME_BYTES: usize = 1 << 30;
const MAX_BATCH_BYTES: usize = 2 << 30;

#[derive(Args)]
pub(crate) struct FramesArgs {
    /// The raw frames: a file, or - for stdin.
    #[arg(default_value = "-")]
    input: PathBuf,
    /// Frame size in pixels, WIDTHxHEIGHT.
    #[arg(long, value_parser = parse_size, value_name = "WxH")]
    size: (u32, u32),
    /// Byte order of a pixel (ffmpeg's -pix_fmt rgb24, bgr24, rgba, bgra, gray).
    #[arg(long, value_enum, default_value_t = LayoutArg::Rgb)]
    layout: LayoutArg,
    /// Bytes from the start of one row to the next, when rows are padded; a frame is stride × height bytes.
    #[arg(long)]
    stride: Option<usize>,
    /// Print unrounded floats instead of the package's rounded integers.
    #[arg(long)]
    raw: bool,
    /// Frames detected together (`detect_batch`; one by one when a batch fails): more throughput on a GPU, a
    /// batch's delay before its lines.
    /// Default: 8 on a GPU, 1 on the CPU.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    batch: Option<u32>,
    #[command(flatten)]
    detector: DetectorArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    Rgb,
    Bgr,
    Rgba,
    Bgra,
    Gray,
}

impl From<LayoutArg> for PixelLayout {
    fn from(layout: LayoutArg) -> Self {
        match layout {
            LayoutArg::Rgb => PixelLayout::Rgb,
            LayoutArg::Bgr => PixelLayout::Bgr,
            LayoutArg::Rgba => PixelLayout::Rgba,
            LayoutArg::Bgra => PixelLayout::Bgra,
            LayoutArg::Gray => PixelLayout::Gray,
        }
    }
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|&n| n > 0);
    match text.split_once(['x', 'X']).map(|(w, h)| (parse(w), parse(h))) {
        Some((Some(width), Some(height))) => Ok((width, height)),
        _ => Err(format!("expected WIDTHxHEIGHT in pixels, like 1920x1080; got {text:?}")),
    }
}

/// Fills `frame` from `input`; the number of bytes read, short only at the end of the input.
fn read_frame(input: &mut dyn Read, frame: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < frame.len() {
        match input.read(&mut frame[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Runs the command; the number of failures (frames that could not be detected, a cut-off last frame, a read
/// error), each reported on stderr.
pub(crate) fn run(args: &FramesArgs) -> Result<usize, String> {
    let (width, height) = args.size;
    let layout = PixelLayout::from(args.layout);
    let stride = args.stride.unwrap_or(width as usize * layout.bytes_per_pixel());
    let max_pixels = DetectorOptions::default().max_pixels;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(format!(
            "frames of {width}x{height} exceed the detector's max_pixels ({max_pixels})"
        ));
    }
    let frame_bytes = stride
        .checked_mul(height as usize)
        .filter(|&bytes| bytes <= MAX_FRAME_BYTES)
        .ok_or_else(|| {
            format!("frames of {width}x{height} with a stride of {stride} bytes exceed {MAX_FRAME_BYTES} bytes")
        })?;
    let mut group = vec![vec![0u8; frame_bytes]];
    // Checks the size and stride once, before anything is read.
    Pixels::with_stride(&group[0], width, height, stride, layout).map_err(|e| e.to_string())?;
    let detector = build_detector(&args.detector)?;
    let batch = match args.batch {
        Some(n) => n as usize,
        None if detector.device() == Device::Gpu => GPU_BATCH,
        None => 1,
    };
    if batch * frame_bytes > MAX_BATCH_BYTES {
        return Err(format!(
            "--batch {batch} frames of {frame_bytes} bytes exceed {MAX_BATCH_BYTES} bytes; use a smaller batch"
        ));
    }
    let mut input: Box<dyn Read> = if args.input.as_path() == Path::new(STDIN) {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(&args.input).map_err(|e| format!("{}: {e}", args.input.display()))?)
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let (started, mut frames, mut faces_found, mut failures) = (Instant::now(), 0usize, 0usize, 0usize);
    group.resize(batch, vec![0u8; frame_bytes]);
    let mut ended = false;
    while !ended {
        // Up to `batch` whole frames; a short read ends the input.
        let mut full = 0;
        while full < batch {
            match read_frame(&mut input, &mut group[full]) {
                Ok(n) if n == frame_bytes => full += 1,
                Ok(0) => ended = true,
                Ok(n) => {
                    eprintln!(
                        "mtcnn: the input ends inside frame {}: {n} of its {frame_bytes} bytes",
                        frames + full
                    );
                    failures += 1;
                    ended = true;
                }
                Err(e) => {
                    eprintln!("mtcnn: reading frame {}: {e}", frames + full);
                    failures += 1;
                    ended = true;
                }
            }
            if ended {
                break;
            }
        }
        let pixels = group[..full]
            .iter()
            .map(|frame| Pixels::with_stride(frame, width, height, stride, layout))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for result in detect_each(&detector, &pixels) {
            match result {
                Ok(faces) => {
                    faces_found += faces.len();
                    let line = serde_json::json!({ "frame": frames, "faces": faces_json(&faces, args.raw) });
                    writeln!(out, "{line}")
                        .and_then(|()| out.flush())
                        .map_err(|e| format!("writing frame {frames}: {e}"))?;
                }
                Err(e) => {
                    eprintln!("mtcnn: frame {frames}: {e}");
                    failures += 1;
                }
            }
            frames += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "mtcnn: {frames} frames, {faces_found} faces, {failures} failed, in {seconds:.1} s ({:.1} frames a second)",
        frames as f64 / seconds.max(1e-9)
    );
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!(parse_size("1920x1080"), Ok((1920, 1080)));
        assert_eq!(parse_size("64X48"), Ok((64, 48)));
        for bad in ["1920", "0x10", "ax3", "10x-1", ""] {
            assert!(parse_size(bad).unwrap_err().contains("WIDTHxHEIGHT"), "{bad}");
        }
    }

    #[test]
    fn a_frame_is_read_across_short_reads_and_a_cut_off_one_is_short() {
        /// Hands out at most 3 bytes a read, like a pipe.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(3).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let data: Vec<u8> = (0..17).collect();
        let mut input = Trickle(&data);
        let mut frame = [0u8; 8];
        assert_eq!(read_frame(&mut input, &mut frame).unwrap(), 8);
        assert_eq!(frame, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(read_frame(&mut input, &mut frame).unwrap(), 8);
        assert_eq!(read_frame(&mut input, &mut frame).unwrap(), 1);
        assert_eq!(read_frame(&mut input, &mut frame).unwrap(), 0);
    }
}
