//! Where the time of one detection goes, and how many candidates pass each stage.

use std::time::Duration;

/// Per-stage wall-clock times, device times, work and candidate counts of one [`crate::Detector::detect_timed`]
/// call (or of a whole batch, [`crate::Detector::detect_batch_timed`]: times of the batch, counts summed).
///
/// The wall-clock times include everything the host does for a stage (uploads, encoding, waiting, readback). On a
/// GPU whose adapter offers timestamp queries, the `*_device` fields hold the time the stage's compute pass took
/// on the device itself; elsewhere they are `None`. On a GPU the `*_readback` fields say what each stage copied
/// back to the host and how long that took; on the CPU they are `None`. The `*_multiply_adds` fields count the
/// networks' work, so `multiply_adds / time` is the achieved rate.
///
/// More measurements may be added in later versions (the struct is `#[non_exhaustive]`): read its fields, and
/// start from `StageTimings::default()` where you need a value of your own.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct StageTimings {
    /// Pyramid levels built.
    pub levels: usize,
    /// Handing the images to the backend: on a GPU, copying the pixels into the upload staging memory (the
    /// transfer itself runs at the start of P-Net's submission); on the CPU, normalising them.
    pub upload: Duration,
    /// Resampling every level and running P-Net on it.
    pub pnet: Duration,
    /// The part of `pnet` spent resampling the pyramid, on the CPU. The levels' resizes and P-Net runs interleave
    /// on all threads, so each group of levels times both and the stage's wall time is split in that ratio. `None`
    /// on a GPU, where the pyramid and P-Net are one submission (see `pyramid_device`).
    pub pyramid: Option<Duration>,
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
    /// Device time of the pyramid and P-Net (GPU with timestamp queries only).
    pub pnet_device: Option<Duration>,
    /// The part of `pnet_device` spent resampling the pyramid (GPU with timestamp queries only).
    pub pyramid_device: Option<Duration>,
    /// Device time of the R-Net crops and network.
    pub rnet_device: Option<Duration>,
    /// Device time of the O-Net crops and network.
    pub onet_device: Option<Duration>,
    /// What the pyramid and P-Net stage read back (GPU only): the count and records of the cells above the
    /// threshold.
    pub pnet_readback: Option<Readback>,
    /// What the R-Net stage read back (GPU only): six floats a candidate.
    pub rnet_readback: Option<Readback>,
    /// What the O-Net stage read back (GPU only): sixteen floats a candidate.
    pub onet_readback: Option<Readback>,
    /// Multiply-adds of P-Net over every level.
    pub pnet_multiply_adds: u64,
    /// Multiply-adds of R-Net over its inputs.
    pub rnet_multiply_adds: u64,
    /// Multiply-adds of O-Net over its inputs.
    pub onet_multiply_adds: u64,
}

impl StageTimings {
    /// The sum of the stage times.
    pub fn total(&self) -> Duration {
        self.upload + self.pnet + self.pnet_nms + self.rnet + self.rnet_nms + self.onet + self.onet_nms
    }

    /// Adds another pass's times and counts (a batch run as several passes).
    pub(crate) fn accumulate(&mut self, other: &StageTimings) {
        self.levels += other.levels;
        self.upload += other.upload;
        self.pnet += other.pnet;
        self.pyramid = sum_measured(self.pyramid, other.pyramid);
        self.proposals += other.proposals;
        self.pnet_nms += other.pnet_nms;
        self.rnet_inputs += other.rnet_inputs;
        self.rnet += other.rnet;
        self.rnet_nms += other.rnet_nms;
        self.onet_inputs += other.onet_inputs;
        self.onet += other.onet;
        self.onet_nms += other.onet_nms;
        self.faces += other.faces;
        self.pnet_device = sum_measured(self.pnet_device, other.pnet_device);
        self.pyramid_device = sum_measured(self.pyramid_device, other.pyramid_device);
        self.rnet_device = sum_measured(self.rnet_device, other.rnet_device);
        self.onet_device = sum_measured(self.onet_device, other.onet_device);
        self.pnet_readback = sum_measured(self.pnet_readback, other.pnet_readback);
        self.rnet_readback = sum_measured(self.rnet_readback, other.rnet_readback);
        self.onet_readback = sum_measured(self.onet_readback, other.onet_readback);
        self.pnet_multiply_adds += other.pnet_multiply_adds;
        self.rnet_multiply_adds += other.rnet_multiply_adds;
        self.onet_multiply_adds += other.onet_multiply_adds;
    }

    /// The multiply-adds of all three networks.
    pub fn multiply_adds(&self) -> u64 {
        self.pnet_multiply_adds + self.rnet_multiply_adds + self.onet_multiply_adds
    }
}

/// What a GPU stage copied from the device to the host: the results the CPU needs for the next step (the NMS),
/// never whole feature maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readback {
    /// Bytes copied to the host.
    pub bytes: u64,
    /// From the GPU having finished the stage's work to the bytes being in host memory: mapping the readback
    /// buffers and copying them out. The device's own copy into those buffers is part of the submission, in
    /// neither this nor the device time.
    pub time: Duration,
}

impl std::ops::Add for Readback {
    type Output = Readback;

    fn add(self, other: Readback) -> Readback {
        Readback {
            bytes: self.bytes + other.bytes,
            time: self.time + other.time,
        }
    }
}

/// What a backend measured of its work since it was last asked: on a GPU, the device time (timestamp queries),
/// the pyramid's part of it, and the readbacks; `None` where not measured (the CPU, or no timestamp queries).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DeviceMeasures {
    pub device: Option<Duration>,
    pub pyramid_device: Option<Duration>,
    pub readback: Option<Readback>,
}

impl std::ops::AddAssign for DeviceMeasures {
    fn add_assign(&mut self, other: DeviceMeasures) {
        self.device = sum_measured(self.device, other.device);
        self.pyramid_device = sum_measured(self.pyramid_device, other.pyramid_device);
        self.readback = sum_measured(self.readback, other.readback);
    }
}

/// The sum of two measurements (times, readbacks), `None` when neither was measured (a device without timestamp
/// queries, or the CPU).
pub(crate) fn sum_measured<T: Copy + Default + std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
    }
}
