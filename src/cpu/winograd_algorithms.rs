//! The Winograd algorithms the CPU's 3×3 convolutions run by (`winograd.rs`), F(2×2, 3×3), F(3×3, 3×3) and
//! F(4×4, 3×3): their kernel transforms and their one-dimensional input and output transforms, on a few channels
//! at a time.

/// One Winograd algorithm F(M×M, 3×3) on patches of N = M + 2: its kernel transform `G` and its one-dimensional
/// input and output transforms `Bᵀ` and `Aᵀ`, which run on each column of a tile and then on each row of the
/// result.
pub(super) trait Algorithm<const N: usize, const M: usize> {
    const G: [[f64; 3]; N];
    /// `Bᵀ·d` for one line of a patch, L channels at a time.
    fn input<const L: usize>(d: [[f32; L]; N]) -> [[f32; L]; N];
    /// `Aᵀ·m` for one line of a tile's products.
    fn output<const L: usize>(m: [[f32; L]; N]) -> [[f32; L]; M];

    /// `Aᵀ·m·A` of one tile's products, L channels of each: `Aᵀ` on each column (position (i, j) at
    /// `m[first + (i·N + j)·position ..]`), then on each row of the result. Returns the M×M outputs, by row.
    #[inline(always)]
    fn output_tile<const L: usize>(m: &[f32], first: usize, position: usize) -> [[[f32; L]; M]; M] {
        let mut columns = [[[0.0f32; L]; M]; N];
        for (j, column) in columns.iter_mut().enumerate() {
            let mut line = [[0.0f32; L]; N];
            for (i, value) in line.iter_mut().enumerate() {
                *value = lanes::<L>(m, first + (i * N + j) * position);
            }
            *column = Self::output(line);
        }
        let mut rows = [[[0.0f32; L]; M]; M];
        for (k, row) in rows.iter_mut().enumerate() {
            let mut line = [[0.0f32; L]; N];
            for (value, column) in line.iter_mut().zip(&columns) {
                *value = column[k];
            }
            *row = Self::output(line);
        }
        rows
    }
}

/// F(2×2, 3×3) on the points 0, 1, −1 and ∞.
pub(super) struct F2;

impl Algorithm<4, 2> for F2 {
    const G: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];

    /// Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
    #[inline(always)]
    fn input<const L: usize>([d0, d1, d2, d3]: [[f32; L]; 4]) -> [[f32; L]; 4] {
        [sub(d0, d2), add(d1, d2), sub(d2, d1), sub(d1, d3)]
    }

    /// Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]].
    #[inline(always)]
    fn output<const L: usize>([m0, m1, m2, m3]: [[f32; L]; 4]) -> [[f32; L]; 2] {
        [add(add(m0, m1), m2), sub(sub(m1, m2), m3)]
    }

    /// The same sums as the generic version, written out value by value: with arrays of the columns, LLVM split
    /// the vectors into 4-, 2- and 1-lane pieces and spilled them (R-Net ran 4 % slower).
    #[inline(always)]
    fn output_tile<const L: usize>(m: &[f32], first: usize, position: usize) -> [[[f32; L]; 2]; 2] {
        // Column j's top and bottom values. (No closures here: LLVM left them out of line, without AVX2.)
        let [t0, b0] = F2::output(f2_column(m, first, position));
        let [t1, b1] = F2::output(f2_column(m, first + position, position));
        let [t2, b2] = F2::output(f2_column(m, first + 2 * position, position));
        let [t3, b3] = F2::output(f2_column(m, first + 3 * position, position));
        [F2::output([t0, t1, t2, t3]), F2::output([b0, b1, b2, b3])]
    }
}

/// The four products of one column of an F(2×2) tile, the first at `m[at..]` and the others 4 positions apart.
#[inline(always)]
fn f2_column<const L: usize>(m: &[f32], at: usize, position: usize) -> [[f32; L]; 4] {
    let row = 4 * position;
    [
        lanes(m, at),
        lanes(m, at + row),
        lanes(m, at + 2 * row),
        lanes(m, at + 3 * row),
    ]
}

/// F(3×3, 3×3) on the points 0, 1, −1, 2 and ∞ (Cook–Toom; `Bᵀ` solved from `Aᵀ` and `G`).
pub(super) struct F3;

impl Algorithm<5, 3> for F3 {
    const G: [[f64; 3]; 5] = [
        [0.5, 0.0, 0.0],
        [-0.5, -0.5, -0.5],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 6.0, 1.0 / 3.0, 2.0 / 3.0],
        [0.0, 0.0, 1.0],
    ];

    /// Bᵀ = [[2, −1, −2, 1, 0], [0, −2, −1, 1, 0], [0, 2, −3, 1, 0], [0, −1, 0, 1, 0], [0, 2, −1, −2, 1]], as
    /// sums of shared differences.
    #[inline(always)]
    fn input<const L: usize>([d0, d1, d2, d3, d4]: [[f32; L]; 5]) -> [[f32; L]; 5] {
        let (a, b) = (sub(d3, d2), sub(d3, d1));
        [
            add(scale(sub(d0, d2), 2.0), b),
            sub(a, scale(d1, 2.0)),
            add(a, scale(sub(d1, d2), 2.0)),
            b,
            sub(sub(d4, d2), scale(b, 2.0)),
        ]
    }

    /// Aᵀ = [[1, 1, 1, 1, 0], [0, 1, −1, 2, 0], [0, 1, 1, 4, 1]].
    #[inline(always)]
    fn output<const L: usize>([m0, m1, m2, m3, m4]: [[f32; L]; 5]) -> [[f32; L]; 3] {
        let (a, b) = (add(m1, m2), sub(m1, m2));
        [
            add(add(m0, a), m3),
            add(b, scale(m3, 2.0)),
            add(add(a, scale(m3, 4.0)), m4),
        ]
    }
}

/// F(4×4, 3×3) on the points 0, ±1, ±2 and ∞ (Lavin and Gray's matrices).
pub(super) struct F4;

impl Algorithm<6, 4> for F4 {
    const G: [[f64; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];

    /// Bᵀ = [[4, 0, −5, 0, 1, 0], [0, −4, −4, 1, 1, 0], [0, 4, −4, −1, 1, 0], [0, −2, −1, 2, 1, 0],
    /// [0, 2, −1, −2, 1, 0], [0, 4, 0, −5, 0, 1]], rows 1–4 as sums and differences of shared terms.
    #[inline(always)]
    fn input<const L: usize>([d0, d1, d2, d3, d4, d5]: [[f32; L]; 6]) -> [[f32; L]; 6] {
        let (a, b) = (sub(d4, scale(d2, 4.0)), sub(d3, scale(d1, 4.0)));
        let (c, e) = (sub(d4, d2), scale(sub(d3, d1), 2.0));
        [
            add(sub(scale(d0, 4.0), scale(d2, 5.0)), d4),
            add(a, b),
            sub(a, b),
            add(c, e),
            sub(c, e),
            add(sub(scale(d1, 4.0), scale(d3, 5.0)), d5),
        ]
    }

    /// Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, 2, −2, 0], [0, 1, 1, 4, 4, 0], [0, 1, −1, 8, −8, 1]].
    #[inline(always)]
    fn output<const L: usize>([m0, m1, m2, m3, m4, m5]: [[f32; L]; 6]) -> [[f32; L]; 4] {
        let (a, b, c, e) = (add(m1, m2), sub(m1, m2), add(m3, m4), sub(m3, m4));
        [
            add(add(m0, a), c),
            add(b, scale(e, 2.0)),
            add(a, scale(c, 4.0)),
            add(add(b, scale(e, 8.0)), m5),
        ]
    }
}

/// `values[at .. at + L]` as an array: one bounds check, then a plain vector load (a fallback for a short slice
/// compiled to a conditional move of the address and spills around it).
#[inline(always)]
pub(super) fn lanes<const L: usize>(values: &[f32], at: usize) -> [f32; L] {
    // Of exactly L values: the conversion cannot fail, and the fallback is compiled away.
    values[at..at + L].try_into().unwrap_or([0.0; L])
}

/// `a + b`, lane by lane (a plain loop: `array::from_fn`'s closures were not inlined into the AVX2 clone).
#[inline(always)]
fn add<const L: usize>(mut a: [f32; L], b: [f32; L]) -> [f32; L] {
    for (a, b) in a.iter_mut().zip(b) {
        *a += b;
    }
    a
}

/// `a − b`, lane by lane.
#[inline(always)]
fn sub<const L: usize>(mut a: [f32; L], b: [f32; L]) -> [f32; L] {
    for (a, b) in a.iter_mut().zip(b) {
        *a -= b;
    }
    a
}

/// `k·a`, lane by lane.
#[inline(always)]
fn scale<const L: usize>(mut a: [f32; L], k: f32) -> [f32; L] {
    for a in a.iter_mut() {
        *a *= k;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line of the algorithm, `Aᵀ·((G·g) ⊙ (Bᵀ·d))`, against the direct 1-D correlation of `d` with `g`.
    fn check_line<A: Algorithm<N, M>, const N: usize, const M: usize>() {
        let d: [f32; N] = std::array::from_fn(|i| [0.5, -1.25, 2.0, 0.75, -0.5, 1.5][i]);
        let g = [0.25f64, -1.5, 0.625];
        let u = A::G.map(|row| row.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>() as f32);
        let v = A::input(d.map(|x| [x]));
        let products: [[f32; 1]; N] = std::array::from_fn(|i| [u[i] * v[i][0]]);
        for (k, [y]) in A::output(products).into_iter().enumerate() {
            let want: f64 = (0..3).map(|t| f64::from(d[k + t]) * g[t]).sum();
            assert!((f64::from(y) - want).abs() < 1e-5, "output {k}: {y} vs {want}");
        }
    }

    #[test]
    fn each_line_transform_computes_the_correlation() {
        check_line::<F2, 4, 2>();
        check_line::<F3, 5, 3>();
        check_line::<F4, 6, 4>();
    }
}
