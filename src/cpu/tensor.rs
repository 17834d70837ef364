//! A plain NHWC float32 tensor: what the CPU kernels pass between layers.

use crate::pipeline::workspace::first_n;

/// `n` images of `h`×`w` pixels with `c` channels, channels innermost.
///
/// The storage only grows: a smaller shape keeps the values past its end, so that a tensor that alternates
/// between shapes (the layers' ping-pong activations) never refills memory it already had.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tensor {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    storage: Vec<f32>,
}

impl Tensor {
    /// Wraps `data`, which must hold `n·h·w·c` values.
    pub fn from_vec(n: usize, h: usize, w: usize, c: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(data.len(), n * h * w * c);
        Tensor {
            n,
            h,
            w,
            c,
            storage: data,
        }
    }

    /// Gives the tensor a new shape, keeping its allocation: the values are whatever was there before, so the
    /// caller writes every element.
    pub fn reshape(&mut self, n: usize, h: usize, w: usize, c: usize) {
        (self.n, self.h, self.w, self.c) = (n, h, w, c);
        let len = self.len();
        first_n(&mut self.storage, len);
    }

    fn len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }

    /// The `n·h·w·c` values.
    pub fn data(&self) -> &[f32] {
        &self.storage[..self.len()]
    }

    /// The `n·h·w·c` values, to write.
    pub fn data_mut(&mut self) -> &mut [f32] {
        let len = self.len();
        &mut self.storage[..len]
    }
}

/// One sample of an image as the resize and the crops read it.
pub(crate) trait Sample: Copy + Send + Sync {
    /// What one unit of [`Sample::units`] is worth: 1/128 for a byte, 1 for a float. A power of two, so that a
    /// sum of products of units, multiplied by it once at the end, has the same bits as the sum of the values'
    /// products (every rounding scales with it exactly).
    const UNIT: f32;

    /// The normalised value the networks see.
    fn value(self) -> f32;

    /// [`Sample::value`] in units of [`Sample::UNIT`] (exactly `value / UNIT`): for a byte `v − 127.5`, one
    /// multiplication fewer than the value.
    fn units(self) -> f32;

    /// [`Sample::value`] for scalar code, one sample at a time: for a byte, a table lookup instead of a
    /// conversion, a subtraction and a multiplication. (Vector code should convert: a table would be a gather.)
    #[inline(always)]
    fn looked_up(self) -> f32 {
        self.value()
    }
}

impl Sample for f32 {
    const UNIT: f32 = 1.0;

    /// Already normalised.
    #[inline(always)]
    fn value(self) -> f32 {
        self
    }

    #[inline(always)]
    fn units(self) -> f32 {
        self
    }
}

impl Sample for u8 {
    const UNIT: f32 = 1.0 / 128.0;

    /// A pixel byte reads as the package's normalised value `(v − 127.5) / 128` (exact in f32), so that the image
    /// is never converted as a whole: no float copy of a 4K frame (100 MB) and no pass over it.
    #[inline(always)]
    fn value(self) -> f32 {
        self.units() / 128.0
    }

    #[inline(always)]
    fn units(self) -> f32 {
        f32::from(self) - 127.5
    }

    #[inline(always)]
    fn looked_up(self) -> f32 {
        NORMALISED[usize::from(self)]
    }
}

/// `(v − 127.5) / 128` for every byte `v`, the same values as [`Sample::value`] computes.
static NORMALISED: [f32; 256] = {
    let mut values = [0.0; 256];
    let mut v = 0;
    while v < 256 {
        values[v] = (v as f32 - 127.5) / 128.0;
        v += 1;
    }
    values
};

/// A borrowed HWC image of samples: an 8-bit image, or a float tensor's first image.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plane<'a, S> {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: &'a [S],
}

#[cfg(test)]
impl Tensor {
    /// A tensor of reproducible values in [−1, 1), for the kernels' tests.
    pub fn patterned(n: usize, h: usize, w: usize, c: usize) -> Self {
        Tensor::from_vec(n, h, w, c, patterned_values(n * h * w * c))
    }

    /// The first image, as a plane.
    pub fn plane(&self) -> Plane<'_, f32> {
        Plane {
            h: self.h,
            w: self.w,
            c: self.c,
            data: &self.data()[..self.h * self.w * self.c],
        }
    }
}

impl<'a> From<crate::backend::ImageView<'a>> for Plane<'a, u8> {
    fn from(image: crate::backend::ImageView<'a>) -> Self {
        Plane {
            h: image.height as usize,
            w: image.width as usize,
            c: 3,
            data: image.rgb,
        }
    }
}

/// `len` reproducible values in [−1, 1), for the kernels' tests.
#[cfg(test)]
pub(crate) fn patterned_values(len: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0).collect()
}

/// The bit patterns of `values`, for the tests that two kernels give the same bits.
#[cfg(test)]
pub(crate) fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_looks_up_its_computed_value() {
        for v in 0..=255u8 {
            assert_eq!(v.looked_up().to_bits(), v.value().to_bits(), "{v}");
        }
    }
}
