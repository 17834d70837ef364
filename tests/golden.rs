//! End to end on every image of `../shared/data/images`, against the references made by the executable spec of
//! the Python package `mtcnn` 1.0.0 (`../shared/data/reference`): the same faces in the same order, boxes and
//! landmarks within 0.01 px, confidences within 1e-4, and the rounded JSON identical.

mod common;

use std::path::Path;

use common::{floats, read_json, shared_data_or_skip};
use mtcnn_wgpu::{Detector, Face};

const TOL_PX: f32 = 0.01;
const TOL_CONF: f32 = 1e-4;

/// Worst differences over one image's faces, paired in order.
#[derive(Default)]
struct Margin {
    px: f32,
    conf: f32,
}

fn compare_raw(name: &str, ours: &[Face], reference: &serde_json::Value, margin: &mut Margin) {
    let faces = reference["faces"].as_array().unwrap();
    assert_eq!(ours.len(), faces.len(), "{name}: face count");
    for (i, (o, r)) in ours.iter().zip(faces).enumerate() {
        let xyxy = floats(&r["box_xyxy"]);
        let b = &o.bbox;
        let mut values = vec![
            (b.x, xyxy[0]),
            (b.y, xyxy[1]),
            (b.right(), xyxy[2]),
            (b.bottom(), xyxy[3]),
        ];
        let k = o.keypoints.expect("keypoints");
        for (p, key) in k.to_array().iter().zip(mtcnn_wgpu::Keypoints::NAMES) {
            let rp = floats(&r["keypoints"][key]);
            values.extend([(p.x, rp[0]), (p.y, rp[1])]);
        }
        for (got, want) in values {
            let d = (got - want).abs();
            margin.px = margin.px.max(d);
            assert!(d <= TOL_PX, "{name} face {i}: {got} vs {want} (|d| = {d})");
        }
        let d = (o.confidence - r["confidence"].as_f64().unwrap() as f32).abs();
        margin.conf = margin.conf.max(d);
        assert!(d <= TOL_CONF, "{name} face {i}: confidence off by {d}");
    }
}

/// The rounded JSON: boxes and keypoints identical; confidences within the tolerance (they are floats).
fn compare_json(name: &str, ours: &[Face], reference: &serde_json::Value) {
    let ours = serde_json::to_value(ours).unwrap();
    let (ours, reference) = (ours.as_array().unwrap(), reference.as_array().unwrap());
    assert_eq!(ours.len(), reference.len(), "{name}: JSON face count");
    for (i, (o, r)) in ours.iter().zip(reference).enumerate() {
        assert_eq!(o["box"], r["box"], "{name} face {i}: rounded box");
        assert_eq!(o["keypoints"], r["keypoints"], "{name} face {i}: rounded keypoints");
        let mut keys: Vec<&String> = o.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["box", "confidence", "keypoints"], "{name}: JSON keys");
        let d = (o["confidence"].as_f64().unwrap() - r["confidence"].as_f64().unwrap()).abs();
        assert!(d <= f64::from(TOL_CONF), "{name} face {i}: JSON confidence off by {d}");
    }
}

fn load(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

#[test]
fn every_reference_image_matches_the_python_package() {
    let Some(data) = shared_data_or_skip("every_reference_image_matches_the_python_package") else {
        return;
    };
    let clamped = Detector::new().unwrap();
    let raw = Detector::builder().fit_to_image(false).build().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(data.join("images"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".png").map(str::to_owned))
        .collect();
    names.sort();
    assert!(
        names.len() >= 18,
        "expected the 18 reference images, found {}",
        names.len()
    );
    let (mut faces, mut margin) = (0, Margin::default());
    for name in &names {
        let image = load(&data.join(format!("images/{name}.png")));
        let ours = raw.detect(&image).unwrap();
        compare_raw(
            name,
            &ours,
            &read_json(&data.join(format!("reference/{name}.raw.json"))),
            &mut margin,
        );
        compare_json(
            name,
            &clamped.detect(&image).unwrap(),
            &read_json(&data.join(format!("reference/{name}.json"))),
        );
        faces += ours.len();
    }
    // Which version of the CPU kernels was checked (scripts/cpu-kernel-versions.sh runs the others).
    println!(
        "golden ({} kernels): {} images, {faces} faces, worst coordinate error {:.2e} px, worst confidence error {:.2e}",
        mtcnn_wgpu::CpuKernels::detected().name(),
        names.len(),
        margin.px,
        margin.conf
    );
}

/// The Python package's JSON reads into `Face`s and writes back to the same JSON: `Deserialize` takes what
/// `detect_faces` prints. Boxes and keypoints come back identical; a confidence comes back as the nearest float32
/// (most references print a float32 widened to float64, which comes back exactly; some print a float64 that no
/// float32 equals).
#[test]
fn the_python_packages_json_reads_into_faces_and_writes_back_unchanged() {
    let Some(data) = shared_data_or_skip("the_python_packages_json_reads_into_faces_and_writes_back_unchanged") else {
        return;
    };
    let (mut files, mut faces, mut exact) = (0, 0, 0);
    for entry in std::fs::read_dir(data.join("reference")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.ends_with(".raw.json") {
            continue;
        }
        let reference = read_json(&path);
        let parsed: Vec<Face> = serde_json::from_value(reference.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let written = serde_json::to_value(&parsed).unwrap();
        for (i, (w, r)) in written
            .as_array()
            .unwrap()
            .iter()
            .zip(reference.as_array().unwrap())
            .enumerate()
        {
            assert_eq!(
                (&w["box"], &w["keypoints"]),
                (&r["box"], &r["keypoints"]),
                "{name} face {i}"
            );
            let (w, r) = (w["confidence"].as_f64().unwrap(), r["confidence"].as_f64().unwrap());
            assert!(
                (w - r).abs() <= f64::from(f32::EPSILON) / 2.0,
                "{name} face {i}: {w} vs {r}"
            );
            exact += usize::from(w == r);
        }
        assert_eq!(written.as_array().unwrap().len(), parsed.len());
        files += 1;
        faces += parsed.len();
    }
    println!("{files} reference files, {faces} faces read and written back, {exact} confidences bit for bit");
    assert!(files >= 18 && faces >= 90, "{files} files, {faces} faces");
}

/// `fit_keypoints_to_image` is the package's `limit_boundaries_landmarks=True`: the reference's keypoints clamped
/// to [0, W−1] × [0, H−1], and nothing else changed. Four keypoints of `bench_1920x1080` lie outside the image.
#[test]
fn keypoints_fitted_to_the_image_are_the_references_clamped() {
    let Some(data) = shared_data_or_skip("keypoints_fitted_to_the_image_are_the_references_clamped") else {
        return;
    };
    let plain = Detector::builder().device(mtcnn_wgpu::Device::Cpu).build().unwrap();
    let fitted = Detector::builder()
        .device(mtcnn_wgpu::Device::Cpu)
        .fit_keypoints_to_image(true)
        .build()
        .unwrap();
    let (mut images, mut clamped) = (0, 0);
    for entry in std::fs::read_dir(data.join("images")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let image = load(&path);
        let (max_x, max_y) = ((image.width() - 1) as f32, (image.height() - 1) as f32);
        let ours = fitted.detect(&image).unwrap();
        let unfitted = plain.detect(&image).unwrap();
        let raw = read_json(&data.join(format!("reference/{name}.raw.json")));
        let rounded = read_json(&data.join(format!("reference/{name}.json")));
        assert_eq!(ours.len(), unfitted.len(), "{name}");
        for (i, (o, u)) in ours.iter().zip(&unfitted).enumerate() {
            assert_eq!((o.bbox, o.confidence), (u.bbox, u.confidence), "{name} face {i}");
            let keypoints = o.keypoints.unwrap().to_array();
            let json = serde_json::to_value(o).unwrap();
            for (p, key) in keypoints.iter().zip(mtcnn_wgpu::Keypoints::NAMES) {
                let r = floats(&raw["faces"][i]["keypoints"][key]);
                let want = (r[0].clamp(0.0, max_x), r[1].clamp(0.0, max_y));
                clamped += usize::from(want != (r[0], r[1]));
                assert!(
                    (p.x - want.0).abs() <= TOL_PX && (p.y - want.1).abs() <= TOL_PX,
                    "{name} face {i} {key}: ({}, {}) vs {want:?}",
                    p.x,
                    p.y
                );
                // The JSON: the reference's rounded keypoint, clamped (bounds are integers, so the order of
                // rounding and clamping does not matter).
                let r = rounded[i]["keypoints"][key].as_array().unwrap();
                let want = [
                    r[0].as_i64().unwrap().clamp(0, max_x as i64),
                    r[1].as_i64().unwrap().clamp(0, max_y as i64),
                ];
                assert_eq!(json["keypoints"][key], serde_json::json!(want), "{name} face {i} {key}");
            }
        }
        images += 1;
    }
    println!("fit_keypoints_to_image: {images} images, {clamped} keypoints clamped, all as the reference's clamped");
    assert!(images >= 18);
    assert_eq!(clamped, 4, "bench_1920x1080 has four keypoints outside the image");
}
