//! Decoding on worker threads while the detector works, in input order and with bounded memory: worker k decodes
//! images k, k + T, k + 2T, … into its own small channel, and the consumer takes from the channels in turn.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use image::{ImageDecoder, RgbImage};

/// The path that stands for standard input: an encoded image piped in.
pub const STDIN: &str = "-";

/// Decoded images each worker may hold ahead of the detector.
const AHEAD: usize = 2;

/// How the stored pixels become the image that is detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// Turned and flipped as the file's EXIF orientation says, as a viewer (and OpenCV's `imread`) shows it.
    Upright,
    /// The pixels in the order they are stored.
    AsStored,
}

/// Decodes a file as whatever format its bytes say (gif: the first frame), to 8-bit RGB, turned upright by its
/// EXIF orientation unless `orientation` says otherwise.
pub fn decode(path: &Path, orientation: Orientation) -> Result<RgbImage, String> {
    let bytes = if path == Path::new(STDIN) {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes).map_err(|e| e.to_string())?;
        bytes
    } else {
        std::fs::read(path).map_err(|e| e.to_string())?
    };
    let mut reader = image::ImageReader::new(std::io::Cursor::new(&bytes));
    // The extension first, as `ImageReader::open` does; the content's signature wins when it has one.
    if let Ok(format) = image::ImageFormat::from_path(path) {
        reader.set_format(format);
    }
    let reader = reader.with_guessed_format().map_err(|e| e.to_string())?;
    // The JPEG decoder fills a cut-off file with grey instead of failing; a JPEG must end with its end-of-image
    // marker (trailing padding after it is tolerated).
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        let tail = &bytes[bytes.len().saturating_sub(256)..];
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err("truncated JPEG: no end-of-image marker".into());
        }
    }
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    // What `ImageReader::decode` checks: a file that claims a huge size is refused before anything is allocated.
    image::Limits::default()
        .reserve(decoder.total_bytes())
        .map_err(|e| e.to_string())?;
    // A damaged EXIF block leaves the image as stored rather than failing it.
    let turn = match orientation {
        Orientation::Upright => decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms),
        Orientation::AsStored => image::metadata::Orientation::NoTransforms,
    };
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    image.apply_orientation(turn);
    Ok(image.to_rgb8())
}

pub type Decoded = (PathBuf, Result<RgbImage, String>);

/// The decoded images of `paths`, in order, decoded by `threads` workers.
pub struct InOrder {
    receivers: Vec<Receiver<Decoded>>,
    next: usize,
    count: usize,
    workers: Vec<JoinHandle<()>>,
}

impl InOrder {
    pub fn new(paths: Vec<PathBuf>, threads: usize, orientation: Orientation) -> Self {
        let threads = threads.clamp(1, paths.len().max(1));
        let count = paths.len();
        let mut receivers = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        for k in 0..threads {
            let (sender, receiver) = sync_channel(AHEAD);
            let mine: Vec<PathBuf> = paths.iter().skip(k).step_by(threads).cloned().collect();
            receivers.push(receiver);
            workers.push(std::thread::spawn(move || {
                for path in mine {
                    let image = decode(&path, orientation);
                    // The consumer has gone: stop.
                    if sender.send((path, image)).is_err() {
                        return;
                    }
                }
            }));
        }
        InOrder {
            receivers,
            next: 0,
            count,
            workers,
        }
    }
}

impl Iterator for InOrder {
    type Item = Decoded;

    fn next(&mut self) -> Option<Decoded> {
        if self.next >= self.count {
            return None;
        }
        let item = self.receivers[self.next % self.receivers.len()].recv().ok();
        self.next += 1;
        item
    }
}

impl Drop for InOrder {
    fn drop(&mut self) {
        // Unblock the workers (their sends fail once the receivers are gone), then wait for them.
        self.receivers.clear();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
