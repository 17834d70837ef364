//! An image regrouped for the AREA resize's row pass: blocks of [`ROWS`] rows, stored column by column, so that
//! one load gives one channel of one column for all the rows of a block, ready for a vector of `ROWS` lanes.
//!
//! The row pass reads the whole image once per pyramid level (12 levels at 1920×1080). Regrouping the image once
//! per frame, in its own 8-bit samples, replaces the transposition that each level used to do on its own.

use multiversion::multiversion;
use rayon::prelude::*;

use super::tensor::Plane;
use crate::pipeline::workspace::first_n;

/// Rows per block: one AVX vector of float32.
pub(crate) const ROWS: usize = 8;

/// The full blocks of [`ROWS`] rows of an image (the last `h % ROWS` rows are left out), kept between frames so
/// that regrouping a stream of same-size frames allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct RowBlocks<S> {
    /// Samples a row (`w · c`): the columns a block.
    row_len: usize,
    blocks: usize,
    columns: Vec<[S; ROWS]>,
}

impl<S: Copy + Default + Send + Sync> RowBlocks<S> {
    /// Regroups `image`, replacing what was held, across the rayon pool.
    pub fn fill(&mut self, image: Plane<'_, S>) {
        self.row_len = image.w * image.c;
        self.blocks = image.h / ROWS;
        let columns = first_n(&mut self.columns, self.blocks * self.row_len);
        if self.row_len == 0 {
            return;
        }
        columns
            .par_chunks_mut(self.row_len)
            .zip(image.data.par_chunks(ROWS * self.row_len))
            .for_each(|(block, rows)| interleave_rows(rows, block, |v| v));
    }
}

impl<S> RowBlocks<S> {
    /// How many full blocks the image has.
    pub fn len(&self) -> usize {
        self.blocks
    }

    /// Block `b`: rows `b·ROWS ..`, one `[S; ROWS]` a column and channel.
    pub fn block(&self, b: usize) -> &[[S; ROWS]] {
        &self.columns[b * self.row_len..][..self.row_len]
    }
}

/// Writes `ROWS` consecutive rows of `rows` (each `columns.len()` samples long) column by column into `columns`,
/// each sample through `convert`. Compiled for AVX2 too (its callers are closures, compiled for the baseline).
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub(crate) fn interleave_rows<S: Copy, T, F: Fn(S) -> T>(rows: &[S], columns: &mut [[T; ROWS]], convert: F) {
    let row_len = columns.len();
    let rows: [&[S]; ROWS] = std::array::from_fn(|r| &rows[r * row_len..][..row_len]);
    for (x, column) in columns.iter_mut().enumerate() {
        for (value, row) in column.iter_mut().zip(&rows) {
            *value = convert(row[x]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_block_holds_its_rows_column_by_column_and_the_ragged_rows_are_left_out() {
        let (h, w, c) = (19, 5, 3);
        let pixels: Vec<u8> = (0..h * w * c).map(|i| (i * 7 % 251) as u8).collect();
        let mut blocks = RowBlocks::default();
        blocks.fill(Plane { h, w, c, data: &pixels });
        assert_eq!(blocks.len(), 2);
        for b in 0..2 {
            for (j, column) in blocks.block(b).iter().enumerate() {
                for (r, &v) in column.iter().enumerate() {
                    assert_eq!(v, pixels[(b * ROWS + r) * w * c + j], "block {b} column {j} row {r}");
                }
            }
        }
        // A smaller frame reuses the buffer and sees only its own rows.
        blocks.fill(Plane {
            h: 9,
            w: 2,
            c,
            data: &pixels[..9 * 2 * c],
        });
        assert_eq!((blocks.len(), blocks.block(0).len()), (1, 6));
        assert_eq!(blocks.block(0)[5][7], pixels[7 * 6 + 5]);
    }
}
