//! The multiply-adds each stage performs, so that timings can be read as achieved rates. The architecture is fixed
//! (the weights loader checks every tensor's shape); a test walks `netdef`'s layer lists to keep these in step.

use super::pyramid::PyramidLevel;

/// Multiply-adds of R-Net on one 24×24 crop.
pub(crate) const RNET_MULTIPLY_ADDS: u64 = 1_530_768;
/// Multiply-adds of O-Net on one 48×48 crop.
pub(crate) const ONET_MULTIPLY_ADDS: u64 = 12_909_952;

/// Multiply-adds of P-Net on one pyramid level: conv 3×3 3→10, ceil-pool 2, conv 3×3 10→16, conv 3×3 16→32, heads
/// 1×1 32→6.
pub(crate) fn pnet_multiply_adds(level: &PyramidLevel) -> u64 {
    let (h, w) = (level.height as u64, level.width as u64);
    if h < 3 || w < 3 {
        return 0;
    }
    let conv = |h: u64, w: u64, k: u64, cin: u64, cout: u64| {
        (h + 1).saturating_sub(k) * (w + 1).saturating_sub(k) * k * k * cin * cout
    };
    let (h1, w1) = ((h - 2).div_ceil(2), (w - 2).div_ceil(2));
    conv(h, w, 3, 3, 10)
        + conv(h1, w1, 3, 10, 16)
        + conv(h1.saturating_sub(2), w1.saturating_sub(2), 3, 16, 32)
        + conv(h1.saturating_sub(4), w1.saturating_sub(4), 1, 32, 6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdef::{self, pool_geometry, Layer};
    use crate::weights::Weights;

    /// Walks a layer list the way the backends do.
    fn walk(layers: &[Layer], mut h: usize, mut w: usize) -> u64 {
        let mut total = 0;
        let mut channels = 3;
        for layer in layers {
            match layer {
                Layer::Conv { kh, kw, weights } => {
                    (h, w) = ((h + 1).saturating_sub(*kh), (w + 1).saturating_sub(*kw));
                    total += (h * w * kh * kw * weights.cin * weights.cout) as u64;
                    channels = weights.cout;
                }
                Layer::Pool { size, stride, padding } => {
                    (h, w) = (
                        pool_geometry(h, *size, *stride, *padding).0,
                        pool_geometry(w, *size, *stride, *padding).0,
                    );
                }
                Layer::Dense(weights) => {
                    assert_eq!(weights.cin, h * w * channels);
                    total += (weights.cin * weights.cout) as u64;
                    (h, w, channels) = (1, 1, weights.cout);
                }
            }
        }
        total
    }

    #[test]
    fn counts_match_the_layer_lists() {
        let weights = Weights::embedded().unwrap();
        assert_eq!(walk(&netdef::rnet(&weights), 24, 24), RNET_MULTIPLY_ADDS);
        assert_eq!(walk(&netdef::onet(&weights), 48, 48), ONET_MULTIPLY_ADDS);
        let pnet = netdef::pnet(&weights);
        for (height, width) in [(12, 12), (13, 17), (288, 384), (531, 768), (100, 3)] {
            let level = PyramidLevel {
                scale: 1.0,
                height,
                width,
            };
            assert_eq!(
                pnet_multiply_adds(&level),
                walk(&pnet, height, width),
                "{height}×{width}"
            );
        }
    }

    #[test]
    fn the_bench_image_costs_what_the_issue_counted() {
        // Issue 4's table: 0.37 G multiply-adds for P-Net's ten levels at 640×480.
        let levels = super::super::pyramid::pyramid_levels(640, 480, &Default::default());
        let total: u64 = levels.iter().map(pnet_multiply_adds).sum();
        assert_eq!(levels.len(), 10);
        assert!((0.36e9..0.38e9).contains(&(total as f64)), "{total}");
    }
}
