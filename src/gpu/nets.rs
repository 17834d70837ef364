//! The three networks on the GPU: weights uploaded once (output channels padded to multiples of 4 for the vec4
//! kernels), and the recording of a network's layers over a packed, multi-segment tensor.

use super::context::GpuContext;
use super::kernels::{Kernel, Params, Plan, Segment, View, WORKGROUP_SIZE};
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

#[derive(Clone, Copy, Debug)]
enum Op {
    Conv {
        kh: usize,
        kw: usize,
    },
    Dense,
    Pool {
        size: usize,
        stride: usize,
        padding: Padding,
    },
}

/// A layer's shape and where its weights sit in the net's buffer (offsets in vec4 units).
#[derive(Clone, Copy, Debug)]
struct GpuLayer {
    op: Op,
    cin: usize,
    cout: usize,
    w_off: u32,
    b_off: u32,
    a_off: u32,
    prelu: bool,
}

/// One network's layers and its weights on the device.
pub(crate) struct GpuNet {
    layers: Vec<GpuLayer>,
    weights: wgpu::Buffer,
    weight_bytes: u64,
}

/// Output channels of one work item of the conv and dense kernels (two vec4); weights are padded to it.
const CHANNELS: usize = 8;
/// Output pixels (conv) or rows (dense) of one work item.
const BLOCK: usize = 4;

/// Appends rows of `cout` values, each padded with zeros to a multiple of [`CHANNELS`]; returns the vec4 offset.
fn push_padded(data: &mut Vec<f32>, values: &[f32], cout: usize) -> u32 {
    let offset = (data.len() / 4) as u32;
    let padded = cout.next_multiple_of(CHANNELS);
    for row in values.chunks(cout) {
        data.extend_from_slice(row);
        data.resize(data.len() + padded - row.len(), 0.0);
    }
    offset
}

impl GpuNet {
    pub fn upload(ctx: &GpuContext, layers: &[Layer], label: &str) -> Self {
        let mut data: Vec<f32> = Vec::new();
        let mut gpu_layers = Vec::with_capacity(layers.len());
        for layer in layers {
            let (op, w) = match layer {
                Layer::Conv { kh, kw, weights } => (Op::Conv { kh: *kh, kw: *kw }, weights),
                Layer::Dense(weights) => (Op::Dense, weights),
                Layer::Pool { size, stride, padding } => {
                    let op = Op::Pool {
                        size: *size,
                        stride: *stride,
                        padding: *padding,
                    };
                    gpu_layers.push(GpuLayer {
                        op,
                        cin: 0,
                        cout: 0,
                        w_off: 0,
                        b_off: 0,
                        a_off: 0,
                        prelu: false,
                    });
                    continue;
                }
            };
            let (cin, cout) = (w.cin, w.cout);
            let w_off = push_padded(&mut data, &w.kernel, cout);
            let b_off = push_padded(&mut data, &w.bias, cout);
            let a_off = w.alpha.as_ref().map_or(0, |a| push_padded(&mut data, a, cout));
            gpu_layers.push(GpuLayer {
                op,
                cin,
                cout,
                w_off,
                b_off,
                a_off,
                prelu: w.alpha.is_some(),
            });
        }
        data.resize(data.len().max(4), 0.0);
        let weights = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (data.len() * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        ctx.queue.write_buffer(&weights, 0, bytemuck::cast_slice(&data));
        GpuNet {
            layers: gpu_layers,
            weights,
            weight_bytes: (data.len() * 4) as u64,
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
                Op::Conv { kh, kw } => (
                    p.count,
                    (p.h + 1).saturating_sub(kh),
                    (p.w + 1).saturating_sub(kw),
                    layer.cout,
                ),
                Op::Dense => (p.count, 1, 1, layer.cout),
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
        let groups = layer.cout.div_ceil(CHANNELS);
        let mut start = 0usize;
        let segments: Vec<Segment> = input
            .iter()
            .zip(output)
            .map(|(i, o)| {
                let items = match layer.op {
                    // Conv and dense count workgroups: one channel group each, WORKGROUP_SIZE blocks.
                    Op::Conv { .. } => (o.count * o.h * o.w.div_ceil(BLOCK)).div_ceil(WORKGROUP_SIZE as usize) * groups,
                    Op::Dense => o.count.div_ceil(BLOCK).div_ceil(WORKGROUP_SIZE as usize) * groups,
                    Op::Pool { .. } => o.floats(),
                };
                let (a, b) = match layer.op {
                    Op::Pool { size, stride, padding } => (
                        pool_geometry(i.h, size, stride, padding).1 as u32,
                        pool_geometry(i.w, size, stride, padding).1 as u32,
                    ),
                    _ => (0, 0),
                };
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
                start += items;
                segment
            })
            .collect();
        let weights = Some(View::new(&self.weights, self.weight_bytes));
        let (kernel, params, extra) = match layer.op {
            Op::Conv { kh, kw } => {
                let params = Params {
                    kh: kh as u32,
                    kw: kw as u32,
                    ..self.weight_params(layer)
                };
                (Kernel::Conv, params, weights)
            }
            Op::Dense => (Kernel::Dense, self.weight_params(layer), weights),
            Op::Pool { size, stride, .. } => {
                let c = input.first().map_or(0, |p| p.c) as u32;
                (
                    Kernel::MaxPool,
                    Params {
                        cin: c,
                        size: size as u32,
                        stride: stride as u32,
                        ..Default::default()
                    },
                    None,
                )
            }
        };
        plan.dispatch(
            kernel,
            Params {
                total: start as u32,
                ..params
            },
            segments,
            Some(src.clone()),
            dst.clone(),
            extra,
        );
    }

    fn weight_params(&self, layer: &GpuLayer) -> Params {
        Params {
            cin: layer.cin as u32,
            cout: layer.cout as u32,
            prelu: u32::from(layer.prelu),
            w_off: layer.w_off,
            b_off: layer.b_off,
            a_off: layer.a_off,
            ..Default::default()
        }
    }
}
