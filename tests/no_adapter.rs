//! With no adapter, `Device::Gpu` is a typed error that carries wgpu's message and `Device::Auto` falls back to
//! the CPU. Forced by pointing wgpu at a backend that has no driver here (its own test binary, so that the
//! environment change touches no other test).

#![cfg(feature = "gpu")]

use mtcnn_wgpu::{Detector, Device, Error};

#[test]
fn without_an_adapter_gpu_is_an_error_and_auto_uses_the_cpu() {
    // DX12 exists only on Windows, Metal only on Apple platforms.
    let missing = if cfg!(windows) { "metal" } else { "dx12" };
    std::env::set_var("WGPU_BACKEND", missing);
    let err = Detector::builder().device(Device::Gpu).build().unwrap_err();
    assert!(matches!(&err, Error::DeviceUnavailable { device: "gpu", .. }), "{err}");
    assert!(err.to_string().contains("adapter"), "{err}");
    let auto = Detector::builder().device(Device::Auto).build().unwrap();
    assert_eq!((auto.device(), auto.adapter()), (Device::Cpu, None));
    let image = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(auto.detect(&image).unwrap().len(), 1);
}
