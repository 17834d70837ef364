//! The three stages in the reference's order (`stage_pnet.py`, `stage_rnet.py`, `stage_onet.py`).

use std::time::Instant;

use super::boxes::{calibrate, landmarks_to_image, pnet_box, square, Candidate};
use super::crops::CropBox;
use super::nms::{fast_nms, sort_desc, Overlap};
use super::pyramid::pyramid_levels;
use super::work::{pnet_multiply_adds, ONET_MULTIPLY_ADDS, RNET_MULTIPLY_ADDS};
use crate::backend::{Backend, ImageView};
use crate::error::Result;
use crate::options::{DetectorOptions, Stages};
use crate::timings::StageTimings;

/// Runs the cascade on one image. Returns the final candidates, best first, with unclamped float64 corners.
pub(crate) fn detect(
    backend: &dyn Backend,
    image: ImageView<'_>,
    options: &DetectorOptions,
) -> Result<(Vec<Candidate>, StageTimings)> {
    let mut t = StageTimings::default();
    let levels = pyramid_levels(image.width, image.height, options);
    t.levels = levels.len();
    if levels.is_empty() {
        return Ok((Vec::new(), t));
    }
    let mut pass = backend.begin(image)?;
    let crop_boxes = |boxes: &[Candidate]| -> Vec<CropBox> {
        boxes
            .iter()
            .map(|b| CropBox::normalized(b, image.width, image.height))
            .collect()
    };

    // Stage 1: P-Net on every level; per level sort, NMS 0.5; then across levels sort, NMS 0.7, square.
    let start = Instant::now();
    let proposals = pass.propose(&levels, options.thresholds.pnet)?;
    t.pnet = start.elapsed();
    t.pnet_device = pass.take_device_time();
    t.pnet_multiply_adds = levels.iter().map(pnet_multiply_adds).sum();
    let start = Instant::now();
    let mut boxes = Vec::new();
    for (level, cells) in levels.iter().zip(&proposals) {
        t.proposals += cells.len();
        let mut level_boxes: Vec<Candidate> = cells.iter().map(|p| pnet_box(p, level.scale)).collect();
        sort_desc(&mut level_boxes);
        boxes.extend(fast_nms(level_boxes, options.nms.pnet_level, Overlap::Union));
    }
    sort_desc(&mut boxes);
    let boxes: Vec<Candidate> = fast_nms(boxes, options.nms.pnet_all, Overlap::Union)
        .iter()
        .map(square)
        .collect();
    t.pnet_nms = start.elapsed();
    t.rnet_inputs = boxes.len();
    if boxes.is_empty() {
        return Ok((boxes, t));
    }

    // Stage 2: R-Net; replace the score, calibrate, threshold, sort, NMS 0.7, square.
    let start = Instant::now();
    let refined = pass.refine(&crop_boxes(&boxes))?;
    t.rnet = start.elapsed();
    t.rnet_device = pass.take_device_time();
    t.rnet_multiply_adds = boxes.len() as u64 * RNET_MULTIPLY_ADDS;
    let start = Instant::now();
    let mut kept: Vec<Candidate> = boxes
        .iter()
        .zip(&refined)
        .filter(|(_, r)| r.score > options.thresholds.rnet)
        .map(|(b, r)| {
            calibrate(
                &Candidate {
                    score: f64::from(r.score),
                    ..*b
                },
                r.reg,
            )
        })
        .collect();
    sort_desc(&mut kept);
    let boxes: Vec<Candidate> = fast_nms(kept, options.nms.rnet, Overlap::Union)
        .iter()
        .map(square)
        .collect();
    t.rnet_nms = start.elapsed();
    if options.stages == Stages::FacesOnly || boxes.is_empty() {
        t.faces = boxes.len();
        return Ok((boxes, t));
    }
    t.onet_inputs = boxes.len();

    // Stage 3: O-Net; landmarks on the input boxes, replace the score, calibrate, threshold, sort, NMS 0.7 'min'.
    let start = Instant::now();
    let outputs = pass.landmark(&crop_boxes(&boxes))?;
    t.onet = start.elapsed();
    t.onet_device = pass.take_device_time();
    t.onet_multiply_adds = boxes.len() as u64 * ONET_MULTIPLY_ADDS;
    let start = Instant::now();
    let mut faces: Vec<Candidate> = boxes
        .iter()
        .zip(&outputs)
        .filter(|(_, o)| o.score > options.thresholds.onet)
        .map(|(b, o)| {
            let with_landmarks = Candidate {
                score: f64::from(o.score),
                landmarks: Some(landmarks_to_image(b, &o.landmarks)),
                ..*b
            };
            calibrate(&with_landmarks, o.reg)
        })
        .collect();
    sort_desc(&mut faces);
    let faces = fast_nms(faces, options.nms.onet, Overlap::Min);
    t.onet_nms = start.elapsed();
    t.faces = faces.len();
    Ok((faces, t))
}
