//! The GPU path end to end (on lavapipe in CI): the golden images against the references (all 18 with
//! `MTCNN_GPU_ALL_IMAGES=1`, as CI sets it; otherwise those up to about 640×480, lavapipe being software),
//! a device shared with the application, and recovery after the device is lost. Without an adapter these tests
//! print why and pass, unless `MTCNN_REQUIRE_GPU` is set (as in CI), where they fail.

#![cfg(feature = "gpu")]

mod common;

use common::{floats, read_json, shared_data_or_skip};
use mtcnn_wgpu::{BoundingBox, Detector, Device, Error, Face};

fn gpu_detector(fit_to_image: bool) -> Option<Detector> {
    common::gpu_detector_from(Detector::builder().fit_to_image(fit_to_image))
}

struct Reference {
    bbox: BoundingBox,
    confidence: f32,
    points: Vec<f32>,
}

fn reference_faces(raw: &serde_json::Value) -> Vec<Reference> {
    raw["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let b = floats(&f["box_xyxy"]);
            let points = mtcnn_wgpu::Keypoints::NAMES
                .iter()
                .flat_map(|k| floats(&f["keypoints"][k]))
                .collect();
            Reference {
                bbox: BoundingBox {
                    x: b[0],
                    y: b[1],
                    width: b[2] - b[0],
                    height: b[3] - b[1],
                },
                confidence: f["confidence"].as_f64().unwrap() as f32,
                points,
            }
        })
        .collect()
}

const ONET_THRESHOLD: f32 = 0.8;

#[test]
fn gpu_detection_matches_the_reference_on_the_golden_images() {
    let Some(data) = shared_data_or_skip("gpu_detection_matches_the_reference_on_the_golden_images") else {
        return;
    };
    let Some(detector) = gpu_detector(false) else { return };
    let mut names: Vec<String> = std::fs::read_dir(data.join("images"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".png").map(str::to_owned))
        .collect();
    names.sort();
    let all_images = std::env::var_os("MTCNN_GPU_ALL_IMAGES").is_some_and(|v| v != "0");
    let (mut images, mut exact, mut faces, mut ious) = (0, 0, 0, Vec::new());
    let (mut worst_landmark, mut worst_conf) = (0.0f32, 0.0f32);
    for name in &names {
        let image = image::open(data.join(format!("images/{name}.png"))).unwrap().to_rgb8();
        // Lavapipe is software: a plain run stops at about 640×480. MTCNN_GPU_ALL_IMAGES=1 (CI) takes every image.
        if image.width() * image.height() > 640 * 512 && !all_images {
            continue;
        }
        images += 1;
        let reference = reference_faces(&read_json(&data.join(format!("reference/{name}.raw.json"))));
        let ours: Vec<Face> = detector.detect(&image).unwrap();
        // Greedy one-to-one matching by IoU.
        let mut pairs: Vec<(f32, usize, usize)> = (0..reference.len())
            .flat_map(|r| (0..ours.len()).map(move |o| (r, o)))
            .map(|(r, o)| (reference[r].bbox.iou(&ours[o].bbox), r, o))
            .filter(|&(v, _, _)| v > 0.5)
            .collect();
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut used_r, mut used_o) = (vec![false; reference.len()], vec![false; ours.len()]);
        let mut image_exact = reference.len() == ours.len();
        for (v, r, o) in pairs {
            if used_r[r] || used_o[o] {
                continue;
            }
            (used_r[r], used_o[o]) = (true, true);
            faces += 1;
            ious.push(v);
            assert!(v >= 0.95, "{name}: face {r} matched with IoU {v}");
            let k = ours[o].keypoints.unwrap().to_array();
            let ours_points: Vec<f32> = k.iter().flat_map(|p| [p.x, p.y]).collect();
            let dl = ours_points
                .iter()
                .zip(&reference[r].points)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            let dc = (ours[o].confidence - reference[r].confidence).abs();
            (worst_landmark, worst_conf) = (worst_landmark.max(dl), worst_conf.max(dc));
            assert!(dl <= 2.0, "{name}: face {r} landmarks off by {dl} px");
            assert!(dc <= 0.01, "{name}: face {r} confidence off by {dc}");
            let b = &ours[o].bbox;
            let rb = &reference[r].bbox;
            let db = [b.x - rb.x, b.y - rb.y, b.right() - rb.right(), b.bottom() - rb.bottom()]
                .iter()
                .fold(dl, |m, d| m.max(d.abs()));
            image_exact &= db <= 0.01 && r == o;
        }
        // Unmatched faces are allowed only right at the O-Net threshold, where float noise decides.
        for (r, f) in reference.iter().enumerate().filter(|(r, _)| !used_r[*r]) {
            assert!(
                (f.confidence - ONET_THRESHOLD).abs() <= 0.02,
                "{name}: reference face {r} not found on the GPU"
            );
        }
        for (o, f) in ours.iter().enumerate().filter(|(o, _)| !used_o[*o]) {
            assert!(
                (f.confidence - ONET_THRESHOLD).abs() <= 0.02,
                "{name}: extra GPU face {o} ({})",
                f.confidence
            );
        }
        exact += usize::from(image_exact);
    }
    ious.sort_by(f32::total_cmp);
    let median = ious.get(ious.len() / 2).copied().unwrap_or(1.0);
    println!(
        "gpu golden ({}): {images} images, {faces} faces, median IoU {median:.5}, worst IoU {:.4}, worst landmark \
         {worst_landmark:.2e} px, worst confidence {worst_conf:.2e}; {exact}/{images} images within the CPU's 0.01 px",
        detector.adapter().unwrap_or("?"),
        ious.first().copied().unwrap_or(1.0)
    );
    let expected = if all_images { names.len() } else { 10 };
    assert!(
        images >= expected,
        "expected at least {expected} golden images, found {images}"
    );
    assert!(median >= 0.99, "median IoU {median}");
}

fn astronaut() -> image::RgbImage {
    image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8()
}

#[test]
fn a_shared_device_works_and_a_lost_device_is_an_error() {
    let Some(own) = gpu_detector(true) else { return };
    let expected = own.detect(&astronaut()).unwrap();
    assert_eq!(expected.len(), 1);

    // The application's own device and queue.
    use mtcnn_wgpu::wgpu;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap();
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    let shared = Detector::builder().wgpu_device(device.clone(), queue).build().unwrap();
    assert_eq!(shared.device(), Device::Gpu);
    let faces = shared.detect(&astronaut()).unwrap();
    assert_eq!(faces.len(), 1);
    assert!(faces[0].bbox.iou(&expected[0].bbox) > 0.99);

    // Losing the device is an error, not a panic; a new detector works afterwards.
    device.destroy();
    let lost = shared.detect(&astronaut());
    assert!(matches!(lost, Err(Error::DeviceLost) | Err(Error::Gpu(_))), "{lost:?}");
    let fresh = gpu_detector(true).unwrap();
    assert_eq!(fresh.detect(&astronaut()).unwrap().len(), 1);
}

/// A shared device created with lower limits than WebGPU's defaults (here wgpu's downlevel set: 16 KiB uniform
/// bindings, below the kernels' 64 KiB windows) is refused at build time with an error that says which limit.
#[test]
fn a_shared_device_with_too_small_uniform_bindings_is_refused_clearly() {
    if gpu_detector(true).is_none() {
        return;
    }
    use mtcnn_wgpu::wgpu;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap();
    let descriptor = wgpu::DeviceDescriptor {
        required_limits: wgpu::Limits::downlevel_defaults(),
        ..Default::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&descriptor)).unwrap();
    assert!(device.limits().max_uniform_buffer_binding_size < 65536);
    match Detector::builder().wgpu_device(device, queue).build() {
        Err(Error::Gpu(message)) => assert!(message.contains("max_uniform_buffer_binding_size"), "{message}"),
        other => panic!("expected a limits error, got {:?}", other.map(|d| d.device())),
    }
}

#[test]
fn odd_and_tiny_images_work_on_the_gpu() {
    let Some(gpu) = gpu_detector(true) else { return };
    let cpu = Detector::builder().device(Device::Cpu).build().unwrap();
    let pattern = |w, h| {
        image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 7 % 251) as u8, (y * 13 % 256) as u8, ((x ^ y) % 256) as u8])
        })
    };
    for (w, h) in [
        (0, 0),
        (1, 1),
        (11, 11),
        (12, 12),
        (13, 13),
        (1, 10000),
        (3000, 24),
        (24, 1500),
        (320, 240),
    ] {
        let image = pattern(w, h);
        let (g, c) = (gpu.detect(&image).unwrap(), cpu.detect(&image).unwrap());
        assert_eq!(g.len(), c.len(), "{w}x{h}");
    }
    let grey = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
    assert!(gpu.detect(&grey).unwrap().is_empty());
}

#[test]
fn stage_timings_report_work_and_device_time() {
    let Some(gpu) = gpu_detector(true) else { return };
    let cpu = Detector::builder().device(Device::Cpu).build().unwrap();
    let (_, g) = gpu.detect_timed(&astronaut()).unwrap();
    let (_, c) = cpu.detect_timed(&astronaut()).unwrap();
    // The same candidates, so the same work: 10 levels of P-Net, then 1.53 M per R-Net and 12.9 M per O-Net input.
    assert_eq!(g.multiply_adds(), c.multiply_adds());
    assert_eq!(c.rnet_multiply_adds, c.rnet_inputs as u64 * 1_530_768);
    assert_eq!(c.onet_multiply_adds, c.onet_inputs as u64 * 12_909_952);
    assert!(c.pnet_multiply_adds > 100_000_000, "{}", c.pnet_multiply_adds);
    assert_eq!((c.pnet_device, c.rnet_device, c.onet_device), (None, None, None));
    assert_eq!((c.pnet_readback, c.rnet_readback, c.onet_readback), (None, None, None));

    // Each GPU stage reads back only what the NMS needs: P-Net the count and the records (eight words) of the
    // cells above the threshold, the first 4096 slots at once; R-Net six floats a candidate, O-Net sixteen.
    let (pnet, rnet, onet) = (
        g.pnet_readback.expect("P-Net reads back"),
        g.rnet_readback.expect("R-Net reads back"),
        g.onet_readback.expect("O-Net reads back"),
    );
    assert!(g.proposals > 0 && g.proposals < 4096, "{}", g.proposals);
    assert!(
        pnet.bytes >= 4 + 32 * g.proposals as u64 && pnet.bytes <= 4 + 32 * 4096,
        "{} bytes for {} cells",
        pnet.bytes,
        g.proposals
    );
    assert_eq!(rnet.bytes, 4 * 6 * g.rnet_inputs as u64);
    assert_eq!(onet.bytes, 4 * 16 * g.onet_inputs as u64);
    for (read, wall) in [(pnet, g.pnet), (rnet, g.rnet), (onet, g.onet)] {
        assert!(
            read.time > std::time::Duration::ZERO && read.time < wall,
            "{read:?} of {wall:?}"
        );
    }

    // Device times come from timestamp queries: present exactly when the adapter offers them, and within the
    // stage's wall time.
    use mtcnn_wgpu::wgpu;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .unwrap();
    let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
    for (device, wall) in [
        (g.pnet_device, g.pnet),
        (g.rnet_device, g.rnet),
        (g.onet_device, g.onet),
    ] {
        assert_eq!(device.is_some(), timestamps, "{:?}", adapter.get_info());
        if let Some(d) = device {
            assert!(
                d > std::time::Duration::ZERO && d <= wall,
                "device {d:?}, wall {wall:?}"
            );
        }
    }

    // The pyramid's part of P-Net's stage: from the threads' time on the CPU, from timestamps on the GPU.
    let pyramid = c.pyramid.expect("the CPU path measures the pyramid's share");
    assert!(
        pyramid > std::time::Duration::ZERO && pyramid < c.pnet,
        "{pyramid:?} of {:?}",
        c.pnet
    );
    assert_eq!((c.pyramid_device, g.pyramid), (None, None));
    assert_eq!(g.pyramid_device.is_some(), timestamps);
    if let (Some(pyramid), Some(pnet)) = (g.pyramid_device, g.pnet_device) {
        assert!(
            pyramid > std::time::Duration::ZERO && pyramid < pnet,
            "{pyramid:?} of {pnet:?}"
        );
    }
}

/// `detect_async` on the GPU: calls from several threads at once, each completing with its image's faces, and the
/// detector (with its worker thread) dropped while nothing is pending.
#[test]
fn async_calls_on_the_gpu_give_each_image_its_faces() {
    let Some(gpu) = gpu_detector(true) else { return };
    let astronaut = astronaut();
    let images: Vec<image::RgbImage> = [160u32, 256, 320]
        .iter()
        .map(|&side| image::imageops::resize(&astronaut, side, side, image::imageops::FilterType::Triangle))
        .collect();
    let expected: Vec<Vec<Face>> = images.iter().map(|i| gpu.detect(i).unwrap()).collect();
    assert!(expected[2].len() == 1, "{:?}", expected[2]);
    let futures: Vec<_> = (0..9).map(|i| gpu.detect_async(images[i % 3].clone())).collect();
    drop(gpu); // the pending calls keep what they need
    let handles: Vec<_> = futures
        .into_iter()
        .map(|future| std::thread::spawn(move || futures::executor::block_on(future)))
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap().unwrap(), expected[i % 3], "call {i}");
    }
}
