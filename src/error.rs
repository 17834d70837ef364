//! The crate's error type: every failure is a value, never a panic.

use std::path::PathBuf;

/// Everything that can go wrong while building a [`crate::Detector`] or running it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An option is out of its valid range; raised when the detector is built.
    #[error("invalid option `{name}` = {value}: {expected}")]
    InvalidOption {
        /// The option's name, as in [`crate::DetectorOptions`].
        name: &'static str,
        /// The value that was given.
        value: String,
        /// What the option accepts.
        expected: &'static str,
    },

    /// A weights file could not be read from disk.
    #[error("cannot read weights file {path}: {source}")]
    WeightsIo {
        /// The file that was asked for.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The weights file is not a valid safetensors file (bad header, truncated data).
    #[error("invalid weights file: {0}")]
    WeightsFormat(String),

    /// A tensor the networks need is missing from the weights file.
    #[error("weights: tensor `{name}` is missing (expected shape {expected:?})")]
    MissingTensor {
        /// The tensor's name, e.g. `rnet.fc4.weight`.
        name: String,
        /// The shape it should have.
        expected: Vec<usize>,
    },

    /// A tensor has the wrong shape.
    #[error("weights: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The tensor's name.
        name: String,
        /// The shape the networks need.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },

    /// A tensor is not float32, or holds NaN or infinite values, or the file has a tensor the networks don't use.
    #[error("weights: tensor `{name}`: {problem}")]
    TensorContent {
        /// The tensor's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },

    /// The requested device can't be used.
    #[error("device {device} is not available: {reason}")]
    DeviceUnavailable {
        /// The device that was asked for.
        device: &'static str,
        /// Why it can't be used.
        reason: String,
    },

    /// wgpu reported a validation or internal error (caught in an error scope); the message is wgpu's.
    #[error("GPU error: {0}")]
    Gpu(String),

    /// The GPU ran out of memory.
    #[error("GPU out of memory: {0}")]
    GpuOutOfMemory(String),

    /// The GPU device was lost (driver reset, removal, or destroyed). Build a new detector to continue.
    #[error("the GPU device was lost; build a new Detector to continue")]
    DeviceLost,

    /// The helper thread of [`crate::Detector::detect_async`] could not run.
    #[error("async detection: {0}")]
    Thread(String),

    /// A tensor handed to the low-level network API has the wrong number of values.
    #[error("{what}: expected {expected} values, found {found}")]
    InputSize {
        /// Which input.
        what: &'static str,
        /// How many values it needs.
        expected: String,
        /// How many it got.
        found: usize,
    },

    /// A value handed to the low-level network API is NaN or infinite (8-bit images can't hold such values; float
    /// inputs are checked).
    #[error("{what}: value {index} is {value}, not a finite number")]
    NonFiniteInput {
        /// Which input.
        what: &'static str,
        /// Index of the first such value.
        index: usize,
        /// The value.
        value: f32,
    },

    /// A face cannot be aligned: no keypoints, keypoints that are not finite or all in one place, or a crop
    /// size of 0.
    #[error("cannot align the face: {0}")]
    Alignment(String),

    /// Pixels handed to the detector don't describe an image: too few bytes for their size and stride, or a
    /// stride shorter than a row.
    #[error("invalid image: {0}")]
    InvalidImage(String),

    /// The image is too large to process: over `max_pixels`, or beyond what the device can take.
    #[error("image of {width}x{height} pixels is too large: {reason}")]
    ImageTooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Which limit it exceeds.
        reason: String,
    },
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
