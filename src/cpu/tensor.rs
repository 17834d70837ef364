//! A plain NHWC float32 tensor: what the CPU kernels pass between layers.

/// `n` images of `h`×`w` pixels with `c` channels, channels innermost.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Tensor {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Tensor {
    /// Wraps `data`, which must hold `n·h·w·c` values.
    pub fn from_vec(n: usize, h: usize, w: usize, c: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(data.len(), n * h * w * c);
        Tensor { n, h, w, c, data }
    }

    /// Gives the tensor a new shape, keeping its allocation: the values are whatever was there before, so the
    /// caller writes every element.
    pub fn reshape(&mut self, n: usize, h: usize, w: usize, c: usize) {
        (self.n, self.h, self.w, self.c) = (n, h, w, c);
        self.data.resize(n * h * w * c, 0.0);
    }

    /// Floats in one row of one image.
    pub fn row_len(&self) -> usize {
        self.w * self.c
    }
}
