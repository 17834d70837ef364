//! Pyramid scales and level sizes (`utils/images.py: build_scale_pyramid`, `scale_images`) and the per-axis taps
//! of TensorFlow's AREA resize, which every backend applies the same way.

use crate::options::{DetectorOptions, PyramidRule};

/// P-Net's input cell: the smallest face a level can hold is 12 pixels.
pub(crate) const CELL: f64 = 12.0;

/// One level of the image pyramid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PyramidLevel {
    /// The factor from image to level, `12 / min_face_size · factorᵏ`.
    pub scale: f64,
    pub height: usize,
    pub width: usize,
}

impl PyramidLevel {
    /// P-Net's output map size on this level: conv 3 → ceil-pool 2 → conv 3 → conv 3, i.e. ceil((n−2)/2) − 4.
    pub fn pnet_map_size(&self) -> (usize, usize) {
        let map = |n: usize| {
            if n < 3 {
                0
            } else {
                (n - 2).div_ceil(2).saturating_sub(4)
            }
        };
        (map(self.height), map(self.width))
    }
}

/// The levels the reference builds for an image, largest first. Levels on which P-Net has no output are left out
/// (the package would hand TensorFlow an empty or negative-size tensor there).
#[cfg(test)]
pub(crate) fn pyramid_levels(width: u32, height: u32, options: &DetectorOptions) -> Vec<PyramidLevel> {
    let mut levels = Vec::new();
    pyramid_levels_into(width, height, options, &mut levels);
    levels
}

/// The levels of `pyramid_levels`, into a reused list.
pub(crate) fn pyramid_levels_into(width: u32, height: u32, options: &DetectorOptions, levels: &mut Vec<PyramidLevel>) {
    levels.clear();
    let (w, h) = (f64::from(width), f64::from(height));
    let min_dim = w.min(h);
    if min_dim < 1.0 {
        return;
    }
    let m = CELL / options.min_face_size;
    let factor = options.scale_factor;
    let count = match options.pyramid_rule {
        // Python's round() of a float64 is half to even.
        PyramidRule::Reference => (-((min_dim / CELL).ln() / factor.ln() + 1.0)).round_ties_even(),
        PyramidRule::MinFaceAware => {
            let mut k = 0.0;
            while min_dim * m * factor.powf(k) >= CELL {
                k += 1.0;
            }
            k
        }
    };
    let count = if count > 0.0 { count.min(1000.0) as i32 } else { 0 };
    let levels_of_image = (0..count)
        .map(|k| {
            // numpy computes scale_factor ** np.arange(n) as a float64 power.
            let scale = m * factor.powi(k);
            // tf.image.resize truncates the float size to int32.
            PyramidLevel {
                scale,
                height: (h * scale) as usize,
                width: (w * scale) as usize,
            }
        })
        .filter(|level| {
            let (mh, mw) = level.pnet_map_size();
            mh > 0 && mw > 0
        });
    levels.extend(levels_of_image);
}

/// The taps of one axis of TensorFlow's ResizeArea (`align_corners=False`), in float32 exactly as its kernel
/// computes them: output cell `o` covers `[o·s, (o+1)·s)` with `s = in/out`, and input cells that it partly
/// covers get fractional weights. The weights are not renormalised; the caller multiplies by `1/(s_y·s_x)`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AreaTaps {
    /// `(in, out)`.
    sizes: (usize, usize),
    /// `scale = in / out`, float32.
    pub scale: f32,
    /// `starts[o]..starts[o+1]` indexes `index` and `weight` for output cell `o`.
    pub starts: Vec<usize>,
    /// Input index of each tap, clamped to `in − 1` (float rounding can push the last tap one past the edge).
    pub index: Vec<usize>,
    /// Weight of each tap.
    pub weight: Vec<f32>,
}

impl AreaTaps {
    pub fn new(in_size: usize, out_size: usize) -> Self {
        let mut taps = AreaTaps {
            sizes: (usize::MAX, usize::MAX),
            scale: 0.0,
            starts: Vec::with_capacity(out_size + 1),
            index: Vec::new(),
            weight: Vec::new(),
        };
        taps.rebuild(in_size, out_size);
        taps
    }

    /// Recomputes the taps for new sizes in place, keeping the allocations (a no-op for the same sizes).
    pub fn rebuild(&mut self, in_size: usize, out_size: usize) {
        let scale = in_size as f32 / out_size as f32;
        if self.sizes == (in_size, out_size) {
            return;
        }
        (self.scale, self.sizes) = (scale, (in_size, out_size));
        let AreaTaps {
            starts, index, weight, ..
        } = self;
        starts.clear();
        index.clear();
        weight.clear();
        for o in 0..out_size {
            starts.push(index.len());
            let a = o as f32 * scale;
            let b = (o + 1) as f32 * scale;
            let first = a.floor() as usize;
            let end = b.ceil() as usize;
            for i in first..end {
                let fi = i as f32;
                let w = if fi < a {
                    if fi + 1.0 > b {
                        scale
                    } else {
                        (fi + 1.0) - a
                    }
                } else if fi + 1.0 > b {
                    b - fi
                } else {
                    1.0
                };
                index.push(i.min(in_size - 1));
                weight.push(w);
            }
        }
        starts.push(index.len());
    }

    /// The (index, weight) taps of output cell `o`.
    #[inline(always)]
    pub fn taps(&self, o: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let r = self.starts[o]..self.starts[o + 1];
        self.index[r.clone()]
            .iter()
            .copied()
            .zip(self.weight[r].iter().copied())
    }
}

/// The final factor of the AREA resize: `fl(1 / (s_y · s_x))`, the product in float32, the reciprocal in double.
pub(crate) fn area_normaliser(y: &AreaTaps, x: &AreaTaps) -> f32 {
    (1.0 / f64::from(y.scale * x.scale)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_sizes_match_the_reference_table() {
        // docs/reference-pipeline.md, "Pyramid of t1.jpg (1280×886)": 12 levels, sizes truncated.
        let levels = pyramid_levels(1280, 886, &DetectorOptions::default());
        let sizes: Vec<(usize, usize)> = levels.iter().map(|l| (l.height, l.width)).collect();
        assert_eq!(
            sizes,
            [
                (531, 768),
                (376, 544),
                (267, 386),
                (189, 273),
                (134, 194),
                (95, 137),
                (67, 97),
                (47, 69),
                (33, 49),
                (24, 34),
                (17, 24),
                (12, 17)
            ]
        );
    }

    #[test]
    fn reference_count_ignores_min_face_and_the_classic_rule_does_not() {
        // 112×112: the package's formula gives 5 levels, the classic rule 6 (reference-pipeline.md).
        let reference = pyramid_levels(112, 112, &DetectorOptions::default());
        assert_eq!(reference.len(), 5);
        let classic = DetectorOptions {
            pyramid_rule: PyramidRule::MinFaceAware,
            ..Default::default()
        };
        assert_eq!(pyramid_levels(112, 112, &classic).len(), 6);
        let big_faces = DetectorOptions {
            min_face_size: 100.0,
            ..classic
        };
        // 1000·0.12·0.709ᵏ ≥ 12 for k = 0..=6.
        assert_eq!(pyramid_levels(1000, 1000, &big_faces).len(), 7);
    }

    #[test]
    fn tiny_images_have_no_levels() {
        let o = DetectorOptions::default();
        assert!(pyramid_levels(0, 0, &o).is_empty());
        assert!(pyramid_levels(11, 11, &o).is_empty());
        assert!(pyramid_levels(1, 10000, &o).is_empty());
    }

    #[test]
    fn area_taps_follow_tensorflow() {
        // Downscale 5 → 2: s = 2.5, cells [0, 2.5) and [2.5, 5).
        let t = AreaTaps::new(5, 2);
        assert_eq!(t.taps(0).collect::<Vec<_>>(), [(0, 1.0), (1, 1.0), (2, 0.5)]);
        assert_eq!(t.taps(1).collect::<Vec<_>>(), [(2, 0.5), (3, 1.0), (4, 1.0)]);
        // 14 → 13: rounding pushes ceil(b) of the last cell to 15, a tiny extra tap clamped onto pixel 13.
        let t = AreaTaps::new(14, 13);
        let last: Vec<_> = t.taps(12).collect();
        let (index, weight) = *last.last().unwrap();
        assert_eq!(index, 13);
        assert!(weight > 0.0 && weight < 1e-5, "{weight}");
    }
}
