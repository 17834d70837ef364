//! Row-major single-precision matrix product, `C = A·B`, through ndarray (matrixmultiply's packed,
//! SIMD-dispatched sgemm underneath). One thin, safe wrapper so that kernels speak in slices.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// `c[m×n] = a[m×k] · b[k×n]`, all row-major and contiguous. The slice lengths are the caller's invariant.
pub(crate) fn matmul(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    let a = ArrayView2::from_shape((m, k), a).expect("gemm: A is m×k");
    let b = ArrayView2::from_shape((k, n), b).expect("gemm: B is k×n");
    let mut c = ArrayViewMut2::from_shape((m, n), c).expect("gemm: C is m×n");
    general_mat_mul(1.0, &a, &b, 0.0, &mut c);
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_product() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3×2
        let mut c = [0.0; 4];
        super::matmul(&a, &b, &mut c, 2, 3, 2);
        assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
    }
}
