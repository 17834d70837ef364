//! The layers of the three networks with their weights packed once at load time: convolution and dense layers
//! with bias and PReLU fused, and max-pooling as TensorFlow pads it.

use rayon::prelude::*;

use super::gemm::matmul;
use super::tensor::Tensor;
use crate::netdef::{pool_geometry, Padding, Weighted};

thread_local! {
    /// im2col scratch, one per rayon worker, reused across blocks, layers and calls: no allocation, page faults
    /// or clearing in the hot loop.
    static PATCHES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Output pixels per im2col block: big enough for an efficient GEMM, small enough to stay in cache and to give
/// rayon work to spread.
const BLOCK_PIXELS: usize = 256;

/// A valid, stride-1 convolution with bias and an optional per-channel PReLU.
#[derive(Clone, Debug)]
pub(crate) struct Conv {
    pub kh: usize,
    pub kw: usize,
    /// The HWIO kernel is already the `[kh·kw·cin, cout]` matrix that multiplies im2col rows.
    pub w: Weighted,
}

impl Conv {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        debug_assert_eq!(x.c, self.w.cin);
        let (ho, wo) = ((x.h + 1).saturating_sub(self.kh), (x.w + 1).saturating_sub(self.kw));
        let mut out = Tensor::zeros(x.n, ho, wo, self.w.cout);
        if out.data.is_empty() {
            return out;
        }
        let k = self.kh * self.kw * self.w.cin;
        let rows_per_block = (BLOCK_PIXELS / wo).max(1);
        out.data
            .par_chunks_mut(rows_per_block * wo * self.w.cout)
            .enumerate()
            .for_each(|(block, dst)| {
                let rows = dst.len() / (wo * self.w.cout);
                let m = rows * wo;
                if self.kh == 1 && self.kw == 1 {
                    // A 1×1 convolution is a plain matrix product over the input pixels.
                    let start = block * rows_per_block * wo * self.w.cin;
                    matmul(
                        &x.data[start..start + m * self.w.cin],
                        &self.w.kernel,
                        dst,
                        m,
                        k,
                        self.w.cout,
                    );
                } else {
                    PATCHES.with_borrow_mut(|patches| {
                        self.im2col(x, block * rows_per_block, rows, ho, wo, patches);
                        matmul(patches, &self.w.kernel, dst, m, k, self.w.cout);
                    });
                }
                self.bias_and_prelu(dst);
            });
        out
    }

    /// The `rows` output rows starting at global row `first` (rows run over images, then y), one patch per
    /// output pixel, in (ky, kx, c) order to match the HWIO kernel.
    fn im2col(&self, x: &Tensor, first: usize, rows: usize, ho: usize, wo: usize, patches: &mut Vec<f32>) {
        let k = self.kh * self.kw * self.w.cin;
        let span = self.kw * self.w.cin;
        // Every element is written below, so a reused buffer needs no clearing.
        patches.resize(rows * wo * k, 0.0);
        patches.truncate(rows * wo * k);
        for r in 0..rows {
            let (img, y) = ((first + r) / ho, (first + r) % ho);
            for ox in 0..wo {
                let dst = &mut patches[(r * wo + ox) * k..][..k];
                for ky in 0..self.kh {
                    let src = ((img * x.h + y + ky) * x.w + ox) * self.w.cin;
                    // An inlined element loop: spans are 6 to 192 floats, too short for a memcpy call to pay.
                    for (d, s) in dst[ky * span..(ky + 1) * span].iter_mut().zip(&x.data[src..src + span]) {
                        *d = *s;
                    }
                }
            }
        }
    }

    fn bias_and_prelu(&self, dst: &mut [f32]) {
        bias_and_prelu(dst, &self.w.bias, self.w.alpha.as_deref());
    }
}

/// Adds the bias to each `bias.len()`-wide row, then applies PReLU (x if x > 0, else alpha·x) per channel.
fn bias_and_prelu(dst: &mut [f32], bias: &[f32], alpha: Option<&[f32]>) {
    for px in dst.chunks_exact_mut(bias.len()) {
        match alpha {
            Some(alpha) => {
                for ((v, b), a) in px.iter_mut().zip(bias).zip(alpha) {
                    // Branch-free PReLU, exactly y or a·y: one of the two terms is always zero.
                    let y = *v + b;
                    *v = y.max(0.0) + a * y.min(0.0);
                }
            }
            None => {
                for (v, b) in px.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        }
    }
}

/// A dense layer with bias and an optional PReLU: `[n, cin] · [cin, cout]`.
#[derive(Clone, Debug)]
pub(crate) struct Dense(pub Weighted);

impl Dense {
    /// `x` holds `n` rows of `input` values; returns `n` rows of `output` values.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let n = x.len() / self.0.cin;
        let mut out = vec![0.0f32; n * self.0.cout];
        if n == 0 {
            return out;
        }
        matmul(x, &self.0.kernel, &mut out, n, self.0.cin, self.0.cout);
        bias_and_prelu(&mut out, &self.0.bias, self.0.alpha.as_deref());
        out
    }
}

/// Max-pooling with a square window.
pub(crate) fn max_pool(x: &Tensor, size: usize, stride: usize, padding: Padding) -> Tensor {
    let geometry = |n: usize| pool_geometry(n, size, stride, padding);
    let (oh, pad_y) = geometry(x.h);
    let (ow, pad_x) = geometry(x.w);
    let mut out = Tensor::zeros(x.n, oh, ow, x.c);
    if out.data.is_empty() {
        return out;
    }
    let c = x.c;
    out.data.par_chunks_mut(ow * c).enumerate().for_each(|(row, dst)| {
        let (img, oy) = (row / oh, row % oh);
        let y0 = (oy * stride).saturating_sub(pad_y);
        let y1 = (oy * stride + size - pad_y).min(x.h);
        for ox in 0..ow {
            let x0 = (ox * stride).saturating_sub(pad_x);
            let x1 = (ox * stride + size - pad_x).min(x.w);
            let cell = &mut dst[ox * c..(ox + 1) * c];
            cell.fill(f32::NEG_INFINITY);
            for iy in y0..y1 {
                for ix in x0..x1 {
                    let src = &x.data[((img * x.h + iy) * x.w + ix) * c..][..c];
                    for (m, &v) in cell.iter_mut().zip(src) {
                        *m = m.max(v);
                    }
                }
            }
        }
    });
    out
}

/// TensorFlow's float32 softmax over two logits, `e = exp(z − max z); p = e · (1 / Σe)`, with exp correctly
/// rounded. Returns the face probability (index 1). Saturated faces come out as exactly 1.0, 1 − 2⁻²³, … and tie,
/// as in the reference.
pub(crate) fn face_probability(z0: f32, z1: f32) -> f32 {
    let m = z0.max(z1);
    let e0 = f64::from(z0 - m).exp() as f32;
    let e1 = f64::from(z1 - m).exp() as f32;
    e1 * (1.0 / (e0 + e1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_pooling_ignores_the_padding() {
        // 3×3 input, all negative, pooled 2×2 stride 2 "same": 2×2 output; the edge windows see 2 or 1 cells.
        let x = Tensor::from_vec(1, 3, 3, 1, vec![-9.0, -8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0]);
        let y = max_pool(&x, 2, 2, Padding::Same);
        assert_eq!((y.h, y.w), (2, 2));
        assert_eq!(y.data, [-5.0, -4.0, -2.0, -1.0]);
        // 3×3 window, stride 2 on 22 → 11 outputs, padding total 1 split 0 before, 1 after.
        let x = Tensor::from_vec(1, 1, 22, 1, (0..22).map(|v| -(v as f32)).collect());
        let y = max_pool(&x, 3, 2, Padding::Same);
        assert_eq!(y.w, 11);
        assert_eq!(y.data[0], 0.0);
        assert_eq!(y.data[10], -20.0);
    }

    #[test]
    fn conv_matches_a_direct_sum() {
        let (h, w, cin, cout) = (7, 9, 3, 5);
        let x = Tensor::from_vec(
            2,
            h,
            w,
            cin,
            (0..2 * h * w * cin)
                .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
                .collect(),
        );
        let kernel: Vec<f32> = (0..3 * 3 * cin * cout)
            .map(|i| ((i * 53 % 97) as f32) / 97.0 - 0.5)
            .collect();
        let weights = Weighted {
            cin,
            cout,
            kernel: kernel.clone(),
            bias: vec![0.1; cout],
            alpha: Some(vec![0.25; cout]),
        };
        let conv = Conv {
            kh: 3,
            kw: 3,
            w: weights,
        };
        let y = conv.forward(&x);
        for (n, oy, ox, o) in [(0, 0, 0, 0), (1, 4, 6, 4), (1, 2, 3, 1)] {
            let mut acc = 0.1f64;
            for ky in 0..3 {
                for kx in 0..3 {
                    for c in 0..cin {
                        let xv = x.data[((n * h + oy + ky) * w + ox + kx) * cin + c];
                        acc += f64::from(xv) * f64::from(kernel[((ky * 3 + kx) * cin + c) * cout + o]);
                    }
                }
            }
            let expected = if acc > 0.0 { acc } else { 0.25 * acc };
            let got = y.data[((n * 5 + oy) * 7 + ox) * cout + o];
            assert!((f64::from(got) - expected).abs() < 1e-5, "{got} vs {expected}");
        }
    }

    #[test]
    fn softmax_saturates_to_one_exactly() {
        assert_eq!(face_probability(-10.0, 10.0), 1.0);
        assert!((face_probability(0.0, 0.0) - 0.5).abs() < 1e-7);
        assert!(face_probability(3.0, 1.0) < 0.5);
    }
}
