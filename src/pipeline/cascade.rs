//! The three stages in the reference's order (`stage_pnet.py`, `stage_rnet.py`, `stage_onet.py`), on a batch of
//! images: each stage runs the networks on every image of the batch at once, and the box arithmetic between the
//! stages is done per image (images in parallel), exactly as for one image alone.

use std::time::Instant;

use rayon::prelude::*;

use super::boxes::{calibrate, landmarks_to_image, pnet_box, square, Candidate};
use super::crops::CropBox;
use super::nms::{fast_nms, sort_desc, Overlap};
use super::pyramid::{pyramid_levels, PyramidLevel};
use super::work::{pnet_multiply_adds, ONET_MULTIPLY_ADDS, RNET_MULTIPLY_ADDS};
use crate::backend::{Backend, ImageView};
use crate::error::Result;
use crate::options::{DetectorOptions, Stages};
use crate::timings::StageTimings;

/// Runs the cascade on each image. Returns each image's final candidates, best first, with unclamped float64
/// corners, and the timings of the batch (times of the whole batch, counts summed over its images).
pub(crate) fn detect(
    backend: &dyn Backend,
    images: &[ImageView<'_>],
    options: &DetectorOptions,
) -> Result<(Vec<Vec<Candidate>>, StageTimings)> {
    let mut t = StageTimings::default();
    let levels: Vec<Vec<PyramidLevel>> = images
        .iter()
        .map(|i| pyramid_levels(i.width, i.height, options))
        .collect();
    t.levels = levels.iter().map(Vec::len).sum();
    if t.levels == 0 {
        return Ok((vec![Vec::new(); images.len()], t));
    }
    let start = Instant::now();
    let mut pass = backend.begin(images)?;
    t.upload = start.elapsed();
    let crop_boxes = |boxes: &[Vec<Candidate>]| -> Vec<Vec<CropBox>> {
        boxes
            .iter()
            .zip(images)
            .map(|(b, image)| {
                b.iter()
                    .map(|b| CropBox::normalized(b, image.width, image.height))
                    .collect()
            })
            .collect()
    };
    let count = |boxes: &[Vec<Candidate>]| boxes.iter().map(Vec::len).sum::<usize>();

    // Stage 1: P-Net on every level; per level sort, NMS 0.5; then across levels sort, NMS 0.7, square.
    let start = Instant::now();
    let proposals = pass.propose(&levels, options.thresholds.pnet)?;
    t.pnet = start.elapsed();
    t.pnet_device = pass.take_device_time();
    t.pnet_multiply_adds = levels.iter().flatten().map(pnet_multiply_adds).sum();
    let start = Instant::now();
    t.proposals = proposals.iter().flatten().map(Vec::len).sum();
    let boxes: Vec<Vec<Candidate>> = levels
        .par_iter()
        .zip(&proposals)
        .map(|(levels, proposals)| {
            // The levels are independent until they are merged, in level order.
            let per_level: Vec<Vec<Candidate>> = levels
                .par_iter()
                .zip(proposals)
                .map(|(level, cells)| {
                    let mut level_boxes: Vec<Candidate> = cells.iter().map(|p| pnet_box(p, level.scale)).collect();
                    sort_desc(&mut level_boxes);
                    fast_nms(level_boxes, options.nms.pnet_level, Overlap::Union)
                })
                .collect();
            let mut boxes: Vec<Candidate> = per_level.into_iter().flatten().collect();
            sort_desc(&mut boxes);
            fast_nms(boxes, options.nms.pnet_all, Overlap::Union)
                .iter()
                .map(square)
                .collect()
        })
        .collect();
    t.pnet_nms = start.elapsed();
    t.rnet_inputs = count(&boxes);
    if t.rnet_inputs == 0 {
        return Ok((boxes, t));
    }

    // Stage 2: R-Net; replace the score, calibrate, threshold, sort, NMS 0.7, square.
    let start = Instant::now();
    let refined = pass.refine(&crop_boxes(&boxes))?;
    t.rnet = start.elapsed();
    t.rnet_device = pass.take_device_time();
    t.rnet_multiply_adds = t.rnet_inputs as u64 * RNET_MULTIPLY_ADDS;
    let start = Instant::now();
    let boxes: Vec<Vec<Candidate>> = boxes
        .par_iter()
        .zip(&refined)
        .map(|(boxes, refined)| {
            let mut kept: Vec<Candidate> = boxes
                .iter()
                .zip(refined)
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
            fast_nms(kept, options.nms.rnet, Overlap::Union)
                .iter()
                .map(square)
                .collect()
        })
        .collect();
    t.rnet_nms = start.elapsed();
    if options.stages == Stages::FacesOnly || count(&boxes) == 0 {
        t.faces = count(&boxes);
        return Ok((boxes, t));
    }
    t.onet_inputs = count(&boxes);

    // Stage 3: O-Net; landmarks on the input boxes, replace the score, calibrate, threshold, sort, NMS 0.7 'min'.
    let start = Instant::now();
    let outputs = pass.landmark(&crop_boxes(&boxes))?;
    t.onet = start.elapsed();
    t.onet_device = pass.take_device_time();
    t.onet_multiply_adds = t.onet_inputs as u64 * ONET_MULTIPLY_ADDS;
    let start = Instant::now();
    let faces: Vec<Vec<Candidate>> = boxes
        .par_iter()
        .zip(&outputs)
        .map(|(boxes, outputs)| {
            let mut faces: Vec<Candidate> = boxes
                .iter()
                .zip(outputs)
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
            fast_nms(faces, options.nms.onet, Overlap::Min)
        })
        .collect();
    t.onet_nms = start.elapsed();
    t.faces = count(&faces);
    Ok((faces, t))
}
