//! Ordering and non-maximum suppression as the reference does them (`utils/bboxes.py: sort_by_scores`, `nms`).

use super::boxes::Candidate;

/// How NMS measures overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overlap {
    /// Intersection over union.
    Union,
    /// Intersection over the smaller area.
    Min,
}

/// Descending by score with the project's tie rule: a stable ascending sort, reversed, so that among equal scores
/// the later candidate comes first (`np.argsort(scores, kind="stable")[::-1]`). Part of the output contract.
pub(crate) fn sort_desc(boxes: &mut [Candidate]) {
    boxes.sort_by(|a, b| a.score.total_cmp(&b.score));
    boxes.reverse();
}

/// The package's IoU in float64, areas without +1. 0/0 gives NaN, which never exceeds a threshold.
fn overlap(a: &Candidate, b: &Candidate, kind: Overlap) -> f64 {
    let area_a = (a.x2 - a.x1) * (a.y2 - a.y1);
    let area_b = (b.x2 - b.x1) * (b.y2 - b.y1);
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let inter = w * h;
    match kind {
        Overlap::Union => inter / (area_a + area_b - inter),
        Overlap::Min => inter / area_a.min(area_b),
    }
}

/// "Fast NMS": keep box j iff its overlap with *every* earlier box i < j is ≤ threshold, whether or not box i was
/// itself kept. Order is preserved; the input must already be in the intended order.
pub(crate) fn fast_nms(boxes: Vec<Candidate>, threshold: f64, kind: Overlap) -> Vec<Candidate> {
    let keep: Vec<bool> = (0..boxes.len())
        .map(|j| {
            !boxes[..j]
                .iter()
                .any(|earlier| overlap(earlier, &boxes[j], kind) > threshold)
        })
        .collect();
    boxes
        .into_iter()
        .zip(keep)
        .filter_map(|(b, k)| k.then_some(b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x1: f64, y1: f64, x2: f64, y2: f64, score: f64) -> Candidate {
        Candidate::new(x1, y1, x2, y2, score)
    }

    #[test]
    fn ties_put_the_later_candidate_first() {
        let mut v = vec![
            b(0.0, 0.0, 1.0, 1.0, 1.0),
            b(1.0, 0.0, 2.0, 1.0, 0.5),
            b(2.0, 0.0, 3.0, 1.0, 1.0),
        ];
        sort_desc(&mut v);
        assert_eq!(v.iter().map(|c| c.x1).collect::<Vec<_>>(), [2.0, 0.0, 1.0]);
    }

    #[test]
    fn a_suppressed_box_still_suppresses_later_ones() {
        // A overlaps B strongly, B overlaps C strongly, A and C do not overlap: classic NMS keeps A and C,
        // the package's fast NMS keeps only A.
        let v = vec![
            b(0.0, 0.0, 10.0, 10.0, 0.9),
            b(2.0, 0.0, 12.0, 10.0, 0.8),
            b(4.0, 0.0, 14.0, 10.0, 0.7),
        ];
        let kept = fast_nms(v.clone(), 0.5, Overlap::Union);
        assert_eq!(kept.len(), 1);
        let kept = fast_nms(v, 0.7, Overlap::Union);
        assert_eq!(kept.len(), 3, "IoU(A,B) = IoU(B,C) = 80/120 ≤ 0.7");
    }

    #[test]
    fn min_overlap_suppresses_a_box_inside_another() {
        let v = vec![b(0.0, 0.0, 100.0, 100.0, 0.9), b(10.0, 10.0, 30.0, 30.0, 0.8)];
        assert_eq!(fast_nms(v.clone(), 0.7, Overlap::Min).len(), 1);
        assert_eq!(fast_nms(v, 0.7, Overlap::Union).len(), 2);
    }

    #[test]
    fn degenerate_boxes_never_suppress() {
        let v = vec![b(5.0, 5.0, 5.0, 5.0, 0.9), b(5.0, 5.0, 5.0, 5.0, 0.8)];
        assert_eq!(fast_nms(v, 0.5, Overlap::Union).len(), 2);
    }
}
