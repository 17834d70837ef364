//! A weighted layer's parameters, packed for uniform windows.
//!
//! The conv and dense kernels read their weights from a uniform binding, not a storage one. Each workgroup works
//! on one group of eight output channels, so its weight reads are the same in every invocation, and software
//! Vulkan (lavapipe) loads uniform data several times faster than storage data. Measured per kernel on lavapipe,
//! see the README's GPU notes. A uniform binding holds 64 KiB at most (WebGPU's guaranteed limit), so the layer
//! is split into windows. A window holds whole channel groups, and each window is one dispatch.
//!
//! One group's block, in vec4s: the bias (2), the PReLU alphas (2, zero without PReLU), then for each kernel tap
//! (ky, kx, ci) in HWIO order the group's eight weights (2). Channels past `cout` are zero.

use super::kernels::UNIFORM_BINDING_BYTES;
use crate::netdef::Weighted;

/// Bytes of one uniform window, as the kernels declare it (`array<vec4<f32>, 4096>`).
pub(crate) const WINDOW_BYTES: u64 = UNIFORM_BINDING_BYTES;
/// Output channels of one group (two vec4).
const CHANNELS: usize = 8;
/// Windows start at multiples of this many floats (256 bytes, WebGPU's largest uniform offset alignment).
const ALIGN_FLOATS: usize = 64;
const WINDOW_VEC4S: usize = WINDOW_BYTES as usize / 16;
/// The vec4s before a group's kernel weights: the bias and the alphas.
const HEADER_VEC4S: usize = 4;

/// The groups one dispatch covers, and where their blocks start in the weight buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WeightWindow {
    pub offset_bytes: u64,
    pub first_group: u32,
    pub groups: u32,
}

/// A layer's windows, and the size of one group's block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PackedLayer {
    pub group_vec4s: u32,
    pub windows: Vec<WeightWindow>,
}

/// Appends the blocks of `w` (`taps` kernel positions: kh·kw for a conv, 1 for a dense layer) to `data`, in as few
/// windows as fit, with the groups spread evenly over them.
pub(crate) fn pack_layer(data: &mut Vec<f32>, w: &Weighted, taps: usize) -> PackedLayer {
    let rows = taps * w.cin;
    let group_vec4s = HEADER_VEC4S + rows * 2;
    let groups = w.cout.div_ceil(CHANNELS);
    let per_window = (WINDOW_VEC4S / group_vec4s).max(1);
    let per_window = groups.div_ceil(groups.div_ceil(per_window));
    let zeros = vec![0.0; w.cout];
    let alpha = w.alpha.as_deref().unwrap_or(&zeros);
    let mut windows = Vec::new();
    for first in (0..groups).step_by(per_window) {
        let count = per_window.min(groups - first);
        data.resize(data.len().next_multiple_of(ALIGN_FLOATS), 0.0);
        windows.push(WeightWindow {
            offset_bytes: (data.len() * 4) as u64,
            first_group: first as u32,
            groups: count as u32,
        });
        for g in first..first + count {
            let channels = g * CHANNELS..((g + 1) * CHANNELS).min(w.cout);
            let mut push = |values: &[f32]| {
                data.extend_from_slice(values);
                data.resize(data.len() + CHANNELS - values.len(), 0.0);
            };
            push(&w.bias[channels.clone()]);
            push(&alpha[channels.clone()]);
            for row in 0..rows {
                push(&w.kernel[row * w.cout..][channels.clone()]);
            }
        }
    }
    PackedLayer {
        group_vec4s: group_vec4s as u32,
        windows,
    }
}

/// Pads `data` so that a whole window can be bound at the last window's offset.
pub(crate) fn pad_for_windows<'a>(data: &mut Vec<f32>, layers: impl IntoIterator<Item = &'a PackedLayer>) {
    let end = layers
        .into_iter()
        .flat_map(|l| &l.windows)
        .map(|w| w.offset_bytes as usize / 4 + WINDOW_VEC4S * 4)
        .max()
        .unwrap_or(WINDOW_VEC4S * 4);
    data.resize(data.len().max(end), 0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(cin: usize, cout: usize, taps: usize) -> Weighted {
        Weighted::patterned(taps, cin, cout, (0..cout).map(|i| i as f32).collect(), None)
    }

    #[test]
    fn a_group_block_holds_bias_zero_alphas_and_its_channels_of_every_tap() {
        let w = layer(3, 10, 9);
        let mut data = Vec::new();
        let packed = pack_layer(&mut data, &w, 9);
        assert_eq!(packed.group_vec4s, 4 + 27 * 2);
        assert_eq!(packed.windows.len(), 1);
        let block = |g: usize| &data[g * packed.group_vec4s as usize * 4..][..packed.group_vec4s as usize * 4];
        // Group 1 holds channels 8 and 9, then six zeros.
        let second = block(1);
        assert_eq!(&second[..8], &[8.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(second[8..16].iter().all(|&a| a == 0.0));
        for row in 0..27 {
            assert_eq!(&second[16 + row * 8..][..2], &w.kernel[row * 10 + 8..][..2]);
            assert!(second[16 + row * 8 + 2..][..6].iter().all(|&v| v == 0.0));
        }
        assert_eq!(&block(0)[16..24], &w.kernel[..8]);
    }

    #[test]
    fn large_layers_split_into_even_aligned_windows_that_fit() {
        // O-Net's dense layer: one 1152-input group is 2308 vec4s, so one group a window.
        let mut data = vec![0.0; 5];
        let dense = pack_layer(&mut data, &layer(1152, 256, 1), 1);
        assert_eq!(dense.windows.len(), 32);
        // O-Net's 3×3 64→64 conv: 1156 vec4s a group, 3 fit, so 8 groups go 3 + 3 + 2.
        let conv = pack_layer(&mut data, &layer(64, 64, 9), 9);
        let counts: Vec<u32> = conv.windows.iter().map(|w| w.groups).collect();
        assert_eq!(counts, [3, 3, 2]);
        let layers = [dense, conv];
        for window in layers.iter().flat_map(|l| &l.windows) {
            assert_eq!(window.offset_bytes % 256, 0);
        }
        for l in &layers {
            let firsts: Vec<u32> = l.windows.iter().map(|w| w.first_group).collect();
            let expected: Vec<u32> = l
                .windows
                .iter()
                .scan(0, |s, w| Some(std::mem::replace(s, *s + w.groups)))
                .collect();
            assert_eq!(firsts, expected);
            assert!(l
                .windows
                .iter()
                .all(|w| w.groups as usize * l.group_vec4s as usize <= WINDOW_VEC4S));
        }
        pad_for_windows(&mut data, &layers);
        let last = layers[1].windows.last().unwrap().offset_bytes;
        assert!(data.len() as u64 * 4 >= last + WINDOW_BYTES);
    }
}
