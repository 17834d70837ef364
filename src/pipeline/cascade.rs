//! The three stages in the reference's order (`stage_pnet.py`, `stage_rnet.py`, `stage_onet.py`), on a batch of
//! images: each stage runs the networks on every image of the batch at once, and the box arithmetic between the
//! stages is done per image, exactly as for one image alone. All lists live in a reused [`Workspace`].

use std::time::Instant;

use super::boxes::{calibrate, landmarks_to_image, pnet_box, square, Candidate};
use super::crops::CropBox;
use super::nms::{fast_nms, sort_desc, Overlap};
use super::pyramid::{pyramid_levels_into, PyramidLevel};
use super::work::{pnet_multiply_adds, ONET_MULTIPLY_ADDS, RNET_MULTIPLY_ADDS};
use super::workspace::{first_n, reset, Workspace};
use crate::backend::{Backend, ImageView, Pass};
use crate::error::Result;
use crate::options::{DetectorOptions, Stages};
use crate::timings::StageTimings;

/// Runs the cascade on each image. Leaves each image's final candidates in `ws.boxes[image]`, best first, with
/// unclamped float64 corners, and returns the timings of the batch (times of the whole batch, counts summed over
/// its images). Allocates nothing once the workspace's lists have grown to the sizes of the images.
pub(crate) fn detect(
    backend: &dyn Backend,
    images: &[ImageView<'_>],
    options: &DetectorOptions,
    ws: &mut Workspace,
) -> Result<StageTimings> {
    let mut t = StageTimings::default();
    for (levels, image) in reset(&mut ws.levels, images.len()).iter_mut().zip(images) {
        pyramid_levels_into(image.width, image.height, options, levels);
    }
    reset(&mut ws.boxes, images.len());
    t.levels = ws.levels[..images.len()].iter().map(Vec::len).sum();
    if t.levels == 0 {
        return Ok(t);
    }
    let start = Instant::now();
    // The levels leave the workspace for the call, so that the backend can read them while the stages write it.
    let levels = std::mem::take(&mut ws.levels);
    let mut on_pass = |pass: &mut dyn Pass| {
        t.upload = start.elapsed();
        stages(pass, images, &levels[..images.len()], options, ws, &mut t)
    };
    let result = backend.run(images, &levels[..images.len()], &mut on_pass);
    ws.levels = levels;
    result.map(|()| t)
}

/// The three stages on a prepared pass.
fn stages(
    pass: &mut dyn Pass,
    images: &[ImageView<'_>],
    levels: &[Vec<PyramidLevel>],
    options: &DetectorOptions,
    ws: &mut Workspace,
    t: &mut StageTimings,
) -> Result<()> {
    let n = images.len();
    let Workspace {
        proposals,
        boxes,
        crops,
        refined,
        landmarked,
        level_boxes,
        nms,
        ..
    } = ws;
    let count = |boxes: &[Vec<Candidate>]| boxes[..n].iter().map(Vec::len).sum::<usize>();

    // Stage 1: P-Net on every level; per level sort, NMS 0.5; then across levels sort, NMS 0.7, square.
    let start = Instant::now();
    // Per image, one list per level: the image entries are kept as they are, their level lists emptied.
    let proposals = first_n(proposals, n);
    for (lists, levels) in proposals.iter_mut().zip(levels) {
        reset(lists, levels.len());
    }
    pass.propose(levels, options.thresholds.pnet, proposals)?;
    t.pnet = start.elapsed();
    let measured = pass.take_device_measures();
    (t.pnet_device, t.pyramid_device, t.pnet_readback) = (measured.device, measured.pyramid_device, measured.readback);
    t.pyramid = pass.take_pyramid_share().map(|share| t.pnet.mul_f64(share));
    t.pnet_multiply_adds = levels.iter().flatten().map(pnet_multiply_adds).sum();
    let start = Instant::now();
    t.proposals = proposals.iter().flat_map(|p| &p[..]).map(Vec::len).sum();
    for ((image_boxes, levels), proposals) in boxes.iter_mut().zip(levels).zip(proposals.iter()) {
        // The levels are merged in level order.
        for (level, cells) in levels.iter().zip(proposals) {
            level_boxes.clear();
            level_boxes.extend(cells.iter().map(|p| pnet_box(p, level.scale)));
            sort_desc(level_boxes, nms);
            fast_nms(level_boxes, options.nms.pnet_level, Overlap::Union, nms);
            image_boxes.extend_from_slice(level_boxes);
        }
        sort_desc(image_boxes, nms);
        fast_nms(image_boxes, options.nms.pnet_all, Overlap::Union, nms);
        image_boxes.iter_mut().for_each(|b| *b = square(b));
    }
    t.pnet_nms = start.elapsed();
    t.rnet_inputs = count(boxes);
    if t.rnet_inputs == 0 {
        return Ok(());
    }

    // Stage 2: R-Net; replace the score, calibrate, threshold, sort, NMS 0.7, square.
    let start = Instant::now();
    crop_boxes(images, boxes, crops);
    let refined = reset(refined, n);
    pass.refine(&crops[..n], refined)?;
    t.rnet = start.elapsed();
    let measured = pass.take_device_measures();
    (t.rnet_device, t.rnet_readback) = (measured.device, measured.readback);
    t.rnet_multiply_adds = t.rnet_inputs as u64 * RNET_MULTIPLY_ADDS;
    let start = Instant::now();
    for (image_boxes, refined) in boxes.iter_mut().zip(refined.iter()) {
        keep_calibrated(image_boxes, refined, options.thresholds.rnet, |b, r| {
            let rescored = Candidate {
                score: f64::from(r.score),
                ..*b
            };
            (r.score, calibrate(&rescored, r.reg))
        });
        sort_desc(image_boxes, nms);
        fast_nms(image_boxes, options.nms.rnet, Overlap::Union, nms);
        image_boxes.iter_mut().for_each(|b| *b = square(b));
    }
    t.rnet_nms = start.elapsed();
    if options.stages == Stages::FacesOnly || count(boxes) == 0 {
        t.faces = count(boxes);
        return Ok(());
    }
    t.onet_inputs = count(boxes);

    // Stage 3: O-Net; landmarks on the input boxes, replace the score, calibrate, threshold, sort, NMS 0.7 'min'.
    let start = Instant::now();
    crop_boxes(images, boxes, crops);
    let landmarked = reset(landmarked, n);
    pass.landmark(&crops[..n], landmarked)?;
    t.onet = start.elapsed();
    let measured = pass.take_device_measures();
    (t.onet_device, t.onet_readback) = (measured.device, measured.readback);
    t.onet_multiply_adds = t.onet_inputs as u64 * ONET_MULTIPLY_ADDS;
    let start = Instant::now();
    for (image_boxes, outputs) in boxes.iter_mut().zip(landmarked.iter()) {
        keep_calibrated(image_boxes, outputs, options.thresholds.onet, |b, o| {
            let with_landmarks = Candidate {
                score: f64::from(o.score),
                landmarks: Some(landmarks_to_image(b, &o.landmarks)),
                ..*b
            };
            (o.score, calibrate(&with_landmarks, o.reg))
        });
        sort_desc(image_boxes, nms);
        fast_nms(image_boxes, options.nms.onet, Overlap::Min, nms);
    }
    t.onet_nms = start.elapsed();
    t.faces = count(boxes);
    Ok(())
}

/// Each image's boxes as TensorFlow crop boxes, into `crops[image]`.
fn crop_boxes(images: &[ImageView<'_>], boxes: &[Vec<Candidate>], crops: &mut Vec<Vec<CropBox>>) {
    let crops = reset(crops, images.len());
    for ((crops, boxes), image) in crops.iter_mut().zip(boxes).zip(images) {
        crops.extend(boxes.iter().map(|b| CropBox::normalized(b, image.width, image.height)));
    }
}

/// Replaces each box by `update(box, verdict)`'s candidate where its score (float32) is above `threshold`, and
/// drops the others, in place and in order.
fn keep_calibrated<V>(
    boxes: &mut Vec<Candidate>,
    verdicts: &[V],
    threshold: f32,
    update: impl Fn(&Candidate, &V) -> (f32, Candidate),
) {
    let mut kept = 0;
    for i in 0..boxes.len() {
        let (score, candidate) = update(&boxes[i], &verdicts[i]);
        if score > threshold {
            boxes[kept] = candidate;
            kept += 1;
        }
    }
    boxes.truncate(kept);
}
