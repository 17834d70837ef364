//! Built without the `gpu` feature (`cargo test --no-default-features --test without_gpu`, as `.ci/run` does):
//! `Device::Gpu` is a typed error that says why, and `Device::Auto` uses the CPU path. With the feature on (the
//! default) this file compiles to nothing; `tests/no_adapter.rs` covers a build with the GPU path but no adapter.

#![cfg(not(feature = "gpu"))]

use mtcnn_wgpu::{Detector, Device, Error};

#[test]
fn without_the_gpu_feature_gpu_is_an_error_and_auto_uses_the_cpu() {
    let err = Detector::builder().device(Device::Gpu).build().unwrap_err();
    assert!(matches!(&err, Error::DeviceUnavailable { device: "gpu", .. }), "{err}");
    assert!(err.to_string().contains("`gpu` feature"), "{err}");
    let auto = Detector::new().unwrap();
    assert_eq!((auto.device(), auto.adapter()), (Device::Cpu, None));
    let image = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(auto.detect(&image).unwrap().len(), 1);
}
