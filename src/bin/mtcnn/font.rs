//! A 3×5 bitmap font for the confidence labels: digits and the decimal point are all a label needs, and a font
//! file would be a second license to ship.

/// Rows of a glyph, top to bottom; bit 2 is the left column.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b001, 0b001, 0b001],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        _ => return None,
    })
}

/// Glyph width plus spacing, in font pixels.
pub const ADVANCE: u32 = 4;
/// Glyph height, in font pixels.
pub const HEIGHT: u32 = 5;

/// The font pixels of `text` at `scale` screen pixels a font pixel, as (x, y) offsets from the top-left corner.
pub fn pixels(text: &str, scale: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
    text.chars()
        .enumerate()
        .filter_map(move |(i, c)| Some((i as u32, glyph(c)?)))
        .flat_map(move |(i, rows)| {
            (0..HEIGHT).flat_map(move |row| {
                (0..3u32)
                    .filter(move |col| rows[row as usize] & (0b100 >> col) != 0)
                    .flat_map(move |col| {
                        let (x0, y0) = ((i * ADVANCE + col) * scale, row * scale);
                        (0..scale).flat_map(move |dy| (0..scale).map(move |dx| (x0 + dx, y0 + dy)))
                    })
            })
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_has_eight_font_pixels() {
        assert_eq!(super::pixels("1", 1).count(), 8);
        assert_eq!(super::pixels("1", 2).count(), 32);
        assert_eq!(super::pixels("x", 1).count(), 0);
    }
}
