//! The networks' weights: the embedded default, loading from a safetensors file, and the name, dtype, shape and
//! value checks that turn a wrong file into an error naming the tensor.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// The weights of `mtcnn` 1.0.0, converted by `weights/convert.py` (see `weights/README.md`).
static EMBEDDED: &[u8] = include_bytes!("../weights/mtcnn.safetensors");

/// Every tensor the three networks use, with its shape, in the Python package's (Keras) layouts: conv kernels
/// HWIO, dense kernels [in, out], PReLU alphas `[1, 1, C]` after a conv and `[C]` after a dense layer.
pub(crate) const TENSORS: &[(&str, &[usize])] = &[
    ("pnet.conv1.weight", &[3, 3, 3, 10]),
    ("pnet.conv1.bias", &[10]),
    ("pnet.prelu1.alpha", &[1, 1, 10]),
    ("pnet.conv2.weight", &[3, 3, 10, 16]),
    ("pnet.conv2.bias", &[16]),
    ("pnet.prelu2.alpha", &[1, 1, 16]),
    ("pnet.conv3.weight", &[3, 3, 16, 32]),
    ("pnet.conv3.bias", &[32]),
    ("pnet.prelu3.alpha", &[1, 1, 32]),
    ("pnet.conv4_1.weight", &[1, 1, 32, 4]),
    ("pnet.conv4_1.bias", &[4]),
    ("pnet.conv4_2.weight", &[1, 1, 32, 2]),
    ("pnet.conv4_2.bias", &[2]),
    ("rnet.conv1.weight", &[3, 3, 3, 28]),
    ("rnet.conv1.bias", &[28]),
    ("rnet.prelu1.alpha", &[1, 1, 28]),
    ("rnet.conv2.weight", &[3, 3, 28, 48]),
    ("rnet.conv2.bias", &[48]),
    ("rnet.prelu2.alpha", &[1, 1, 48]),
    ("rnet.conv3.weight", &[2, 2, 48, 64]),
    ("rnet.conv3.bias", &[64]),
    ("rnet.prelu3.alpha", &[1, 1, 64]),
    ("rnet.fc4.weight", &[576, 128]),
    ("rnet.fc4.bias", &[128]),
    ("rnet.prelu4.alpha", &[128]),
    ("rnet.fc5_1.weight", &[128, 4]),
    ("rnet.fc5_1.bias", &[4]),
    ("rnet.fc5_2.weight", &[128, 2]),
    ("rnet.fc5_2.bias", &[2]),
    ("onet.conv1.weight", &[3, 3, 3, 32]),
    ("onet.conv1.bias", &[32]),
    ("onet.prelu1.alpha", &[1, 1, 32]),
    ("onet.conv2.weight", &[3, 3, 32, 64]),
    ("onet.conv2.bias", &[64]),
    ("onet.prelu2.alpha", &[1, 1, 64]),
    ("onet.conv3.weight", &[3, 3, 64, 64]),
    ("onet.conv3.bias", &[64]),
    ("onet.prelu3.alpha", &[1, 1, 64]),
    ("onet.conv4.weight", &[2, 2, 64, 128]),
    ("onet.conv4.bias", &[128]),
    ("onet.prelu4.alpha", &[1, 1, 128]),
    ("onet.fc5.weight", &[1152, 256]),
    ("onet.fc5.bias", &[256]),
    ("onet.prelu5.alpha", &[256]),
    ("onet.fc6_1.weight", &[256, 4]),
    ("onet.fc6_1.bias", &[4]),
    ("onet.fc6_2.weight", &[256, 10]),
    ("onet.fc6_2.bias", &[10]),
    ("onet.fc6_3.weight", &[256, 2]),
    ("onet.fc6_3.bias", &[2]),
];

/// The checked weights of P-Net, R-Net and O-Net, as float32 arrays in the layouts listed in `weights/README.md`.
///
/// [`Weights::embedded`] gives the default; [`Weights::from_file`] and [`Weights::from_bytes`] load another
/// safetensors file with the same tensor names and shapes.
#[derive(Clone, Debug)]
pub struct Weights {
    tensors: HashMap<&'static str, Vec<f32>>,
}

impl Weights {
    /// The weights embedded in the crate: those of the Python package `mtcnn` 1.0.0.
    pub fn embedded() -> Result<Self> {
        Self::from_bytes(EMBEDDED)
    }

    /// Reads and checks a safetensors file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::WeightsIo {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parses and checks safetensors bytes: every tensor of the three networks must be present, float32, of the
    /// right shape and finite, and no other tensor may be present.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| describe_format_error(bytes, e))?;
        let mut tensors = HashMap::with_capacity(TENSORS.len());
        for &(name, shape) in TENSORS {
            let view = file.tensor(name).map_err(|_| Error::MissingTensor {
                name: name.to_string(),
                expected: shape.to_vec(),
            })?;
            if view.dtype() != Dtype::F32 {
                return Err(Error::TensorContent {
                    name: name.to_string(),
                    problem: format!("dtype is {:?}, expected F32", view.dtype()),
                });
            }
            if view.shape() != shape {
                return Err(Error::TensorShape {
                    name: name.to_string(),
                    expected: shape.to_vec(),
                    found: view.shape().to_vec(),
                });
            }
            // Little-endian bytes to f32 one by one: the buffer need not be 4-byte aligned.
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(Error::TensorContent {
                    name: name.to_string(),
                    problem: format!("value {} at flat index {i} is not finite", values[i]),
                });
            }
            tensors.insert(name, values);
        }
        if let Some(extra) = file.names().into_iter().find(|n| !tensors.contains_key(n.as_str())) {
            return Err(Error::TensorContent {
                name: extra.clone(),
                problem: "is not a tensor of P-Net, R-Net or O-Net (is this an MTCNN weights file?)".into(),
            });
        }
        Ok(Weights { tensors })
    }

    /// The values of one tensor, by its name in `weights/README.md`.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.tensors.get(name).map(Vec::as_slice)
    }

    /// Like [`Weights::get`], for names that the checks in [`Weights::from_bytes`] guarantee.
    pub(crate) fn tensor(&self, name: &str) -> &[f32] {
        self.get(name).unwrap_or(&[])
    }
}

/// Turns safetensors' error into a message that says what is wrong and, for a truncated file, which tensor is cut.
fn describe_format_error(bytes: &[u8], error: safetensors::SafeTensorError) -> Error {
    use safetensors::SafeTensorError as E;
    if let E::MetadataIncompleteBuffer = error {
        if let Some(msg) = truncated_tensor(bytes) {
            return Error::WeightsFormat(msg);
        }
    }
    let what = match error {
        E::HeaderTooSmall | E::InvalidHeaderLength => "the file is shorter than its header (truncated?)".to_string(),
        E::InvalidHeader | E::InvalidHeaderDeserialization | E::InvalidHeaderStart => {
            "the header is not valid safetensors JSON (is this a safetensors file?)".to_string()
        }
        E::HeaderTooLarge => "the header length is implausibly large (is this a safetensors file?)".to_string(),
        other => format!("{other:?}"),
    };
    Error::WeightsFormat(what)
}

/// For a file whose data section is shorter than its header says: names the first tensor that runs past the end.
fn truncated_tensor(bytes: &[u8]) -> Option<String> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
    let available = bytes.len() - 8 - n;
    let mut cut: Vec<(u64, u64, &String)> = header
        .as_object()?
        .iter()
        .filter_map(|(name, info)| {
            let offsets = info.get("data_offsets")?.as_array()?;
            Some((offsets.first()?.as_u64()?, offsets.get(1)?.as_u64()?, name))
        })
        .filter(|&(_, end, _)| end > available as u64)
        .collect();
    cut.sort();
    let (start, end, name) = cut.first()?;
    Some(format!(
        "truncated: tensor `{name}` needs data bytes {start}..{end}, but the file holds only {available} data bytes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_weights_load_with_every_tensor() {
        let w = Weights::embedded().unwrap();
        let total: usize = TENSORS.iter().map(|(n, _)| w.get(n).unwrap().len()).sum();
        assert_eq!(total, 495_850);
        // A known value, so that a re-conversion with another layout is caught.
        assert_eq!(w.get("pnet.conv1.weight").unwrap().len(), 270);
    }

    #[test]
    fn truncated_file_names_the_cut_tensor() {
        let cut = &EMBEDDED[..EMBEDDED.len() - 1000];
        let err = Weights::from_bytes(cut).unwrap_err().to_string();
        assert!(err.contains("truncated: tensor `rnet."), "{err}");
    }

    #[test]
    fn random_bytes_are_an_error() {
        let junk: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert!(matches!(Weights::from_bytes(&junk), Err(Error::WeightsFormat(_))));
        assert!(matches!(Weights::from_bytes(&[]), Err(Error::WeightsFormat(_))));
    }
}
