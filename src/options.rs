//! Detector options, their defaults (those of the Python package `mtcnn` 1.0.0) and their validation.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which stages of the cascade run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stages {
    /// P-Net, R-Net and O-Net: boxes, confidences and the five keypoints (the package's
    /// `"face_and_landmarks_detection"`).
    #[default]
    FacesAndLandmarks,
    /// P-Net and R-Net only: squared R-Net boxes and R-Net confidences, no keypoints (the package's
    /// `"face_detection_only"`). Faster, less precise.
    FacesOnly,
}

/// Where the networks run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// A hardware GPU (discrete, integrated or virtual) when wgpu finds one and it starts, otherwise the CPU.
    /// Software adapters (lavapipe, SwiftShader, WARP) are slower than the CPU path and never chosen. The choice
    /// and its reason are logged once (`log` at info level). Built without the `gpu` feature: the CPU.
    #[default]
    Auto,
    /// The pure-Rust, multi-threaded CPU path.
    Cpu,
    /// A wgpu adapter, software ones included (this is how the tests reach lavapipe). Without one, building the
    /// detector returns [`crate::Error::DeviceUnavailable`] with wgpu's message. `WGPU_BACKEND` (vulkan, metal,
    /// dx12, gl) and `WGPU_POWER_PREF` steer the choice. Built without the `gpu` feature: always that error.
    Gpu,
}

impl Device {
    /// The name used in messages and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Gpu => "gpu",
        }
    }
}

/// How many pyramid levels to build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PyramidRule {
    /// The Python package's count, `round(-(ln(min_dim / 12) / ln(factor) + 1))`. It ignores `min_face_size`, so
    /// with a larger minimum face it builds levels too small to hold a face, and with a smaller one it stops early.
    /// This is the default, for parity with the package.
    #[default]
    Reference,
    /// The classic MTCNN rule (original paper code, facenet-pytorch): levels `m·factorᵏ` while
    /// `min_dim · m · factorᵏ ≥ 12`, with `m = 12 / min_face_size`. A documented deviation from the package.
    MinFaceAware,
}

/// Score thresholds of the three stages. A candidate is kept when its face probability is strictly greater.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// P-Net (default 0.6).
    pub pnet: f32,
    /// R-Net (default 0.7).
    pub rnet: f32,
    /// O-Net (default 0.8).
    pub onet: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            pnet: 0.6,
            rnet: 0.7,
            onet: 0.8,
        }
    }
}

/// IoU thresholds of the four non-maximum suppressions. A box is dropped when its overlap with a higher-scored box
/// is strictly greater.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NmsThresholds {
    /// P-Net, within one pyramid level, IoU over union (default 0.5).
    pub pnet_level: f64,
    /// P-Net, across all levels, IoU over union (default 0.7).
    pub pnet_all: f64,
    /// R-Net, IoU over union (default 0.7).
    pub rnet: f64,
    /// O-Net, intersection over the smaller area (default 0.7).
    pub onet: f64,
}

impl Default for NmsThresholds {
    fn default() -> Self {
        NmsThresholds {
            pnet_level: 0.5,
            pnet_all: 0.7,
            rnet: 0.7,
            onet: 0.7,
        }
    }
}

/// Everything that configures a [`crate::Detector`]. The defaults are those of `mtcnn` 1.0.0.
///
/// It (de)serializes with serde, so that the options can live in an application's configuration file: every field
/// is optional there and takes its default, enums are written in snake case, and an unknown key is an error (a
/// misspelt option should not be silently ignored). Values are checked when the detector is built.
///
/// ```
/// let options: mtcnn_wgpu::DetectorOptions =
///     serde_json::from_str(r#"{"min_face_size": 40, "device": "cpu", "thresholds": {"onet": 0.9}}"#)?;
/// assert_eq!((options.min_face_size, options.thresholds.onet, options.thresholds.pnet), (40.0, 0.9, 0.6));
/// let detector = mtcnn_wgpu::Detector::with_options(options)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorOptions {
    /// The smallest face to look for, in pixels (default 20, at least 12). The first pyramid scale is
    /// `12 / min_face_size`.
    pub min_face_size: f64,
    /// The ratio between pyramid levels, in (0, 1) (default 0.709).
    pub scale_factor: f64,
    /// How many pyramid levels to build (default: the package's rule).
    pub pyramid_rule: PyramidRule,
    /// Score thresholds of P-Net, R-Net and O-Net (default 0.6, 0.7, 0.8).
    pub thresholds: Thresholds,
    /// NMS thresholds (default 0.5, 0.7, 0.7, 0.7).
    pub nms: NmsThresholds,
    /// Which stages run (default: all three, with keypoints).
    pub stages: Stages,
    /// Clamp boxes to the image: x to [0, width−1], y to [0, height−1] (default true). Keypoints are not clamped
    /// unless [`DetectorOptions::fit_keypoints_to_image`] is set.
    pub fit_to_image: bool,
    /// Clamp the five keypoints to the image likewise (default false). O-Net places keypoints of a face cut by the
    /// image's edge outside it, as the package does by default; its `limit_boundaries_landmarks=True` is this
    /// option (which the package applies only together with `fit_to_image`; here it applies on its own).
    pub fit_keypoints_to_image: bool,
    /// Where the networks run (default [`Device::Auto`]).
    pub device: Device,
    /// The largest image `detect` takes, in pixels (default 100 000 000, e.g. 12 000 × 8 000). A larger one gives
    /// [`Error::ImageTooLarge`] before any work: a ceiling for services fed arbitrary uploads. At least 1.
    pub max_pixels: u64,
    /// Threads for the detector's CPU work: `None` (the default) shares rayon's global pool with the rest of the
    /// process (`RAYON_NUM_THREADS`, or one a core); `Some(n)` gives the detector a pool of its own of `n` threads,
    /// to cap what detection takes from a server's cores or to keep it off the global pool. At least 1. The
    /// faces are the same, bit for bit, whatever the count.
    pub cpu_threads: Option<usize>,
}

/// The default [`DetectorOptions::max_pixels`].
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

impl Default for DetectorOptions {
    fn default() -> Self {
        DetectorOptions {
            min_face_size: 20.0,
            scale_factor: 0.709,
            pyramid_rule: PyramidRule::Reference,
            thresholds: Thresholds::default(),
            nms: NmsThresholds::default(),
            stages: Stages::FacesAndLandmarks,
            fit_to_image: true,
            fit_keypoints_to_image: false,
            device: Device::Auto,
            max_pixels: DEFAULT_MAX_PIXELS,
            cpu_threads: None,
        }
    }
}

impl DetectorOptions {
    /// Checks every value; the first one out of range gives [`Error::InvalidOption`].
    pub fn validate(&self) -> Result<()> {
        fn invalid(name: &'static str, value: impl ToString, expected: &'static str) -> Error {
            Error::InvalidOption {
                name,
                value: value.to_string(),
                expected,
            }
        }
        if !(self.min_face_size >= 12.0 && self.min_face_size.is_finite()) {
            return Err(invalid(
                "min_face_size",
                self.min_face_size,
                "must be a finite number of pixels >= 12",
            ));
        }
        if !(self.scale_factor > 0.0 && self.scale_factor < 1.0) {
            return Err(invalid(
                "scale_factor",
                self.scale_factor,
                "must lie strictly between 0 and 1",
            ));
        }
        let t = &self.thresholds;
        for (name, v) in [
            ("thresholds.pnet", t.pnet),
            ("thresholds.rnet", t.rnet),
            ("thresholds.onet", t.onet),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(name, v, "must lie in [0, 1]"));
            }
        }
        if self.cpu_threads == Some(0) {
            return Err(invalid(
                "cpu_threads",
                0,
                "must be at least 1 (or None for rayon's global pool)",
            ));
        }
        if self.max_pixels == 0 {
            return Err(invalid("max_pixels", self.max_pixels, "must be at least 1"));
        }
        let n = &self.nms;
        for (name, v) in [
            ("nms.pnet_level", n.pnet_level),
            ("nms.pnet_all", n.pnet_all),
            ("nms.rnet", n.rnet),
            ("nms.onet", n.onet),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(name, v, "must lie in [0, 1]"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod serde_tests {
    use super::*;

    #[test]
    fn options_round_trip_and_a_partial_config_takes_the_defaults() {
        let options = DetectorOptions {
            min_face_size: 32.0,
            device: Device::Gpu,
            stages: Stages::FacesOnly,
            pyramid_rule: PyramidRule::MinFaceAware,
            cpu_threads: Some(3),
            ..DetectorOptions::default()
        };
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(
            (&json["device"], &json["stages"], &json["pyramid_rule"]),
            (&"gpu".into(), &"faces_only".into(), &"min_face_aware".into())
        );
        assert_eq!(serde_json::from_value::<DetectorOptions>(json).unwrap(), options);
        for device in [Device::Auto, Device::Cpu, Device::Gpu] {
            assert_eq!(serde_json::to_value(device).unwrap(), device.name(), "the CLI's names");
        }

        let partial: DetectorOptions = serde_json::from_str(r#"{"nms": {"onet": 0.5}, "max_pixels": 1000}"#).unwrap();
        assert_eq!(
            partial,
            DetectorOptions {
                nms: NmsThresholds {
                    onet: 0.5,
                    ..NmsThresholds::default()
                },
                max_pixels: 1000,
                ..DetectorOptions::default()
            }
        );
        assert_eq!(
            serde_json::from_str::<DetectorOptions>("{}").unwrap(),
            DetectorOptions::default()
        );
    }

    #[test]
    fn misspelt_keys_and_unknown_names_are_errors() {
        for (json, says) in [
            (r#"{"min_face": 40}"#, "unknown field `min_face`"),
            (r#"{"thresholds": {"onet": 0.9, "o_net": 1}}"#, "unknown field `o_net`"),
            (r#"{"device": "tpu"}"#, "unknown variant `tpu`"),
            (r#"{"min_face_size": "big"}"#, "invalid type"),
        ] {
            let error = serde_json::from_str::<DetectorOptions>(json).unwrap_err().to_string();
            assert!(error.contains(says), "{json}: {error}");
        }
        // Out-of-range values parse, and are refused when the detector is built.
        let options: DetectorOptions = serde_json::from_str(r#"{"scale_factor": 1.5}"#).unwrap();
        assert!(matches!(
            options.validate(),
            Err(Error::InvalidOption {
                name: "scale_factor",
                ..
            })
        ));
    }
}
