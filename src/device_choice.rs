//! What [`Device`] resolves to when a detector is built: the GPU path (on an adapter wgpu finds, or on the
//! application's own device) or the CPU path, and why. Built without the `gpu` feature, there is no GPU path:
//! `Device::Gpu` is an error and `Device::Auto` is the CPU.

use std::sync::Once;

use crate::backend::Backend;
use crate::error::Result;
use crate::options::Device;
use crate::weights::Weights;

/// A device and queue the application already owns (`DetectorBuilder::wgpu_device`).
#[cfg(feature = "gpu")]
pub(crate) type SharedDevice = (wgpu::Device, wgpu::Queue);
/// Without the `gpu` feature there is no device to share.
#[cfg(not(feature = "gpu"))]
pub(crate) type SharedDevice = std::convert::Infallible;

/// A started GPU backend and its adapter's description.
pub(crate) struct StartedGpu {
    pub description: String,
    pub backend: Box<dyn Backend>,
}

/// The GPU backend `requested` asks for, `None` for the CPU. `Device::Auto` never fails for want of a GPU:
/// whatever goes wrong there, the CPU path serves, and the choice is logged once.
#[cfg(feature = "gpu")]
pub(crate) fn start_gpu(
    requested: Device,
    shared: Option<SharedDevice>,
    weights: &Weights,
    min_face_size: f64,
) -> Result<Option<StartedGpu>> {
    use crate::gpu::{GpuBackend, GpuContext};
    let gpu = match (requested, shared) {
        (Device::Cpu, _) => None,
        (_, Some((device, queue))) => {
            let context = GpuContext::with_device(device, queue, "shared wgpu device".into());
            Some(GpuBackend::new(context, weights)?)
        }
        (Device::Gpu, None) => Some(GpuBackend::new(GpuContext::any_adapter()?, weights)?),
        (Device::Auto, None) => {
            match GpuContext::hardware_adapter().and_then(|found| match found {
                Ok(context) => GpuBackend::new(context, weights).map(Ok),
                Err(reason) => Ok(Err(reason)),
            }) {
                Ok(Ok(gpu)) => {
                    log_auto_choice(&format!("device auto: using the GPU, {}", gpu.description()));
                    Some(gpu)
                }
                Ok(Err(reason)) => {
                    log_auto_choice(&format!("device auto: using the CPU ({reason})"));
                    None
                }
                Err(e) => {
                    log_auto_choice(&format!("device auto: using the CPU (the GPU failed to start: {e})"));
                    None
                }
            }
        }
    };
    Ok(gpu.map(|mut gpu| {
        gpu.first_scale = crate::pipeline::pyramid::CELL / min_face_size;
        StartedGpu {
            description: gpu.description().to_string(),
            backend: Box::new(gpu),
        }
    }))
}

/// Without the `gpu` feature: `Device::Gpu` is [`crate::Error::DeviceUnavailable`], `Device::Auto` the CPU.
#[cfg(not(feature = "gpu"))]
pub(crate) fn start_gpu(
    requested: Device,
    shared: Option<SharedDevice>,
    _weights: &Weights,
    _min_face_size: f64,
) -> Result<Option<StartedGpu>> {
    if let Some(never) = shared {
        match never {}
    }
    const REASON: &str = "this build of mtcnn-wgpu has no GPU path (its `gpu` feature is off)";
    match requested {
        Device::Gpu => Err(crate::error::Error::DeviceUnavailable {
            device: "gpu",
            reason: REASON.into(),
        }),
        Device::Auto => {
            log_auto_choice(&format!("device auto: using the CPU ({REASON})"));
            Ok(None)
        }
        Device::Cpu => Ok(None),
    }
}

/// Logs what `Device::Auto` chose, once per process.
fn log_auto_choice(message: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| log::info!("{message}"));
}
