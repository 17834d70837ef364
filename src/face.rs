//! The detector's output type and its JSON form, which is exactly what the Python package `mtcnn` prints.

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use serde::{Deserialize, Deserializer};

/// A point in image pixels (x to the right, y down; pixel centres at integer coordinates).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    /// Column.
    pub x: f32,
    /// Row.
    pub y: f32,
}

/// An axis-aligned box in image pixels: the top-left corner and the size.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BoundingBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width (right edge − left edge).
    pub width: f32,
    /// Height (bottom edge − top edge).
    pub height: f32,
}

impl BoundingBox {
    /// Right edge, `x + width`.
    pub fn right(&self) -> f32 {
        self.x + self.width
    }
    /// Bottom edge, `y + height`.
    pub fn bottom(&self) -> f32 {
        self.y + self.height
    }

    /// Area, `width × height`; 0 for a box with no extent.
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union with `other`, in [0, 1]: the usual measure for matching a detection to a label or
    /// to the previous frame's face. Plain geometry, areas without `+ 1`, as the package's NMS computes them (in
    /// float32 here, on the rounded-to-f32 box; the NMS works in float64 on the unclamped corners). 0 when the
    /// boxes don't overlap or have no area.
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let w = (self.right().min(other.right()) - self.x.max(other.x)).max(0.0);
        let h = (self.bottom().min(other.bottom()) - self.y.max(other.y)).max(0.0);
        let intersection = w * h;
        let union = self.area() + other.area() - intersection;
        if union > 0.0 {
            intersection / union
        } else {
            0.0
        }
    }
}

/// The five facial landmarks. "Left" and "right" are as seen in the image, not from the person's point of view.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Keypoints {
    /// The eye on the image's left.
    pub left_eye: Point,
    /// The eye on the image's right.
    pub right_eye: Point,
    /// The tip of the nose.
    pub nose: Point,
    /// The mouth corner on the image's left.
    pub mouth_left: Point,
    /// The mouth corner on the image's right.
    pub mouth_right: Point,
}

impl Keypoints {
    /// The JSON keys, in the order the Python package prints them.
    pub const NAMES: [&'static str; 5] = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"];

    /// The points in the order of [`Keypoints::NAMES`].
    pub fn to_array(&self) -> [Point; 5] {
        [
            self.left_eye,
            self.right_eye,
            self.nose,
            self.mouth_left,
            self.mouth_right,
        ]
    }
}

/// One detected face.
///
/// `Serialize` writes the Python package's JSON, with the box and keypoints rounded to integers (half to even, as
/// numpy rounds): `{"box": [x, y, w, h], "confidence": c, "keypoints": {"left_eye": [x, y], ...}}`. For the
/// unrounded floats in the same shape, serialize [`Face::unrounded`]. `Deserialize` reads that shape back, with
/// integers or floats (the Python package's output, `mtcnn detect` and `--raw`); unrounded JSON comes back bit for
/// bit, and `keypoints` may be absent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Face {
    /// The face box. With `fit_to_image` (the default) it is clamped to the image.
    pub bbox: BoundingBox,
    /// The last stage's face probability, in [0, 1].
    pub confidence: f32,
    /// The five landmarks; `None` when only the face stages ran ([`crate::Stages::FacesOnly`]).
    pub keypoints: Option<Keypoints>,
}

impl Face {
    /// A view of this face that serializes with unrounded floats (the CLI's `--raw`).
    pub fn unrounded(&self) -> Unrounded<'_> {
        Unrounded(self)
    }
}

/// Serializes a [`Face`] in the Python package's shape, with floats instead of rounded integers.
#[derive(Clone, Copy, Debug)]
pub struct Unrounded<'a>(pub &'a Face);

fn serialize_face<S: Serializer, T: Serialize>(
    face: &Face,
    serializer: S,
    number: impl Fn(f32) -> T,
) -> Result<S::Ok, S::Error> {
    let b = &face.bbox;
    let fields = if face.keypoints.is_some() { 3 } else { 2 };
    let mut s = serializer.serialize_struct("Face", fields)?;
    s.serialize_field("box", &[number(b.x), number(b.y), number(b.width), number(b.height)])?;
    // The package prints float(np.float32): the f32 widened to f64, whose shortest form has up to 17 digits.
    s.serialize_field("confidence", &f64::from(face.confidence))?;
    if let Some(k) = &face.keypoints {
        s.serialize_field("keypoints", &KeypointMap(k, &number))?;
    }
    s.end()
}

struct KeypointMap<'a, F>(&'a Keypoints, &'a F);

impl<F: Fn(f32) -> T, T: Serialize> Serialize for KeypointMap<'_, F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(Some(5))?;
        for (name, p) in Keypoints::NAMES.iter().zip(self.0.to_array()) {
            m.serialize_entry(name, &[(self.1)(p.x), (self.1)(p.y)])?;
        }
        m.end()
    }
}

/// numpy's `np.round`: to the nearest integer, ties to even.
fn round_half_even(v: f32) -> i64 {
    v.round_ties_even() as i64
}

impl Serialize for Face {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_face(self, serializer, round_half_even)
    }
}

impl Serialize for Unrounded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_face(self.0, serializer, f64::from)
    }
}

/// The JSON shape, for reading; numbers may be integers or floats.
#[derive(Deserialize)]
#[serde(rename = "Face")]
struct FaceJson {
    #[serde(rename = "box")]
    bbox: [f64; 4],
    confidence: f64,
    #[serde(default)]
    keypoints: Option<KeypointsJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeypointsJson {
    left_eye: [f64; 2],
    right_eye: [f64; 2],
    nose: [f64; 2],
    mouth_left: [f64; 2],
    mouth_right: [f64; 2],
}

impl<'de> Deserialize<'de> for Face {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through f64, as written: a float32 widened to float64 and printed shortest comes back exactly.
        let json = FaceJson::deserialize(deserializer)?;
        let [x, y, width, height] = json.bbox.map(|v| v as f32);
        let point = |[x, y]: [f64; 2]| Point {
            x: x as f32,
            y: y as f32,
        };
        Ok(Face {
            bbox: BoundingBox { x, y, width, height },
            confidence: json.confidence as f32,
            keypoints: json.keypoints.map(|k| Keypoints {
                left_eye: point(k.left_eye),
                right_eye: point(k.right_eye),
                nose: point(k.nose),
                mouth_left: point(k.mouth_left),
                mouth_right: point(k.mouth_right),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(keypoints: bool) -> Face {
        let p = |x, y| Point { x, y };
        Face {
            bbox: BoundingBox {
                x: 277.5,
                y: 88.6,
                width: 48.5,
                height: 66.2,
            },
            confidence: 0.99715066,
            keypoints: keypoints.then(|| Keypoints {
                left_eye: p(290.7, 115.99),
                right_eye: p(313.9, 113.4),
                nose: p(303.6, 130.7),
                mouth_left: p(296.0, 142.5),
                mouth_right: p(313.3, 140.5),
            }),
        }
    }

    #[test]
    fn json_has_the_python_shape_with_half_even_rounding() {
        let json = serde_json::to_string(&face(true)).unwrap();
        assert_eq!(
            json,
            r#"{"box":[278,89,48,66],"confidence":0.9971506595611572,"keypoints":{"left_eye":[291,116],"right_eye":[314,113],"nose":[304,131],"mouth_left":[296,142],"mouth_right":[313,140]}}"#
        );
    }

    #[test]
    fn faces_only_omit_keypoints_and_unrounded_keeps_floats() {
        let f = face(false);
        let json = serde_json::to_value(f.unrounded()).unwrap();
        assert_eq!(json["box"][0].as_f64(), Some(277.5));
        assert_eq!(json["box"][1].as_f64(), Some(f64::from(88.6f32)));
        assert!(json.get("keypoints").is_none());
    }

    #[test]
    fn json_reads_back_unrounded_exactly_and_rounded_as_integers() {
        for keypoints in [true, false] {
            let f = face(keypoints);
            let raw = serde_json::to_string(&f.unrounded()).unwrap();
            assert_eq!(serde_json::from_str::<Face>(&raw).unwrap(), f, "{raw}");
        }
        let rounded: Face = serde_json::from_str(&serde_json::to_string(&face(true)).unwrap()).unwrap();
        assert_eq!(
            (rounded.bbox, rounded.confidence),
            (
                BoundingBox {
                    x: 278.0,
                    y: 89.0,
                    width: 48.0,
                    height: 66.0
                },
                0.99715066
            )
        );
        assert_eq!(rounded.keypoints.unwrap().left_eye, Point { x: 291.0, y: 116.0 });
        // Wrong shapes are errors that say what is wrong.
        let short = serde_json::from_str::<Face>(r#"{"box":[1,2,3],"confidence":0.9}"#).unwrap_err();
        assert!(short.to_string().contains("array of length 4"), "{short}");
        let missing = serde_json::from_str::<Face>(r#"{"box":[1,2,3,4]}"#).unwrap_err();
        assert!(missing.to_string().contains("confidence"), "{missing}");
        let typo = r#"{"box":[1,2,3,4],"confidence":0.9,"keypoints":{"left_eye":[1,2],"right_eye":[1,2],"nose":[1,2],"mouth_left":[1,2],"mouth_rigth":[1,2]}}"#;
        assert!(serde_json::from_str::<Face>(typo)
            .unwrap_err()
            .to_string()
            .contains("mouth_rigth"));
    }

    #[test]
    fn iou_of_boxes() {
        let b = |x, y, width, height| BoundingBox { x, y, width, height };
        let a = b(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&b(5.0, 0.0, 10.0, 10.0)), 50.0 / 150.0);
        assert_eq!(a.iou(&b(2.0, 2.0, 4.0, 4.0)), 16.0 / 100.0);
        assert_eq!(a.iou(&b(10.0, 0.0, 5.0, 5.0)), 0.0, "touching edges");
        assert_eq!(a.iou(&b(20.0, 20.0, 5.0, 5.0)), 0.0);
        assert_eq!(b(3.0, 3.0, 0.0, 0.0).iou(&b(3.0, 3.0, 0.0, 0.0)), 0.0, "no area");
        assert_eq!(b(0.0, 0.0, -4.0, 5.0).area(), 0.0);
    }
}
