//! `--draw`: the picture with each face's box, confidence and five keypoints, like the result pictures in the
//! Python package's README.

use image::{Rgb, RgbImage};
use mtcnn_wgpu::Face;

use crate::font;

const BOX: Rgb<u8> = Rgb([0, 255, 0]);
const POINT: Rgb<u8> = Rgb([255, 40, 40]);
const LABEL_BG: Rgb<u8> = Rgb([0, 0, 0]);

fn put(img: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>) {
    if x >= 0 && y >= 0 && x < i64::from(img.width()) && y < i64::from(img.height()) {
        img.put_pixel(x as u32, y as u32, color);
    }
}

fn rectangle(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, thickness: i64, color: Rgb<u8>) {
    for t in 0..thickness {
        for x in x0..=x1 {
            put(img, x, y0 + t, color);
            put(img, x, y1 - t, color);
        }
        for y in y0..=y1 {
            put(img, x0 + t, y, color);
            put(img, x1 - t, y, color);
        }
    }
}

fn disc(img: &mut RgbImage, cx: i64, cy: i64, r: i64, color: Rgb<u8>) {
    for dy in -r..=r {
        for dx in -r..=r {
            if dx * dx + dy * dy <= r * r {
                put(img, cx + dx, cy + dy, color);
            }
        }
    }
}

/// Draws every face onto `img`. Line widths and text size follow the image size.
pub fn faces(img: &mut RgbImage, faces: &[Face]) {
    let size = img.width().max(img.height());
    let thickness = i64::from((size / 400).max(1));
    let scale = (size / 300).clamp(1, 6);
    for face in faces {
        let b = &face.bbox;
        let (x0, y0) = (b.x.round() as i64, b.y.round() as i64);
        let (x1, y1) = (b.right().round() as i64, b.bottom().round() as i64);
        rectangle(img, x0, y0, x1, y1, thickness, BOX);

        let label = format!("{:.3}", face.confidence);
        let (w, h) = (
            label.len() as u32 * font::ADVANCE * scale + scale,
            (font::HEIGHT + 2) * scale,
        );
        let ty = if y0 >= i64::from(h) { y0 - i64::from(h) } else { y1 + 1 };
        for dy in 0..h {
            for dx in 0..w {
                put(img, x0 + i64::from(dx), ty + i64::from(dy), LABEL_BG);
            }
        }
        for (dx, dy) in font::pixels(&label, scale) {
            put(img, x0 + i64::from(dx + scale), ty + i64::from(dy + scale), BOX);
        }

        if let Some(k) = &face.keypoints {
            for p in k.to_array() {
                disc(img, p.x.round() as i64, p.y.round() as i64, thickness + 1, POINT);
            }
        }
    }
}
