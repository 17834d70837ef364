//! The reference pipeline's arithmetic, written once for every backend: pyramid scales and resampling taps, P-Net
//! box generation, NMS, regression, squaring, crop boxes, landmarks and the cascade that ties them together.
//! It follows `docs/reference_spec.py` (the executable spec of `mtcnn` 1.0.0) function by function, including its
//! float32/float64 mix, which decides ties.

pub(crate) mod boxes;
pub(crate) mod cascade;
pub(crate) mod crops;
pub(crate) mod nms;
pub(crate) mod pyramid;
pub(crate) mod work;
pub(crate) mod workspace;
