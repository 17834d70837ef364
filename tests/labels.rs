//! Hand-labelled faces (`../shared/data/labels`, dlib's PASCAL VOC photos): recall, false positives and landmark
//! error, which must be at least as good as the Python package's figures in `../shared/data/README.md`
//! (recall 18/18 and 0 false positives at IoU ≥ 0.4 and ≥ 0.5; landmark error mean 0.070, worst 0.129 of the
//! inter-ocular distance).

mod common;

use common::shared_data_or_skip;
use mtcnn_wgpu::{BoundingBox, Detector, Face};

struct Labelled {
    bbox: BoundingBox,
    /// left eye, right eye, nose, mouth left, mouth right, from the 68 iBUG points.
    points: [(f32, f32); 5],
}

/// The value of `name='…'` inside one XML tag.
fn attr(tag: &str, name: &str) -> Option<f32> {
    let start = tag.find(&format!(" {name}='"))? + name.len() + 3;
    tag[start..].split('\'').next()?.parse().ok()
}

/// Parses dlib's `training_with_face_landmarks.xml`: image file → faces with box and 68 parts.
fn read_labels(xml: &str) -> Vec<(String, Vec<Labelled>)> {
    let mut images = Vec::new();
    for image in xml.split("<image file='").skip(1) {
        let file = image.split('\'').next().unwrap().to_string();
        let mut faces = Vec::new();
        for b in image.split("<box ").skip(1) {
            let tag = format!(" {}", b.split('>').next().unwrap());
            let bbox = BoundingBox {
                x: attr(&tag, "left").unwrap(),
                y: attr(&tag, "top").unwrap(),
                width: attr(&tag, "width").unwrap(),
                height: attr(&tag, "height").unwrap(),
            };
            let mut parts = [(0.0f32, 0.0f32); 68];
            for p in b.split("<part ").skip(1).take(68) {
                let tag = format!(" {}", p.split('>').next().unwrap());
                let i = attr(&tag, "name").unwrap() as usize;
                parts[i] = (attr(&tag, "x").unwrap(), attr(&tag, "y").unwrap());
            }
            let mean = |r: std::ops::Range<usize>| {
                let n = r.len() as f32;
                let (sx, sy) = r.fold((0.0, 0.0), |(sx, sy), i| (sx + parts[i].0, sy + parts[i].1));
                (sx / n, sy / n)
            };
            faces.push(Labelled {
                bbox,
                points: [mean(36..42), mean(42..48), parts[30], parts[48], parts[54]],
            });
        }
        images.push((file, faces));
    }
    images
}

/// One-to-one matching, best IoU first: pairs (label index, face index).
fn matches(labels: &[Labelled], faces: &[Face], min_iou: f32) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(f32, usize, usize)> = (0..labels.len())
        .flat_map(|l| (0..faces.len()).map(move |f| (l, f)))
        .map(|(l, f)| (labels[l].bbox.iou(&faces[f].bbox), l, f))
        .filter(|&(v, _, _)| v >= min_iou)
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut used_l, mut used_f, mut out) = (vec![false; labels.len()], vec![false; faces.len()], Vec::new());
    for (_, l, f) in pairs {
        if !used_l[l] && !used_f[f] {
            used_l[l] = true;
            used_f[f] = true;
            out.push((l, f));
        }
    }
    out
}

#[test]
fn labelled_faces_are_found_as_well_as_by_the_python_package() {
    let Some(data) = shared_data_or_skip("labelled_faces_are_found_as_well_as_by_the_python_package") else {
        return;
    };
    let xml = std::fs::read_to_string(data.join("labels/dlib_training_with_face_landmarks.xml")).unwrap();
    let detector = Detector::new().unwrap();
    let images = read_labels(&xml);
    assert_eq!(
        images.iter().map(|(_, f)| f.len()).sum::<usize>(),
        18,
        "the labels hold 18 faces"
    );
    for min_iou in [0.4, 0.5] {
        let (mut labelled, mut found, mut false_positives, mut errors) = (0, 0, 0, Vec::new());
        for (file, labels) in &images {
            let png = data.join(format!("images/dlib_{}", file.replace(".jpg", ".png")));
            let image = image::open(&png).unwrap().to_rgb8();
            let faces = detector.detect(&image).unwrap();
            let pairs = matches(labels, &faces, min_iou);
            labelled += labels.len();
            found += pairs.len();
            false_positives += faces.len() - pairs.len();
            for (l, f) in pairs {
                let truth = &labels[l].points;
                let ours = faces[f].keypoints.unwrap().to_array();
                let iod = ((truth[0].0 - truth[1].0).powi(2) + (truth[0].1 - truth[1].1).powi(2)).sqrt();
                let err: f32 = ours
                    .iter()
                    .zip(truth)
                    .map(|(p, t)| ((p.x - t.0).powi(2) + (p.y - t.1).powi(2)).sqrt())
                    .sum::<f32>()
                    / 5.0;
                errors.push(err / iod);
            }
        }
        let mean = errors.iter().sum::<f32>() / errors.len().max(1) as f32;
        let worst = errors.iter().copied().fold(0.0, f32::max);
        println!(
            "labels at IoU >= {min_iou}: recall {found}/{labelled}, false positives {false_positives}, \
             landmark error mean {mean:.4}, worst {worst:.4} (inter-ocular)"
        );
        assert_eq!(found, labelled, "recall at IoU {min_iou}");
        assert_eq!(false_positives, 0, "false positives at IoU {min_iou}");
        // The package's figures, rounded to three decimals in data/README.md.
        assert!(mean <= 0.0705, "mean landmark error {mean}");
        assert!(worst <= 0.1295, "worst landmark error {worst}");
    }
}
