//! Where the time of one detection goes, and how many candidates pass each stage.

use std::time::Duration;

/// Per-stage wall-clock times and candidate counts of one [`crate::Detector::detect_timed`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    /// Pyramid levels built.
    pub levels: usize,
    /// Resampling every level and running P-Net on it.
    pub pnet: Duration,
    /// P-Net cells above the threshold, all levels.
    pub proposals: usize,
    /// Box generation and the two P-Net NMS passes.
    pub pnet_nms: Duration,
    /// Candidates handed to R-Net.
    pub rnet_inputs: usize,
    /// Cropping to 24×24 and running R-Net.
    pub rnet: Duration,
    /// Calibration, threshold and NMS after R-Net.
    pub rnet_nms: Duration,
    /// Candidates handed to O-Net (0 when it does not run).
    pub onet_inputs: usize,
    /// Cropping to 48×48 and running O-Net.
    pub onet: Duration,
    /// Landmarks, calibration, threshold and NMS after O-Net.
    pub onet_nms: Duration,
    /// Faces returned.
    pub faces: usize,
}

impl StageTimings {
    /// The sum of the stage times.
    pub fn total(&self) -> Duration {
        self.pnet + self.pnet_nms + self.rnet + self.rnet_nms + self.onet + self.onet_nms
    }
}
