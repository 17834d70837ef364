//! The least-squares similarity transform between two point sets (Umeyama's method, without reflection).

use crate::error::{Error, Result};

/// `(x, y) ↦ (a·x − b·y + tx, b·x + a·y + ty)`: a rotation by atan2(b, a), a uniform scale √(a² + b²) and a
/// translation, mapping image pixels to crop pixels (pixel centres at integer coordinates, as OpenCV's
/// `warpAffine` uses them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    /// scale · cos(rotation)
    pub a: f64,
    /// scale · sin(rotation)
    pub b: f64,
    /// Translation along x.
    pub tx: f64,
    /// Translation along y.
    pub ty: f64,
}

impl Similarity {
    /// The similarity that maps `from` onto `to` with the least squared error. In two dimensions Umeyama's
    /// solution without reflection has a closed form: with points as complex numbers centred on their means,
    /// a + ib = Σ conj(p)·q / Σ |p|².
    pub fn fit(from: &[[f32; 2]], to: &[[f32; 2]]) -> Result<Similarity> {
        if from.len() != to.len() || from.is_empty() {
            return Err(Error::Alignment(format!(
                "{} source points for {} template points",
                from.len(),
                to.len()
            )));
        }
        if from.iter().chain(to).flatten().any(|v| !v.is_finite()) {
            return Err(Error::Alignment("a keypoint is not finite".into()));
        }
        let n = from.len() as f64;
        let mean = |points: &[[f32; 2]]| {
            let (x, y) = points
                .iter()
                .fold((0.0, 0.0), |(x, y), p| (x + f64::from(p[0]), y + f64::from(p[1])));
            (x / n, y / n)
        };
        let (px, py) = mean(from);
        let (qx, qy) = mean(to);
        let (mut re, mut im, mut norm) = (0.0, 0.0, 0.0);
        for (p, q) in from.iter().zip(to) {
            let (x, y) = (f64::from(p[0]) - px, f64::from(p[1]) - py);
            let (u, v) = (f64::from(q[0]) - qx, f64::from(q[1]) - qy);
            re += x * u + y * v;
            im += x * v - y * u;
            norm += x * x + y * y;
        }
        // Keypoints all in (nearly) one place leave the rotation and scale undefined.
        if norm <= 1e-6 * n {
            return Err(Error::Alignment(
                "the keypoints are degenerate (all in one place); no transform fits them".into(),
            ));
        }
        let (a, b) = (re / norm, im / norm);
        Ok(Similarity {
            a,
            b,
            tx: qx - (a * px - b * py),
            ty: qy - (b * px + a * py),
        })
    }

    /// Maps an image point to the crop.
    pub fn apply(&self, [x, y]: [f64; 2]) -> [f64; 2] {
        [self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty]
    }

    /// The inverse transform (crop to image), which the warp samples through.
    pub fn inverse(&self) -> Similarity {
        let d = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / d, -self.b / d);
        Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_similarity_is_recovered_exactly() {
        let truth = Similarity {
            a: 1.3 * 0.4f64.cos(),
            b: 1.3 * 0.4f64.sin(),
            tx: -20.0,
            ty: 7.5,
        };
        let from = [[10.0f32, 20.0], [40.0, 22.0], [25.0, 40.0], [14.0, 55.0], [38.0, 56.0]];
        let to = from.map(|[x, y]| truth.apply([f64::from(x), f64::from(y)]).map(|v| v as f32));
        let fit = Similarity::fit(&from, &to).unwrap();
        for (got, want) in [
            (fit.a, truth.a),
            (fit.b, truth.b),
            (fit.tx, truth.tx),
            (fit.ty, truth.ty),
        ] {
            assert!((got - want).abs() < 1e-4, "{fit:?} vs {truth:?}");
        }
        let back = fit.inverse().apply(fit.apply([3.0, -4.0]));
        assert!((back[0] - 3.0).abs() < 1e-9 && (back[1] + 4.0).abs() < 1e-9, "{back:?}");
    }

    #[test]
    fn degenerate_and_non_finite_points_are_errors() {
        let same = [[5.0f32, 5.0]; 5];
        let to = [[0.0f32, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 2.0]];
        assert!(matches!(Similarity::fit(&same, &to), Err(Error::Alignment(_))));
        let mut nan = to;
        nan[2][0] = f32::NAN;
        assert!(matches!(Similarity::fit(&nan, &to), Err(Error::Alignment(_))));
        assert!(matches!(Similarity::fit(&to[..2], &to), Err(Error::Alignment(_))));
    }
}
