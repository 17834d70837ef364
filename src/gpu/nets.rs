//! The three networks on the GPU: weights uploaded once (packed in uniform windows, see `weight_windows`), and
//! the recording of a network's layers over a packed, multi-segment tensor.

use super::context::GpuContext;
use super::kernels::{Kernel, Params, Plan, Segment, View, WORKGROUP_SIZE};
use super::weight_windows::{pack_layer, pad_for_windows, PackedLayer, WINDOW_BYTES};
use crate::netdef::{pool_geometry, Layer, Padding};
use crate::pipeline::pyramid::PyramidLevel;

/// A packed tensor's part: `count` images of `h`×`w`×`c` floats starting at float `offset`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Part {
    pub count: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub offset: usize,
}

impl Part {
    pub fn floats(&self) -> usize {
        self.count * self.h * self.w * self.c
    }
}

/// Parts laid out one after the other from float 0, with the given shapes.
fn packed(shapes: impl Iterator<Item = (usize, usize, usize, usize)>) -> Vec<Part> {
    let mut offset = 0;
    shapes
        .map(|(count, h, w, c)| {
            let part = Part { count, h, w, c, offset };
            offset += part.floats();
            part
        })
        .collect()
}

/// Pyramid levels (RGB) packed one after the other.
pub(crate) fn level_parts(levels: &[PyramidLevel]) -> Vec<Part> {
    packed(levels.iter().map(|l| (1, l.height, l.width, 3)))
}

pub(crate) fn total_floats(parts: &[Part]) -> usize {
    parts.iter().map(Part::floats).sum()
}

#[derive(Clone, Debug)]
enum Op {
    Conv {
        kh: usize,
        kw: usize,
        weights: PackedLayer,
    },
    Dense(PackedLayer),
    Pool {
        size: usize,
        stride: usize,
        padding: Padding,
    },
}

/// A layer's shape, and where the weights of a conv or dense layer sit.
#[derive(Clone, Debug)]
struct GpuLayer {
    op: Op,
    cin: usize,
    cout: usize,
    prelu: bool,
}

/// One network's layers and its weights on the device.
pub(crate) struct GpuNet {
    layers: Vec<GpuLayer>,
    weights: wgpu::Buffer,
}

/// Output pixels (conv) or rows (dense) of one work item.
const BLOCK: usize = 4;

impl GpuNet {
    pub fn upload(ctx: &GpuContext, layers: &[Layer], label: &str) -> Self {
        let mut data: Vec<f32> = Vec::new();
        let gpu_layers: Vec<GpuLayer> = layers
            .iter()
            .map(|layer| match layer {
                Layer::Conv { kh, kw, weights } => GpuLayer {
                    op: Op::Conv {
                        kh: *kh,
                        kw: *kw,
                        weights: pack_layer(&mut data, weights, kh * kw),
                    },
                    cin: weights.cin,
                    cout: weights.cout,
                    prelu: weights.alpha.is_some(),
                },
                Layer::Dense(weights) => GpuLayer {
                    op: Op::Dense(pack_layer(&mut data, weights, 1)),
                    cin: weights.cin,
                    cout: weights.cout,
                    prelu: weights.alpha.is_some(),
                },
                &Layer::Pool { size, stride, padding } => GpuLayer {
                    op: Op::Pool { size, stride, padding },
                    cin: 0,
                    cout: 0,
                    prelu: false,
                },
            })
            .collect();
        pad_for_windows(&mut data, gpu_layers.iter().filter_map(GpuLayer::weights));
        let weights = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (data.len() * 4) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        ctx.queue.write_buffer(&weights, 0, bytemuck::cast_slice(&data));
        GpuNet {
            layers: gpu_layers,
            weights,
        }
    }

    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// The most floats any tensor holds while the net runs on `parts`, its input included.
    pub fn largest_floats(&self, parts: &[Part]) -> usize {
        self.shapes(parts)
            .iter()
            .map(|s| total_floats(s))
            .fold(total_floats(parts), usize::max)
    }

    /// The parts after each layer, for inputs `parts` (3 channels).
    pub fn shapes(&self, parts: &[Part]) -> Vec<Vec<Part>> {
        let mut all = Vec::with_capacity(self.layers.len());
        let mut current = parts.to_vec();
        for layer in &self.layers {
            let next = packed(current.iter().map(|p| match layer.op {
                Op::Conv { kh, kw, .. } => (
                    p.count,
                    (p.h + 1).saturating_sub(kh),
                    (p.w + 1).saturating_sub(kw),
                    layer.cout,
                ),
                Op::Dense(_) => (p.count, 1, 1, layer.cout),
                Op::Pool { size, stride, padding } => (
                    p.count,
                    pool_geometry(p.h, size, stride, padding).0,
                    pool_geometry(p.w, size, stride, padding).0,
                    p.c,
                ),
            }));
            all.push(next.clone());
            current = next;
        }
        all
    }

    /// Records the layers on `parts` (in `input`), alternating between `ping` and `pong`; the last layer writes
    /// into `output` at float `output_offset`. Returns the output parts (offsets in `output`).
    pub fn record(
        &self,
        plan: &mut Plan,
        parts: &[Part],
        input: &View,
        [ping, pong]: [&View; 2],
        output: &View,
        output_offset: usize,
    ) -> Vec<Part> {
        let shapes = self.shapes(parts);
        let mut src = input.clone();
        let mut current = parts.to_vec();
        for (i, (layer, next)) in self.layers.iter().zip(&shapes).enumerate() {
            let last = i + 1 == self.layers.len();
            let mut next = next.clone();
            if last {
                for p in &mut next {
                    p.offset += output_offset;
                }
            }
            let dst = if last {
                output.clone()
            } else if i % 2 == 0 {
                ping.clone()
            } else {
                pong.clone()
            };
            self.record_layer(plan, layer, &current, &next, &src, &dst);
            src = dst;
            current = next;
        }
        current
    }

    fn record_layer(&self, plan: &mut Plan, layer: &GpuLayer, input: &[Part], output: &[Part], src: &View, dst: &View) {
        let (kernel, kh, kw, weights) = match &layer.op {
            Op::Conv { kh, kw, weights } => (Kernel::Conv, *kh, *kw, weights),
            Op::Dense(weights) => (Kernel::Dense, 1, 1, weights),
            &Op::Pool { size, stride, padding } => {
                let geometry = |i: &Part| {
                    (
                        pool_geometry(i.h, size, stride, padding).1 as u32,
                        pool_geometry(i.w, size, stride, padding).1 as u32,
                    )
                };
                // One work item per output pixel.
                let (segments, total) = segments(input, output, |o| o.count * o.h * o.w, geometry);
                let c = input.first().map_or(0, |p| p.c);
                let in_fours = c.is_multiple_of(4) && input.iter().chain(output).all(|p| p.offset.is_multiple_of(4));
                let params = Params {
                    total,
                    cin: c as u32,
                    size: size as u32,
                    stride: stride as u32,
                    u1: u32::from(in_fours),
                    ..Default::default()
                };
                // The vec4 view of the input is bound whatever `in_fours` says, so it needs whole vec4s (pooled
                // buffers are whole multiples of 256 bytes).
                let fours = View::new(&src.buffer, src.bytes.next_multiple_of(16));
                plan.dispatch(
                    Kernel::MaxPool,
                    params,
                    segments,
                    Some(src.clone()),
                    dst.clone(),
                    Some(fours),
                );
                return;
            }
        };
        // One dispatch per weight window. Conv and dense count workgroups: each takes one channel group and
        // WORKGROUP_SIZE blocks of pixels (conv) or rows (dense).
        for window in &weights.windows {
            let blocks = |o: &Part| match kernel {
                Kernel::Conv => o.count * o.h * o.w.div_ceil(BLOCK),
                _ => o.count.div_ceil(BLOCK),
            };
            let workgroups = |o: &Part| blocks(o).div_ceil(WORKGROUP_SIZE as usize) * window.groups as usize;
            let (segments, total) = segments(input, output, workgroups, |_| (0, 0));
            let params = Params {
                total,
                cin: layer.cin as u32,
                cout: layer.cout as u32,
                kh: kh as u32,
                kw: kw as u32,
                prelu: u32::from(layer.prelu),
                group_vec4s: weights.group_vec4s,
                first_group: window.first_group,
                window_groups: window.groups,
                ..Default::default()
            };
            let window = View::window(&self.weights, window.offset_bytes, WINDOW_BYTES);
            plan.dispatch(kernel, params, segments, Some(src.clone()), dst.clone(), Some(window));
        }
    }
}

impl GpuLayer {
    fn weights(&self) -> Option<&PackedLayer> {
        match &self.op {
            Op::Conv { weights, .. } | Op::Dense(weights) => Some(weights),
            Op::Pool { .. } => None,
        }
    }
}

/// The segment table of a layer over `input` → `output` (one segment per part), with `items(output part)` work
/// items each and the kernel-specific extras `a`, `b` from `extras(input part)`; and the total of the items.
fn segments(
    input: &[Part],
    output: &[Part],
    items: impl Fn(&Part) -> usize,
    extras: impl Fn(&Part) -> (u32, u32),
) -> (Vec<Segment>, u32) {
    let mut start = 0usize;
    let table = input
        .iter()
        .zip(output)
        .map(|(i, o)| {
            let (a, b) = extras(i);
            let segment = Segment {
                count: i.count as u32,
                in_h: i.h as u32,
                in_w: i.w as u32,
                in_off: i.offset as u32,
                out_h: o.h as u32,
                out_w: o.w as u32,
                out_off: o.offset as u32,
                start: start as u32,
                a,
                b,
                ..Default::default()
            };
            start += items(o);
            segment
        })
        .collect();
    (table, start as u32)
}
