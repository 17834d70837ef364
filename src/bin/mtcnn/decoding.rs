//! Decoding on worker threads while the detector works, in input order and with bounded memory: worker k decodes
//! images k, k + T, k + 2T, … into its own small channel, and the consumer takes from the channels in turn.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use image::RgbImage;

/// Decoded images each worker may hold ahead of the detector.
const AHEAD: usize = 2;

/// Decodes a file as whatever format its bytes say (gif: the first frame), to 8-bit RGB.
pub fn decode(path: &Path) -> Result<RgbImage, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
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
    let image = reader.decode().map_err(|e| e.to_string())?;
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
    pub fn new(paths: Vec<PathBuf>, threads: usize) -> Self {
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
                    let image = decode(&path);
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
