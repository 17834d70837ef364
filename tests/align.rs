//! Face alignment: the similarity fit and the warp, on a synthetic face with a known transform, on the golden
//! images (detect → align → detect again), GPU warp against CPU warp, and the errors.

mod common;

use common::shared_data_or_skip;
use mtcnn_wgpu::align::{align, alignment_transform, template, ARCFACE_TEMPLATE};
use mtcnn_wgpu::{BoundingBox, Detector, Device, Error, Face, Keypoints, Point, Stages};

fn face_with(points: [[f32; 2]; 5]) -> Face {
    let p = |i: usize| Point {
        x: points[i][0],
        y: points[i][1],
    };
    Face {
        bbox: BoundingBox::default(),
        confidence: 1.0,
        keypoints: Some(Keypoints {
            left_eye: p(0),
            right_eye: p(1),
            nose: p(2),
            mouth_left: p(3),
            mouth_right: p(4),
        }),
    }
}

/// The brightness-weighted centre of the bright pixels within `radius` of (x, y).
fn centroid(image: &image::RgbImage, x: f32, y: f32, radius: i32) -> (f32, f32) {
    let (mut sx, mut sy, mut sw) = (0.0, 0.0, 0.0);
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            let (px, py) = (x.round() as i32 + dx, y.round() as i32 + dy);
            if px < 0 || py < 0 || px >= image.width() as i32 || py >= image.height() as i32 {
                continue;
            }
            let w = f32::from(image.get_pixel(px as u32, py as u32)[0]);
            (sx, sy, sw) = (sx + w * px as f32, sy + w * py as f32, sw + w);
        }
    }
    (sx / sw, sy / sw)
}

#[test]
fn a_face_through_a_known_similarity_comes_back_to_the_template() {
    // Crop → image: rotate by 25°, scale by 1.8, shift; the five keypoints are the template mapped through it.
    let (angle, scale, shift) = (25f32.to_radians(), 1.8f32, (60.0f32, 35.0f32));
    let to_image = |[x, y]: [f32; 2]| {
        let (c, s) = (scale * angle.cos(), scale * angle.sin());
        [c * x - s * y + shift.0, s * x + c * y + shift.1]
    };
    let points = ARCFACE_TEMPLATE.map(to_image);
    // A smooth bright blob at each keypoint, so that its centre can be found to a fraction of a pixel.
    let image = image::RgbImage::from_fn(320, 320, |x, y| {
        let v: f32 = points
            .iter()
            .map(|p| {
                let d2 = (x as f32 - p[0]).powi(2) + (y as f32 - p[1]).powi(2);
                255.0 * (-d2 / (2.0 * 3.0f32.powi(2))).exp()
            })
            .sum();
        let v = v.min(255.0) as u8;
        image::Rgb([v, v, v])
    });
    let aligned = align(&image, &face_with(points), 112).unwrap();
    assert_eq!(aligned.dimensions(), (112, 112));
    let mut worst = 0.0f32;
    for [tx, ty] in ARCFACE_TEMPLATE {
        let (cx, cy) = centroid(&aligned, tx, ty, 4);
        worst = worst.max(((cx - tx).powi(2) + (cy - ty).powi(2)).sqrt());
    }
    println!("known similarity: blobs within {worst:.3} px of the template");
    assert!(worst <= 0.5, "{worst}");

    // Another size scales the template: the fit maps the keypoints onto it.
    let t = alignment_transform(&face_with(points), 224).unwrap();
    for (p, q) in points.iter().zip(template(224)) {
        let m = t.apply([f64::from(p[0]), f64::from(p[1])]);
        assert!((m[0] - f64::from(q[0])).abs() < 1e-3 && (m[1] - f64::from(q[1])).abs() < 1e-3);
    }
}

#[test]
fn aligned_golden_faces_put_their_keypoints_on_the_template() {
    let Some(data) = shared_data_or_skip("aligned_golden_faces_put_their_keypoints_on_the_template") else {
        return;
    };
    let detector = Detector::builder().device(Device::Cpu).build().unwrap();
    let (mut aligned, mut found, mut means) = (0, 0, Vec::new());
    // Also: the re-detected keypoints against where the alignment put the first detection's keypoints. The
    // least-squares similarity cannot take five points of a turned or tilted face exactly onto the template, so
    // this is the warp's own error plus MTCNN's noise, without the fit's residual.
    let mut to_mapped = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(data.join("images"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    names.sort();
    for path in names {
        let image = image::open(&path).unwrap().to_rgb8();
        for face in detector.detect(&image).unwrap() {
            let crop = align(&image, &face, 112).unwrap();
            let transform = mtcnn_wgpu::align::alignment_transform(&face, 112).unwrap();
            let mapped = face
                .keypoints
                .unwrap()
                .to_array()
                .map(|p| transform.apply([f64::from(p.x), f64::from(p.y)]));
            aligned += 1;
            // The face nearest the crop's centre, found again on the aligned crop.
            let again = detector.detect(&crop).unwrap();
            let Some(best) = again.iter().min_by(|a, b| {
                let d = |f: &Face| {
                    (f.bbox.x + f.bbox.width / 2.0 - 56.0).abs() + (f.bbox.y + f.bbox.height / 2.0 - 56.0).abs()
                };
                d(a).total_cmp(&d(b))
            }) else {
                continue;
            };
            found += 1;
            let points = best.keypoints.unwrap().to_array();
            let distances = points
                .iter()
                .zip(ARCFACE_TEMPLATE)
                .map(|(p, [tx, ty])| ((p.x - tx).powi(2) + (p.y - ty).powi(2)).sqrt());
            means.push(distances.sum::<f32>() / 5.0);
            let off_mapped = points
                .iter()
                .zip(&mapped)
                .map(|(p, [mx, my])| ((f64::from(p.x) - mx).powi(2) + (f64::from(p.y) - my).powi(2)).sqrt() as f32);
            to_mapped.push(off_mapped.sum::<f32>() / 5.0);
        }
    }
    means.sort_by(f32::total_cmp);
    to_mapped.sort_by(f32::total_cmp);
    let at = |v: &[f32], q: f32| v[((v.len() - 1) as f32 * q) as usize];
    let (median, p90, worst) = (at(&means, 0.5), at(&means, 0.9), at(&means, 1.0));
    let within_3 = means.iter().filter(|&&d| d <= 3.0).count();
    let (mapped_median, mapped_p90) = (at(&to_mapped, 0.5), at(&to_mapped, 0.9));
    println!(
        "golden alignment: {aligned} faces aligned, {found} found again; mean keypoint distance to the template: \
         median {median:.2} px, 90th percentile {p90:.2} px, worst {worst:.2} px, {within_3} faces within 3 px; \
         to the first detection's keypoints as mapped by the alignment: median {mapped_median:.2} px, 90th \
         percentile {mapped_p90:.2} px"
    );
    assert!(aligned >= 90, "{aligned}");
    assert!(found * 10 >= aligned * 9, "{found} of {aligned}");
    // MTCNN's own landmark noise (about 7 % of the eye distance, i.e. 2.5 px at 112) and its systematic offsets
    // from the ArcFace template (nose about 2 px lower, mouth corners about 1 px wider) bound how close a second
    // detection can come.
    assert!(median <= 3.0 && p90 <= 5.0, "median {median}, 90th percentile {p90}");
    // Without the fit's residual the second detection lands on the first, mapped, within about a pixel.
    assert!(
        mapped_median <= 1.5 && mapped_p90 <= 3.0,
        "to the mapped keypoints: median {mapped_median}, 90th percentile {mapped_p90}"
    );
}

#[test]
fn gpu_and_cpu_warps_agree_within_one_grey_level() {
    let Some(gpu) = common::gpu_detector_or_skip() else {
        return;
    };
    let image = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8();
    let mut faces = gpu.detect(&image).unwrap();
    assert_eq!(faces.len(), 1);
    // A second face far off to the side: much of its crop lies outside the image and must come out black.
    let mut off = faces[0];
    let k = off.keypoints.as_mut().unwrap();
    for p in [
        &mut k.left_eye,
        &mut k.right_eye,
        &mut k.nose,
        &mut k.mouth_left,
        &mut k.mouth_right,
    ] {
        p.x += 420.0;
    }
    faces.push(off);
    for size in [112, 150] {
        let on_gpu = gpu.align_faces(&image, &faces, size).unwrap();
        assert_eq!(on_gpu.len(), faces.len());
        for (g, face) in on_gpu.iter().zip(&faces) {
            let c = align(&image, face, size).unwrap();
            let worst = g
                .as_raw()
                .iter()
                .zip(c.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            assert!(worst <= 1, "size {size}: {worst} grey levels apart");
        }
        let black = on_gpu[1].as_raw().iter().filter(|&&v| v == 0).count();
        assert!(black > on_gpu[1].as_raw().len() / 4, "{black}");
    }
    assert!(gpu.align_faces(&image, &[], 112).unwrap().is_empty());
}

#[test]
fn faces_that_cannot_be_aligned_are_errors() {
    let image = image::RgbImage::new(64, 64);
    let degenerate = face_with([[30.0, 30.0]; 5]);
    assert!(matches!(align(&image, &degenerate, 112), Err(Error::Alignment(_))));
    let good = face_with(ARCFACE_TEMPLATE);
    assert!(matches!(align(&image, &good, 0), Err(Error::Alignment(_))));
    let no_keypoints = Face {
        keypoints: None,
        ..good
    };
    assert!(matches!(align(&image, &no_keypoints, 112), Err(Error::Alignment(_))));
    let detector = Detector::builder()
        .device(Device::Cpu)
        .stages(Stages::FacesOnly)
        .build()
        .unwrap();
    let err = detector.align_faces(&image, &[good, degenerate], 112).unwrap_err();
    assert!(err.to_string().contains("degenerate"), "{err}");
}
