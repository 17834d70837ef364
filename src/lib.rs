//! # mtcnn-wgpu
//!
//! MTCNN face detection with five facial landmarks, in Rust. The three networks (P-Net, R-Net, O-Net) run as WGSL
//! compute shaders through wgpu (Vulkan, Metal, DX12, GL) or on a fast, multi-threaded CPU path; see [`Device`].
//! The pretrained weights of the Python package `mtcnn` 1.0.0 are embedded, so a detector needs no files. Results
//! follow that package step by step: the same faces, the same order, the same JSON.
//!
//! ```no_run
//! use mtcnn_wgpu::Detector;
//!
//! let detector = Detector::new()?;
//! let image = image::open("astronaut.png")?.to_rgb8();
//! for face in detector.detect(&image)? {
//!     println!("{:?} {:.3}", face.bbox, face.confidence);
//! }
//! println!("{}", serde_json::to_string(&detector.detect(&image)?)?); // the Python package's JSON
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `detect` also takes `&RgbaImage`, `&GrayImage` and [`Pixels`]: borrowed frames in BGR, BGRA, RGBA or grey, with
//! padded rows, as cameras and video decoders hand them out. Other formats (16-bit, float) go through
//! [`Detector::detect_dynamic`]. Either way the detector sees the 8-bit RGB that `image::DynamicImage::to_rgb8`
//! would make: grey is replicated to three channels, alpha is dropped (not blended), and 16-bit and float channels
//! are scaled to 0..=255.
//!
//! The pipeline (`pipeline/`: pyramid, box generation, NMS, regression, crops, landmarks) is written once; the
//! networks, described once as data (`netdef.rs`), sit behind a small backend interface (`backend.rs`) that the CPU
//! path (`cpu/`) and the GPU path (`gpu/`, kernels in `shaders/`) implement. A detector that shares the
//! application's own wgpu device is built with `DetectorBuilder::wgpu_device` (`gpu` feature);
//! [`Detector::detect_async`] serves async executors. The CPU path's kernels exist in versions for AVX-512,
//! AVX2 + FMA, NEON and the baseline; [`CpuKernels::detected`] says which one this machine runs.
//!
//! Cargo features: `gpu` (the wgpu path) and `cli` (the `mtcnn` tool), both on by default. Without `gpu` the crate
//! has no wgpu dependency, [`Device::Gpu`] is an [`Error::DeviceUnavailable`] and [`Device::Auto`] uses the CPU.

#![warn(missing_docs)]
// On docs.rs (`--cfg docsrs`, a nightly rustdoc), items behind a feature say which.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod align;
mod async_runner;
mod backend;
mod cpu;
mod detector;
mod device_choice;
mod error;
mod face;
#[cfg(feature = "gpu")]
mod gpu;
mod netdef;
mod options;
#[cfg(all(test, feature = "gpu"))]
mod parity_tests;
mod pipeline;
mod pixels;
mod timings;
mod weights;

pub use align::align;
pub use cpu::CpuKernels;
pub use detector::{Detector, DetectorBuilder};
pub use error::{Error, Result};
pub use face::{BoundingBox, Face, Keypoints, Point, Unrounded};
pub use options::{DetectorOptions, Device, NmsThresholds, PyramidRule, Stages, Thresholds};
pub use pixels::{PixelLayout, Pixels};
pub use timings::{Readback, StageTimings};
pub use weights::Weights;
/// The wgpu version this crate is built against, for [`DetectorBuilder::wgpu_device`] (with the `gpu` feature).
#[cfg(feature = "gpu")]
pub use wgpu;

/// Low-level access to the networks, for tests, benchmarks and tools that feed their own tensors.
///
/// Inputs are normalised pixels, `(v - 127.5) / 128`, in HWC (or NHWC) order, as in the reference package.
pub mod nets {
    pub use crate::cpu::nets::{OnetOutput, PnetMaps, RnetOutput};
    pub use crate::cpu::CpuNets;
}
