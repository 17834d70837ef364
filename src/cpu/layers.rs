//! The layers of the three networks with their weights packed once at load time: convolution and dense layers
//! with bias and PReLU fused, and max-pooling as TensorFlow pads it.

use std::sync::atomic::AtomicUsize;

use multiversion::multiversion;
use rayon::prelude::*;

use super::direct_conv::{conv_row, RowShape};
use super::gemm::{matmul, Epilogue, PackedMatrix};
use super::tensor::Tensor;
use super::thread_scratch::grow_on_every_thread;
use super::winograd::{Pointwise, Winograd, MAX_CIN};
use crate::netdef::{pool_geometry, Padding, Weighted};
use crate::pipeline::workspace::first_n;

/// Output pixels per parallel task (at least): enough work to pay for the task, and many tasks for rayon to
/// spread.
const TASK_PIXELS: usize = 256;

/// A layer's weights packed for [`matmul`], with its bias and optional PReLU.
#[derive(Clone, Debug)]
pub(crate) struct PackedWeights {
    pub cin: usize,
    pub cout: usize,
    kernel: PackedMatrix,
    bias: Vec<f32>,
    alpha: Option<Vec<f32>>,
}

impl PackedWeights {
    /// Packs the `[k, cout]` kernel of `w`, `k = rows · cin`.
    fn new(w: &Weighted, rows: usize) -> Self {
        PackedWeights {
            cin: w.cin,
            cout: w.cout,
            kernel: PackedMatrix::new(&w.kernel, rows * w.cin, w.cout),
            bias: w.bias.clone(),
            alpha: w.alpha.clone(),
        }
    }

    fn epilogue(&self) -> Epilogue<'_> {
        Epilogue {
            bias: &self.bias,
            alpha: self.alpha.as_deref(),
        }
    }
}

/// A valid, stride-1 convolution with bias and an optional per-channel PReLU: 3×3 kernels with enough input
/// channels by Winograd F(m×m, 3×3), m = 2, 3 or 4, which need 2.25× to 4× fewer multiply-adds; the others
/// (P-Net's 10-channel layer, 2×2 and 1×1 kernels) directly. (The networks' 3-channel first layers run on planar
/// images instead, fused with their pools: `planar_conv.rs`, `crop_conv.rs`.)
#[derive(Clone, Debug)]
pub(crate) enum Conv {
    Direct(DirectConv),
    Winograd(Winograd),
    /// A Winograd convolution and the 1×1 convolution after it, fused (see [`Pointwise`]): P-Net's last two.
    WinogradPointwise(Winograd, PackedWeights),
}

/// A convolution computed directly (`direct_conv.rs`), or as a matrix product when 1×1.
#[derive(Clone, Debug)]
pub(crate) struct DirectConv {
    kh: usize,
    kw: usize,
    /// The HWIO kernel is already the `[kh·kw·cin, cout]` matrix, rows in (ky, kx, c) order.
    w: PackedWeights,
}

/// Input channels from which a 3×3 convolution runs by Winograd: below, the small products per tile cost more
/// than the multiply-adds they save (measured: P-Net's 10-channel layer is faster directly, by either algorithm).
const WINOGRAD_MIN_CIN: usize = 16;

impl Conv {
    pub fn new(kh: usize, kw: usize, w: &Weighted) -> Self {
        if kh == 3 && kw == 3 && (WINOGRAD_MIN_CIN..=MAX_CIN).contains(&w.cin) {
            Conv::Winograd(Winograd::new(w))
        } else {
            Conv::Direct(DirectConv {
                kh,
                kw,
                w: PackedWeights::new(w, kh * kw),
            })
        }
    }

    /// The Winograd convolution `conv` with the 1×1 convolution `next` fused into it.
    pub fn winograd_pointwise(conv: Winograd, next: &Weighted) -> Self {
        Conv::WinogradPointwise(conv, PackedWeights::new(next, 1))
    }

    /// Writes the convolution of `x` into `out`, reshaped to fit.
    pub fn forward(&self, x: &Tensor, out: &mut Tensor) {
        match self {
            Conv::Direct(conv) => conv.forward(x, out),
            Conv::Winograd(conv) => conv.forward(x, None, out),
            Conv::WinogradPointwise(conv, next) => {
                let pointwise = Pointwise {
                    kernel: &next.kernel,
                    epilogue: next.epilogue(),
                };
                conv.forward(x, Some(pointwise), out)
            }
        }
    }
}

impl DirectConv {
    /// The shape of one output row's convolution over `x`.
    fn row_shape(&self, x: &Tensor) -> RowShape {
        RowShape {
            kh: self.kh,
            kw: self.kw,
            cin: self.w.cin,
            in_w: x.w,
        }
    }

    /// The `kh` input rows that output row `y` of image `img` reads.
    fn input_rows<'a>(&self, x: &'a Tensor, img: usize, y: usize) -> &'a [f32] {
        &x.data()[(img * x.h + y) * x.w * x.c..][..self.kh * x.w * x.c]
    }

    /// Writes the convolution of `x` into `out`, reshaped to fit, output rows spread across threads.
    pub fn forward(&self, x: &Tensor, out: &mut Tensor) {
        let w = &self.w;
        debug_assert_eq!(x.c, w.cin);
        let (ho, wo) = ((x.h + 1).saturating_sub(self.kh), (x.w + 1).saturating_sub(self.kw));
        let cout = w.cout;
        out.reshape(x.n, ho, wo, cout);
        if out.data().is_empty() {
            return;
        }
        if self.kh == 1 && self.kw == 1 {
            // A 1×1 convolution is a plain matrix product over the input pixels.
            out.data_mut()
                .par_chunks_mut(TASK_PIXELS * cout)
                .zip(x.data().par_chunks(TASK_PIXELS * w.cin))
                .for_each(|(dst, a)| matmul(a, &w.kernel, dst, w.epilogue()));
            return;
        }
        let shape = self.row_shape(x);
        out.data_mut()
            .par_chunks_mut(wo * cout)
            .with_min_len(TASK_PIXELS.div_ceil(wo))
            .enumerate()
            .for_each(|(row, dst)| {
                let (img, y) = (row / ho, row % ho);
                conv_row(self.input_rows(x, img, y), shape, &w.kernel, dst, w.epilogue());
            });
    }
}

thread_local! {
    /// The column maxima of the input rows under one pooled row (`max_pool`), one per rayon worker.
    static COLUMN_MAX: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}
/// The largest size `COLUMN_MAX` has been grown to on every thread.
static COLUMN_MAX_GROWN: AtomicUsize = AtomicUsize::new(0);

/// A dense layer with bias and an optional PReLU: `[n, cin] · [cin, cout]`.
#[derive(Clone, Debug)]
pub(crate) struct Dense(PackedWeights);

impl Dense {
    pub fn new(w: &Weighted) -> Self {
        Dense(PackedWeights::new(w, 1))
    }

    /// `x` holds `n` rows of `cin` values (any shape, flattened); `out` becomes `n` rows of `cout`, n×1×1×cout.
    pub fn forward(&self, x: &Tensor, out: &mut Tensor) {
        let n = x.data().len() / self.0.cin;
        out.reshape(n, 1, 1, self.0.cout);
        if n > 0 {
            matmul(x.data(), &self.0.kernel, out.data_mut(), self.0.epilogue());
        }
    }
}

/// Max-pooling with a square window.
pub(crate) fn max_pool(x: &Tensor, size: usize, stride: usize, padding: Padding, out: &mut Tensor) {
    let geometry = |n: usize| pool_geometry(n, size, stride, padding);
    let (oh, pad_y) = geometry(x.h);
    let (ow, pad_x) = geometry(x.w);
    out.reshape(x.n, oh, ow, x.c);
    if out.data().is_empty() {
        return;
    }
    let (c, data) = (x.c, x.data());
    let row_len = x.w * c;
    grow_on_every_thread(&COLUMN_MAX, &COLUMN_MAX_GROWN, row_len);
    out.data_mut()
        .par_chunks_mut(ow * c)
        .with_min_len((TASK_PIXELS * 16).div_ceil(ow * c))
        .enumerate()
        .for_each(|(row, dst)| {
            let (img, oy) = (row / oh, row % oh);
            let y0 = (oy * stride).saturating_sub(pad_y);
            let y1 = (oy * stride + size - pad_y).min(x.h);
            let rows = &data[(img * x.h + y0) * row_len..(img * x.h + y1) * row_len];
            let across = Across { c, size, stride, pad_x };
            COLUMN_MAX.with_borrow_mut(|column_max| pool_row(rows, first_n(column_max, row_len), across, dst));
        });
}

/// How a pooled row's windows lie across the columns.
#[derive(Clone, Copy)]
struct Across {
    c: usize,
    size: usize,
    stride: usize,
    pad_x: usize,
}

/// One pooled row from the input rows under it (`rows`, one after the other, `column_max.len()` values each).
/// Separable: the maximum down the window's rows first, one long vector loop, then across each window's columns.
/// The same maxima as window by window, with far fewer loads and stores. All in one function compiled for AVX2
/// too, so that a small row (R-Net's 22 × 28 values) pays for one dispatch, not one a step.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn pool_row(rows: &[f32], column_max: &mut [f32], across: Across, dst: &mut [f32]) {
    let mut lines = rows.chunks_exact(column_max.len());
    if let Some(first) = lines.next() {
        column_max.copy_from_slice(first);
    }
    for line in lines {
        max_into(column_max, line);
    }
    pool_across(column_max, across, dst);
}

/// `column_max = max(column_max, row)`, value by value, over a whole row. Compiled for AVX2 too (called from a
/// closure, which is compiled for the baseline only).
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub(crate) fn max_row(column_max: &mut [f32], row: &[f32]) {
    max_into(column_max, row);
}

/// One pooled row from the column maxima of the input rows under it (`w × c` values): each output pixel takes
/// the maximum over its window's columns.
#[inline(always)]
fn pool_across(column_max: &[f32], Across { c, size, stride, pad_x }: Across, dst: &mut [f32]) {
    let w = column_max.len() / c;
    for (ox, cell) in dst.chunks_exact_mut(c).enumerate() {
        let x0 = (ox * stride).saturating_sub(pad_x);
        let x1 = (ox * stride + size - pad_x).min(w);
        let mut columns = column_max[x0 * c..x1 * c].chunks_exact(c);
        let first = columns.next().unwrap_or_default();
        // The first two columns in one pass: a window of one column is a copy, which for a run-time channel
        // count is a memcpy call, a large share of a small pool's time.
        match columns.next() {
            Some(second) => {
                for ((m, &a), &b) in cell.iter_mut().zip(first).zip(second) {
                    *m = a.max(b);
                }
            }
            None => cell.copy_from_slice(first),
        }
        for src in columns {
            max_into(cell, src);
        }
    }
}

/// `cell = max(cell, src)`, channel by channel (the inputs are finite: the detector rejects NaN). `f32::max`, not
/// `if v > m { v } else { m }`: with AVX2, LLVM turns the latter into masked stores, which are slow on AMD.
#[inline(always)]
fn max_into(cell: &mut [f32], src: &[f32]) {
    for (m, &v) in cell.iter_mut().zip(src) {
        *m = m.max(v);
    }
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

/// The logit difference `z1 − z0` (in float64, where it is exact) below which a cell's face probability cannot
/// exceed `threshold`: the logit of `threshold − 1e-4`. [`face_probability`] is within a few float32 roundings
/// of the exact sigmoid of `z1 − z0`, far closer than 1e-4, so cells below the floor are skipped without their
/// two exps. Minus infinity (nothing skipped) for a threshold of at most 1e-4, or NaN.
pub(crate) fn logit_floor(threshold: f32) -> f64 {
    let p = f64::from(threshold) - 1e-4;
    if p >= 1.0 {
        // No probability exceeds a threshold above 1.
        f64::INFINITY
    } else if p > 0.0 {
        (p / (1.0 - p)).ln()
    } else {
        f64::NEG_INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logit_floor_skips_no_cell_above_the_threshold_and_skips_those_well_below() {
        for threshold in [0.0f32, 1e-5, 0.3, 0.6, 0.7, 0.95, 0.999, 0.99999, 1.0, 1.5] {
            let floor = logit_floor(threshold);
            let exact = f64::from(threshold) / (1.0 - f64::from(threshold));
            // Differences around the threshold's logit, at logit sizes where float32 rounds coarsely.
            for z0 in [-40.0f32, -3.3, 0.0, 2.7, 35.0] {
                for step in -2000..=2000 {
                    let d = exact.ln().clamp(-60.0, 60.0) + f64::from(step) * 1e-5;
                    let z1 = (f64::from(z0) + d) as f32;
                    if face_probability(z0, z1) > threshold {
                        let (z0, z1) = (f64::from(z0), f64::from(z1));
                        assert!(
                            z1 - z0 >= floor,
                            "threshold {threshold}: {z0}, {z1} over it, floor {floor}"
                        );
                    }
                }
            }
        }
        // And it does skip: at 0.6, a cell 0.01 below the threshold's logit.
        let floor = logit_floor(0.6);
        assert!((1.5f64).ln() - 0.01 < floor && floor < (1.5f64).ln());
        assert_eq!(logit_floor(f32::NAN), f64::NEG_INFINITY);
    }

    #[test]
    fn same_pooling_ignores_the_padding() {
        // 3×3 input, all negative, pooled 2×2 stride 2 "same": 2×2 output; the edge windows see 2 or 1 cells.
        let x = Tensor::from_vec(1, 3, 3, 1, vec![-9.0, -8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0]);
        let mut y = Tensor::default();
        max_pool(&x, 2, 2, Padding::Same, &mut y);
        assert_eq!((y.h, y.w), (2, 2));
        assert_eq!(y.data(), [-5.0, -4.0, -2.0, -1.0]);
        // 3×3 window, stride 2 on 22 → 11 outputs, padding total 1 split 0 before, 1 after.
        let x = Tensor::from_vec(1, 1, 22, 1, (0..22).map(|v| -(v as f32)).collect());
        max_pool(&x, 3, 2, Padding::Same, &mut y);
        assert_eq!(y.w, 11);
        assert_eq!(y.data()[0], 0.0);
        assert_eq!(y.data()[10], -20.0);
    }

    #[test]
    fn conv_matches_a_direct_sum() {
        let (h, w, cin, cout) = (7, 9, 3, 5);
        let x = Tensor::patterned(2, h, w, cin);
        let weights = Weighted::patterned(9, cin, cout, vec![0.1; cout], Some(vec![0.25; cout]));
        let kernel = &weights.kernel;
        let conv = Conv::new(3, 3, &weights);
        let mut y = Tensor::default();
        conv.forward(&x, &mut y);
        for (n, oy, ox, o) in [(0, 0, 0, 0), (1, 4, 6, 4), (1, 2, 3, 1)] {
            let mut acc = 0.1f64;
            for ky in 0..3 {
                for kx in 0..3 {
                    for c in 0..cin {
                        let xv = x.data()[((n * h + oy + ky) * w + ox + kx) * cin + c];
                        acc += f64::from(xv) * f64::from(kernel[((ky * 3 + kx) * cin + c) * cout + o]);
                    }
                }
            }
            let expected = if acc > 0.0 { acc } else { 0.25 * acc };
            let got = y.data()[((n * 5 + oy) * 7 + ox) * cout + o];
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
