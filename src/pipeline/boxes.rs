//! Box arithmetic of the reference (`utils/bboxes.py`, `utils/landmarks.py`), in float64 with the package's three
//! float32 spots: the P-Net score test, the R/O-Net calibration product and the stored landmarks.

/// A candidate box in image pixels, float64 as in the package: corners, score and (after O-Net) landmarks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Candidate {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    pub score: f64,
    /// `[x1..x5, y1..y5]` in image pixels, float32 as the package stores them; set by O-Net.
    pub landmarks: Option<[f32; 10]>,
}

impl Candidate {
    pub fn new(x1: f64, y1: f64, x2: f64, y2: f64, score: f64) -> Self {
        Candidate {
            x1,
            y1,
            x2,
            y2,
            score,
            landmarks: None,
        }
    }
}

/// One P-Net output cell above the threshold, as a backend reports it: its position on the level's output map,
/// its face probability and its box regression `[dx1, dy1, dx2, dy2]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Proposal {
    pub row: u32,
    pub col: u32,
    pub score: f32,
    pub reg: [f32; 4],
}

/// `generate_bounding_box` + `upscale_bboxes` for one cell (stride 2, corner offsets 1 and 12, so the regression
/// is scaled by 11), divided by the level's scale. The caller sorts before dividing in the package; division does
/// not change the order, so it is done here.
pub(crate) fn pnet_box(p: &Proposal, scale: f64) -> Candidate {
    let (r, c) = (f64::from(p.row), f64::from(p.col));
    let [dx1, dy1, dx2, dy2] = p.reg.map(f64::from);
    let x1 = (2.0 * c + 1.0) + dx1 * 11.0;
    let y1 = (2.0 * r + 1.0) + dy1 * 11.0;
    let x2 = (2.0 * c + 12.0) + dx2 * 11.0;
    let y2 = (2.0 * r + 12.0) + dy2 * 11.0;
    Candidate::new(x1 / scale, y1 / scale, x2 / scale, y2 / scale, f64::from(p.score))
}

/// `resize_to_square`: the side is max(w, h) (no +1), centred on the box; coordinates stay fractional.
pub(crate) fn square(b: &Candidate) -> Candidate {
    let h = b.y2 - b.y1;
    let w = b.x2 - b.x1;
    let l = w.max(h);
    let x1 = b.x1 + w * 0.5 - l * 0.5;
    let y1 = b.y1 + h * 0.5 - l * 0.5;
    Candidate {
        x1,
        y1,
        x2: x1 + l,
        y2: y1 + l,
        ..*b
    }
}

/// `adjust_bboxes`: corners += reg · [w, h, w, h] with w = x2 − x1 + 1. The product is float32 (TensorFlow casts
/// the float64 sizes to float32), the sum float64.
pub(crate) fn calibrate(b: &Candidate, reg: [f32; 4]) -> Candidate {
    let w = (b.x2 - b.x1 + 1.0) as f32;
    let h = (b.y2 - b.y1 + 1.0) as f32;
    Candidate {
        x1: b.x1 + f64::from(reg[0] * w),
        y1: b.y1 + f64::from(reg[1] * h),
        x2: b.x2 + f64::from(reg[2] * w),
        y2: b.y2 + f64::from(reg[3] * h),
        ..*b
    }
}

/// `adjust_landmarks` on the O-Net input box: x = (x2 − x1 + 1)·px + x1 − 1 (y likewise) in float64, stored as f32.
pub(crate) fn landmarks_to_image(b: &Candidate, relative: &[f32; 10]) -> [f32; 10] {
    let w = b.x2 - b.x1 + 1.0;
    let h = b.y2 - b.y1 + 1.0;
    let mut out = [0f32; 10];
    for i in 0..5 {
        out[i] = (w * f64::from(relative[i]) + b.x1 - 1.0) as f32;
        out[5 + i] = (h * f64::from(relative[5 + i]) + b.y1 - 1.0) as f32;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnet_box_scales_regression_by_eleven() {
        let p = Proposal {
            row: 3,
            col: 5,
            score: 0.9,
            reg: [0.5, -0.25, 0.0, 0.5],
        };
        let b = pnet_box(&p, 0.5);
        assert_eq!(
            (b.x1, b.y1, b.x2, b.y2),
            ((11.0 + 5.5) / 0.5, (7.0 - 2.75) / 0.5, 22.0 / 0.5, (18.0 + 5.5) / 0.5)
        );
        assert_eq!(b.score, f64::from(0.9f32));
    }

    #[test]
    fn square_centres_the_longer_side() {
        let b = square(&Candidate::new(10.0, 20.0, 30.0, 60.0, 1.0));
        assert_eq!((b.x1, b.y1, b.x2, b.y2), (0.0, 20.0, 40.0, 60.0));
    }

    #[test]
    fn calibrate_uses_plus_one_widths() {
        let b = calibrate(&Candidate::new(0.0, 0.0, 9.0, 19.0, 1.0), [0.5, 0.25, -0.5, 1.0]);
        assert_eq!((b.x1, b.y1, b.x2, b.y2), (5.0, 5.0, 4.0, 39.0));
    }

    #[test]
    fn landmarks_are_relative_to_the_plus_one_box() {
        let mut rel = [0f32; 10];
        rel[0] = 0.5;
        rel[5] = 1.0;
        let lm = landmarks_to_image(&Candidate::new(10.0, 20.0, 29.0, 39.0, 1.0), &rel);
        assert_eq!((lm[0], lm[5]), (19.0, 39.0));
        assert_eq!((lm[1], lm[6]), (9.0, 19.0));
    }
}
