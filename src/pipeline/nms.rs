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

/// The buffers that sorting and NMS work in, kept between calls so that they allocate nothing once grown.
#[derive(Debug, Default)]
pub(crate) struct NmsScratch {
    order: Vec<u32>,
    sorted: Vec<Candidate>,
    keep: Vec<bool>,
    earlier: Vec<usize>,
    grid: Grid,
}

/// Descending by score with the project's tie rule: the order of a stable ascending sort, reversed, so that among
/// equal scores the later candidate comes first (`np.argsort(scores, kind="stable")[::-1]`). Part of the output
/// contract. (An unstable sort of indices with the index as the tie-break gives that order without the stable
/// sort's allocation.)
pub(crate) fn sort_desc(boxes: &mut Vec<Candidate>, scratch: &mut NmsScratch) {
    let NmsScratch { order, sorted, .. } = scratch;
    order.clear();
    order.extend(0..boxes.len() as u32);
    order.sort_unstable_by(|&a, &b| {
        let (sa, sb) = (boxes[a as usize].score, boxes[b as usize].score);
        sb.total_cmp(&sa).then(b.cmp(&a))
    });
    sorted.clear();
    sorted.extend(order.iter().map(|&i| boxes[i as usize]));
    // Copied back rather than swapped, so that each list keeps its own allocation from call to call.
    boxes.clear();
    boxes.extend_from_slice(sorted);
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

/// "Fast NMS", in place: keep box j iff its overlap with *every* earlier box i < j is ≤ threshold, whether or not
/// box i was itself kept. Order is preserved; the input must already be in the intended order.
///
/// Only pairs that intersect can exceed a threshold ≥ 0, so the earlier boxes are looked up in a grid of the
/// image plane instead of all being compared: O(n) for the thousands of P-Net boxes of a large image rather than
/// O(n²). The overlap itself is the package's formula, so the result is the same as the all-pairs loop.
pub(crate) fn fast_nms(boxes: &mut Vec<Candidate>, threshold: f64, kind: Overlap, scratch: &mut NmsScratch) {
    let NmsScratch {
        keep, earlier, grid, ..
    } = scratch;
    let suppressed = |j: usize, i: usize| overlap(&boxes[i], &boxes[j], kind) > threshold;
    keep.clear();
    if grid.build(boxes) {
        keep.extend((0..boxes.len()).map(|j| {
            grid.earlier(j, earlier);
            !earlier.iter().any(|&i| suppressed(j, i))
        }));
    } else {
        keep.extend((0..boxes.len()).map(|j| !(0..j).any(|i| suppressed(j, i))));
    }
    let mut flags = keep.iter();
    boxes.retain(|_| flags.next().copied().unwrap_or(false));
}

/// Box indices bucketed over the image plane, in compressed rows: `members[starts[c]..starts[c + 1]]` are the
/// boxes that touch cell `c`, in ascending order. Any two boxes that intersect share a cell. A box with a
/// non-finite corner touches every cell. The buffers are reused from one build to the next.
#[derive(Debug, Default)]
struct Grid {
    spans: Vec<Span>,
    cols: usize,
    starts: Vec<usize>,
    fill: Vec<usize>,
    members: Vec<u32>,
    /// The query that last returned each box (a box can sit in several of the cells a query visits).
    seen: Vec<u32>,
    sides: Vec<f64>,
}

/// The cells a box touches: columns and rows, inclusive.
#[derive(Clone, Copy, Debug)]
struct Span {
    c0: usize,
    c1: usize,
    r0: usize,
    r1: usize,
}

impl Grid {
    /// Below this many boxes the all-pairs loop is as fast.
    const MIN_BOXES: usize = 64;
    /// At most this many cells a side.
    const MAX_SIDE: usize = 64;

    /// Buckets `boxes`; false when there are too few (or no finite ones) for a grid to pay.
    fn build(&mut self, boxes: &[Candidate]) -> bool {
        if boxes.len() < Self::MIN_BOXES {
            return false;
        }
        let finite = || boxes.iter().filter(|b| finite_box(b));
        let x0 = finite().map(|b| b.x1.min(b.x2)).fold(f64::INFINITY, f64::min);
        let y0 = finite().map(|b| b.y1.min(b.y2)).fold(f64::INFINITY, f64::min);
        let x1 = finite().map(|b| b.x1.max(b.x2)).fold(f64::NEG_INFINITY, f64::max);
        let y1 = finite().map(|b| b.y1.max(b.y2)).fold(f64::NEG_INFINITY, f64::max);
        self.sides.clear();
        self.sides
            .extend(finite().map(|b| (b.x2 - b.x1).abs().max((b.y2 - b.y1).abs())));
        if self.sides.is_empty() {
            return false;
        }
        let mid = self.sides.len() / 2;
        let median = *self.sides.select_nth_unstable_by(mid, f64::total_cmp).1;
        // Cells about the size of a typical box.
        let cell = median.max((x1 - x0).max(y1 - y0) / Self::MAX_SIDE as f64).max(1.0);
        let cols = ((x1 - x0) / cell) as usize + 1;
        let rows = ((y1 - y0) / cell) as usize + 1;
        let index = |v: f64, origin: f64, count: usize| (((v - origin) / cell).max(0.0) as usize).min(count - 1);
        self.spans.clear();
        self.spans.extend(boxes.iter().map(|b| match finite_box(b) {
            true => Span {
                c0: index(b.x1.min(b.x2), x0, cols),
                c1: index(b.x1.max(b.x2), x0, cols),
                r0: index(b.y1.min(b.y2), y0, rows),
                r1: index(b.y1.max(b.y2), y0, rows),
            },
            false => Span {
                c0: 0,
                c1: cols - 1,
                r0: 0,
                r1: rows - 1,
            },
        }));
        let cells_of = |s: &Span| {
            let s = *s;
            (s.r0..=s.r1).flat_map(move |r| (s.c0..=s.c1).map(move |c| r * cols + c))
        };
        self.cols = cols;
        let starts = &mut self.starts;
        starts.clear();
        starts.resize(cols * rows + 1, 0);
        for cell in self.spans.iter().flat_map(cells_of) {
            starts[cell + 1] += 1;
        }
        for c in 0..cols * rows {
            starts[c + 1] += starts[c];
        }
        self.fill.clear();
        self.fill.extend_from_slice(starts);
        self.members.clear();
        self.members.resize(starts[cols * rows], 0);
        for (i, span) in self.spans.iter().enumerate() {
            for cell in cells_of(span) {
                self.members[self.fill[cell]] = i as u32;
                self.fill[cell] += 1;
            }
        }
        self.seen.clear();
        self.seen.resize(boxes.len(), u32::MAX);
        true
    }

    /// The boxes before `j` that may intersect it, each once, into `out`.
    fn earlier(&mut self, j: usize, out: &mut Vec<usize>) {
        out.clear();
        let s = self.spans[j];
        for r in s.r0..=s.r1 {
            for c in s.c0..=s.c1 {
                let cell = r * self.cols + c;
                for &i in &self.members[self.starts[cell]..self.starts[cell + 1]] {
                    let i = i as usize;
                    if i >= j {
                        break;
                    }
                    if std::mem::replace(&mut self.seen[i], j as u32) != j as u32 {
                        out.push(i);
                    }
                }
            }
        }
    }
}

fn finite_box(b: &Candidate) -> bool {
    b.x1.is_finite() && b.y1.is_finite() && b.x2.is_finite() && b.y2.is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x1: f64, y1: f64, x2: f64, y2: f64, score: f64) -> Candidate {
        Candidate::new(x1, y1, x2, y2, score)
    }

    /// The allocating form, for tests.
    fn nms(mut boxes: Vec<Candidate>, threshold: f64, kind: Overlap) -> Vec<Candidate> {
        fast_nms(&mut boxes, threshold, kind, &mut NmsScratch::default());
        boxes
    }

    #[test]
    fn ties_put_the_later_candidate_first() {
        let mut v = vec![
            b(0.0, 0.0, 1.0, 1.0, 1.0),
            b(1.0, 0.0, 2.0, 1.0, 0.5),
            b(2.0, 0.0, 3.0, 1.0, 1.0),
        ];
        sort_desc(&mut v, &mut NmsScratch::default());
        assert_eq!(v.iter().map(|c| c.x1).collect::<Vec<_>>(), [2.0, 0.0, 1.0]);
        // The same order as a stable ascending sort reversed, NaN scores included.
        let scores = [0.5, f64::NAN, 0.5, 1.0, -0.0, 0.0, 0.5, f64::NAN, 1.0, 0.25];
        let mut v: Vec<Candidate> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| b(i as f64, 0.0, 1.0, 1.0, s))
            .collect();
        let mut expected = v.clone();
        expected.sort_by(|a, b| a.score.total_cmp(&b.score));
        expected.reverse();
        sort_desc(&mut v, &mut NmsScratch::default());
        assert_eq!(
            v.iter().map(|c| c.x1).collect::<Vec<_>>(),
            expected.iter().map(|c| c.x1).collect::<Vec<_>>()
        );
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
        let kept = nms(v.clone(), 0.5, Overlap::Union);
        assert_eq!(kept.len(), 1);
        let kept = nms(v, 0.7, Overlap::Union);
        assert_eq!(kept.len(), 3, "IoU(A,B) = IoU(B,C) = 80/120 ≤ 0.7");
    }

    #[test]
    fn min_overlap_suppresses_a_box_inside_another() {
        let v = vec![b(0.0, 0.0, 100.0, 100.0, 0.9), b(10.0, 10.0, 30.0, 30.0, 0.8)];
        assert_eq!(nms(v.clone(), 0.7, Overlap::Min).len(), 1);
        assert_eq!(nms(v, 0.7, Overlap::Union).len(), 2);
    }

    /// The all-pairs definition, which the grid must reproduce exactly.
    fn all_pairs(boxes: &[Candidate], threshold: f64, kind: Overlap) -> Vec<bool> {
        (0..boxes.len())
            .map(|j| !(0..j).any(|i| overlap(&boxes[i], &boxes[j], kind) > threshold))
            .collect()
    }

    #[test]
    fn the_grid_keeps_exactly_what_all_pairs_keep() {
        // A small LCG: boxes of very different sizes, some inverted, some degenerate, a few with NaN corners.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // One scratch for all three: the grid's buffers are reused across sizes.
        let mut scratch = NmsScratch::default();
        for (n, threshold, kind) in [
            (500, 0.5, Overlap::Union),
            (2000, 0.7, Overlap::Union),
            (300, 0.7, Overlap::Min),
        ] {
            let boxes: Vec<Candidate> = (0..n)
                .map(|k| {
                    let side = 5.0 + 300.0 * next().powi(3);
                    let (x, y) = (next() * 1900.0 - 50.0, next() * 1000.0 - 50.0);
                    let (w, h) = (side * (0.6 + 0.8 * next()), side * (0.6 + 0.8 * next()));
                    match k % 97 {
                        0 => b(f64::NAN, y, x + w, y + h, 0.5),
                        1 => b(x + w, y, x, y + h, 0.5),
                        2 => b(x, y, x, y + h, 0.5),
                        _ => b(x, y, x + w, y + h, next()),
                    }
                })
                .collect();
            let expected = all_pairs(&boxes, threshold, kind);
            let mut kept = boxes.clone();
            fast_nms(&mut kept, threshold, kind, &mut scratch);
            let want: Vec<Candidate> = boxes
                .iter()
                .zip(&expected)
                .filter(|(_, k)| **k)
                .map(|(b, _)| *b)
                .collect();
            assert_eq!(kept.len(), want.len(), "n {n}");
            assert!(kept.iter().zip(&want).all(|(a, b)| a.x2 == b.x2 && a.score == b.score));
            assert!(
                want.len() < n,
                "some boxes must be suppressed for the test to mean something"
            );
        }
    }

    #[test]
    fn degenerate_boxes_never_suppress() {
        let v = vec![b(5.0, 5.0, 5.0, 5.0, 0.9), b(5.0, 5.0, 5.0, 5.0, 0.8)];
        assert_eq!(nms(v, 0.5, Overlap::Union).len(), 2);
    }
}
