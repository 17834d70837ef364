//! The three networks described once, as data: their layers in order, with the weights packed for inference
//! (heads side by side, the first dense layer's rows reordered from (W, H, C) to (H, W, C)). Every backend builds
//! its own kernels from this description, so the architecture and the layout traps live in one place.

use crate::weights::Weights;

/// How max-pooling treats the border, as Keras names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Padding {
    /// No padding: windows lie inside the input.
    Valid,
    /// TensorFlow "same": `ceil(n / stride)` outputs; windows that run off the edge take the max over their valid
    /// cells only (padding with −inf), the padding split as TensorFlow splits it (`total / 2` before).
    Same,
}

/// Output size and padding before the first cell of a pooling along one axis of `n` cells.
pub(crate) fn pool_geometry(n: usize, size: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Same => {
            let out = n.div_ceil(stride);
            let total = (out.saturating_sub(1) * stride + size).saturating_sub(n);
            (out, total / 2)
        }
        Padding::Valid => (if n < size { 0 } else { (n - size) / stride + 1 }, 0),
    }
}

/// The parameters of a convolution or dense layer: a `[k, cout]` kernel matrix (k = kh·kw·cin for a conv, whose
/// HWIO kernel is already that matrix; cin for a dense layer), the bias, and the PReLU alphas when one follows.
#[derive(Clone, Debug)]
pub(crate) struct Weighted {
    pub cin: usize,
    pub cout: usize,
    pub kernel: Vec<f32>,
    pub bias: Vec<f32>,
    pub alpha: Option<Vec<f32>>,
}

#[cfg(test)]
impl Weighted {
    /// Reproducible weights in [−0.5, 0.5) for a `[k·cin, cout]` kernel, for the kernels' tests.
    pub fn patterned(k: usize, cin: usize, cout: usize, bias: Vec<f32>, alpha: Option<Vec<f32>>) -> Self {
        Weighted {
            cin,
            cout,
            kernel: (0..k * cin * cout)
                .map(|i| ((i * 53 % 97) as f32) / 97.0 - 0.5)
                .collect(),
            bias,
            alpha,
        }
    }
}

/// One layer.
#[derive(Clone, Debug)]
pub(crate) enum Layer {
    /// Valid, stride-1 convolution with bias and PReLU fused.
    Conv { kh: usize, kw: usize, weights: Weighted },
    /// Max-pooling with a square window.
    Pool {
        size: usize,
        stride: usize,
        padding: Padding,
    },
    /// Fully connected over the flattened (H, W, C) tensor, with bias and PReLU fused.
    Dense(Weighted),
}

/// Width of the last layer's rows, which hold the heads side by side.
pub(crate) const PNET_HEADS: usize = 6; // box regression (4), face logits (2)
pub(crate) const RNET_HEADS: usize = 6; // box regression (4), face logits (2)
pub(crate) const ONET_HEADS: usize = 16; // box regression (4), landmarks (10), face logits (2)

fn param(w: &Weights, net: &str, layer: &str, what: &str) -> Vec<f32> {
    w.tensor(&format!("{net}.{layer}.{what}")).to_vec()
}

fn conv(w: &Weights, net: &str, layer: &str, prelu: &str, [kh, kw, cin, cout]: [usize; 4]) -> Layer {
    let weights = Weighted {
        cin,
        cout,
        kernel: param(w, net, layer, "weight"),
        bias: param(w, net, layer, "bias"),
        alpha: Some(param(w, net, prelu, "alpha")),
    };
    Layer::Conv { kh, kw, weights }
}

fn pool(size: usize, stride: usize, padding: Padding) -> Layer {
    Layer::Pool { size, stride, padding }
}

/// Several heads over the same input as one layer: kernels side by side (in the order given), no activation.
fn heads(w: &Weights, net: &str, names: &[(&str, usize)], cin: usize) -> Weighted {
    let cout = names.iter().map(|(_, c)| c).sum();
    let parts: Vec<Vec<f32>> = names.iter().map(|(n, _)| param(w, net, n, "weight")).collect();
    let mut kernel = Vec::with_capacity(cin * cout);
    for row in 0..cin {
        for ((_, c), part) in names.iter().zip(&parts) {
            kernel.extend_from_slice(&part[row * c..(row + 1) * c]);
        }
    }
    let bias = names.iter().flat_map(|(n, _)| param(w, net, n, "bias")).collect();
    Weighted {
        cin,
        cout,
        kernel,
        bias,
        alpha: None,
    }
}

/// The first dense layer reads the last conv's `side`×`side` map flattened in (W, H, C) order (Keras
/// `Permute((2,1,3))`); reorder its rows once so that it reads (H, W, C) tensors directly.
fn dense_from_whc(
    w: &Weights,
    net: &str,
    layer: &str,
    prelu: &str,
    side: usize,
    channels: usize,
    cout: usize,
) -> Layer {
    let src = param(w, net, layer, "weight");
    let mut kernel = vec![0.0; src.len()];
    for y in 0..side {
        for x in 0..side {
            for c in 0..channels {
                let hwc = (y * side + x) * channels + c;
                let whc = (x * side + y) * channels + c;
                kernel[hwc * cout..(hwc + 1) * cout].copy_from_slice(&src[whc * cout..(whc + 1) * cout]);
            }
        }
    }
    Layer::Dense(Weighted {
        cin: side * side * channels,
        cout,
        kernel,
        bias: param(w, net, layer, "bias"),
        alpha: Some(param(w, net, prelu, "alpha")),
    })
}

/// P-Net: fully convolutional; the last layer is the 1×1 heads conv with [`PNET_HEADS`] outputs.
pub(crate) fn pnet(w: &Weights) -> Vec<Layer> {
    vec![
        conv(w, "pnet", "conv1", "prelu1", [3, 3, 3, 10]),
        pool(2, 2, Padding::Same),
        conv(w, "pnet", "conv2", "prelu2", [3, 3, 10, 16]),
        conv(w, "pnet", "conv3", "prelu3", [3, 3, 16, 32]),
        Layer::Conv {
            kh: 1,
            kw: 1,
            weights: heads(w, "pnet", &[("conv4_1", 4), ("conv4_2", 2)], 32),
        },
    ]
}

/// R-Net on 24×24 crops; the last layer is the dense heads layer with [`RNET_HEADS`] outputs.
pub(crate) fn rnet(w: &Weights) -> Vec<Layer> {
    vec![
        conv(w, "rnet", "conv1", "prelu1", [3, 3, 3, 28]),
        pool(3, 2, Padding::Same),
        conv(w, "rnet", "conv2", "prelu2", [3, 3, 28, 48]),
        pool(3, 2, Padding::Valid),
        conv(w, "rnet", "conv3", "prelu3", [2, 2, 48, 64]),
        dense_from_whc(w, "rnet", "fc4", "prelu4", 3, 64, 128),
        Layer::Dense(heads(w, "rnet", &[("fc5_1", 4), ("fc5_2", 2)], 128)),
    ]
}

/// O-Net on 48×48 crops; the last layer is the dense heads layer with [`ONET_HEADS`] outputs.
pub(crate) fn onet(w: &Weights) -> Vec<Layer> {
    vec![
        conv(w, "onet", "conv1", "prelu1", [3, 3, 3, 32]),
        pool(3, 2, Padding::Same),
        conv(w, "onet", "conv2", "prelu2", [3, 3, 32, 64]),
        pool(3, 2, Padding::Valid),
        conv(w, "onet", "conv3", "prelu3", [3, 3, 64, 64]),
        pool(2, 2, Padding::Same),
        conv(w, "onet", "conv4", "prelu4", [2, 2, 64, 128]),
        dense_from_whc(w, "onet", "fc5", "prelu5", 3, 128, 256),
        Layer::Dense(heads(w, "onet", &[("fc6_1", 4), ("fc6_2", 10), ("fc6_3", 2)], 256)),
    ]
}
