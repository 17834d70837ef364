//! The WGSL kernels, compiled once per detector, and the plan that records a stage's dispatches and submits them
//! together: one command buffer, one compute pass, shapes and offsets in small uniform and storage tables.

use std::collections::HashMap;

use bytemuck::{Pod, Zeroable};

use super::buffers::BufferPool;
use super::context::{GpuContext, TIMED_PASSES};
use crate::error::{Error, Result};

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const WEIGHTED_LAYER: &str = include_str!("../../shaders/weighted_layer.wgsl");
const AREA_TAPS: &str = include_str!("../../shaders/area_taps.wgsl");

/// Invocations per workgroup, as every shader declares it (`@workgroup_size`).
pub(crate) const WORKGROUP_SIZE: u32 = 64;

/// The kernels, one WGSL file each (prefixed with `shaders/common.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    Normalize,
    ResizeRows,
    ResizeColumns,
    Conv,
    Dense,
    MaxPool,
    CropResize,
    PnetSelect,
    Heads,
    Warp,
}

impl Kernel {
    pub const ALL: [Kernel; 10] = [
        Kernel::Normalize,
        Kernel::ResizeRows,
        Kernel::ResizeColumns,
        Kernel::Conv,
        Kernel::Dense,
        Kernel::MaxPool,
        Kernel::CropResize,
        Kernel::PnetSelect,
        Kernel::Heads,
        Kernel::Warp,
    ];

    fn body(self) -> &'static str {
        match self {
            Kernel::Normalize => include_str!("../../shaders/normalize.wgsl"),
            Kernel::ResizeRows => include_str!("../../shaders/resize_rows.wgsl"),
            Kernel::ResizeColumns => include_str!("../../shaders/resize_columns.wgsl"),
            Kernel::Conv => include_str!("../../shaders/conv.wgsl"),
            Kernel::Dense => include_str!("../../shaders/dense.wgsl"),
            Kernel::MaxPool => include_str!("../../shaders/maxpool.wgsl"),
            Kernel::CropResize => include_str!("../../shaders/crop_resize.wgsl"),
            Kernel::PnetSelect => include_str!("../../shaders/pnet_select.wgsl"),
            Kernel::Heads => include_str!("../../shaders/heads.wgsl"),
            Kernel::Warp => include_str!("../../shaders/warp.wgsl"),
        }
    }

    /// The full WGSL source of the kernel.
    pub fn source(self) -> String {
        let shared = match self {
            Kernel::Conv | Kernel::Dense => WEIGHTED_LAYER,
            Kernel::ResizeRows | Kernel::ResizeColumns => AREA_TAPS,
            _ => "",
        };
        format!("{COMMON}\n{shared}\n{}", self.body())
    }

    /// Whether `Params::total` counts workgroups rather than invocations (the kernels that give each workgroup
    /// one channel group, so that its weight reads are uniform).
    fn counts_workgroups(self) -> bool {
        matches!(self, Kernel::Conv | Kernel::Dense)
    }

    /// Which of the bindings 2 (input), 3 (output) and 4 (weights or tables) the kernel declares.
    fn bindings(self) -> (bool, bool) {
        match self {
            Kernel::Heads => (false, false),
            Kernel::Normalize | Kernel::PnetSelect => (true, false),
            _ => (true, true),
        }
    }
}

/// One entry of a dispatch's segment table (`struct Segment` in `common.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub(crate) struct Segment {
    pub count: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub in_off: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub out_off: u32,
    pub start: u32,
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u32,
    pub e: u32,
    pub f: u32,
    pub g: u32,
    pub h: u32,
}

/// A dispatch's parameters (`struct Params` in `common.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub(crate) struct Params {
    pub segments: u32,
    pub total: u32,
    pub cin: u32,
    pub cout: u32,
    pub kh: u32,
    pub kw: u32,
    pub prelu: u32,
    pub group_vec4s: u32,
    pub first_group: u32,
    pub window_groups: u32,
    pub size: u32,
    pub stride: u32,
    pub f0: f32,
    pub u0: u32,
    pub u1: u32,
    pub u2: u32,
}

/// The compute pipelines, built once.
pub(crate) struct Kernels {
    pipelines: HashMap<Kernel, wgpu::ComputePipeline>,
}

impl Kernels {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        ctx.scoped(|| {
            let pipelines = Kernel::ALL
                .iter()
                .map(|&kernel| {
                    let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(&format!("{kernel:?}")),
                        source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
                    });
                    let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(&format!("{kernel:?}")),
                        layout: None,
                        module: &module,
                        entry_point: Some("main"),
                        compilation_options: Default::default(),
                        cache: None,
                    });
                    (kernel, pipeline)
                })
                .collect();
            Kernels { pipelines }
        })
    }
}

/// `bytes` bytes of a buffer, from byte `offset` (0 but for the weight windows).
#[derive(Clone, Debug)]
pub(crate) struct View {
    pub buffer: wgpu::Buffer,
    pub offset: u64,
    pub bytes: u64,
}

impl View {
    pub fn new(buffer: &wgpu::Buffer, bytes: u64) -> Self {
        View::window(buffer, 0, bytes)
    }

    pub fn window(buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Self {
        View {
            buffer: buffer.clone(),
            offset,
            bytes: bytes.max(4).next_multiple_of(4),
        }
    }
}

struct Step {
    timed_as: TimedAs,
    kernel: Kernel,
    params: Params,
    segments: Vec<Segment>,
    input: Option<View>,
    output: View,
    extra: Option<View>,
}

/// What a step's device time counts as: the pyramid's resampling is reported apart from the networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimedAs {
    Network,
    Pyramid,
}

/// Where one submission's timestamps land (MAP_READ): a start and an end tick for each compute pass, and what
/// each pass counts as.
pub(crate) struct Stamps {
    pub buffer: wgpu::Buffer,
    pub passes: Vec<TimedAs>,
}

/// The dispatches and copies of one submission, recorded first and encoded together, so that the parameter
/// tables go up in one write each and the whole stage is one command buffer.
pub(crate) struct Plan {
    steps: Vec<Step>,
    /// What the steps recorded from now on count as in the device times.
    timed_as: TimedAs,
    copies: Vec<(wgpu::Buffer, wgpu::Buffer, u64)>,
    /// Pool names of the parameter and segment arenas: each stage has its own, so that one stage's larger tables
    /// never replace (and so invalidate the bind groups of) another's.
    arenas: [&'static str; 2],
}

impl Default for Plan {
    fn default() -> Self {
        Plan::with_arenas(["params", "segments"])
    }
}

/// Offsets of bindings into one buffer must be multiples of this (WebGPU's largest allowed alignment).
const TABLE_ALIGN: usize = 256;
/// Bytes of every large uniform binding, the segment tables (`array<Segment, 1024>` in `common.wgsl`) and the
/// weight windows (`array<vec4<f32>, 4096>`): 64 KiB, WebGPU's default `max_uniform_buffer_binding_size`.
pub(crate) const UNIFORM_BINDING_BYTES: u64 = 65536;
/// Bytes of a segment-table binding.
const TABLE_BYTES: usize = UNIFORM_BINDING_BYTES as usize;
/// Segments one table holds.
const MAX_SEGMENTS: usize = TABLE_BYTES / std::mem::size_of::<Segment>();

/// A dispatch's parameters and table, split into dispatches of at most [`MAX_SEGMENTS`] segments, each with its
/// segments' `start` and its `total` counted from its own first item. Empty dispatches are dropped.
fn split_table(params: Params, segments: Vec<Segment>) -> Vec<(Params, Vec<Segment>)> {
    if params.total == 0 {
        return Vec::new();
    }
    if segments.len() <= MAX_SEGMENTS {
        let count = segments.len() as u32;
        return vec![(
            Params {
                segments: count,
                ..params
            },
            segments,
        )];
    }
    let chunks: Vec<&[Segment]> = segments.chunks(MAX_SEGMENTS).collect();
    let ends = chunks.iter().skip(1).map(|c| c[0].start).chain([params.total]);
    chunks
        .iter()
        .zip(ends)
        .filter_map(|(chunk, end)| {
            let first = chunk[0].start;
            let table: Vec<Segment> = chunk
                .iter()
                .map(|s| Segment {
                    start: s.start - first,
                    ..*s
                })
                .collect();
            let params = Params {
                segments: table.len() as u32,
                total: end - first,
                ..params
            };
            (params.total > 0).then_some((params, table))
        })
        .collect()
}

impl Plan {
    pub fn with_arenas(arenas: [&'static str; 2]) -> Self {
        Plan {
            steps: Vec::new(),
            timed_as: TimedAs::Network,
            copies: Vec::new(),
            arenas,
        }
    }

    /// Counts the steps recorded from now on as `what` in the device times.
    pub fn time_as(&mut self, what: TimedAs) {
        self.timed_as = what;
    }

    /// Adds a dispatch of `params.total` work items over `segments` (several, when the table is longer than one
    /// uniform binding holds).
    pub fn dispatch(
        &mut self,
        kernel: Kernel,
        params: Params,
        segments: Vec<Segment>,
        input: Option<View>,
        output: View,
        extra: Option<View>,
    ) {
        for (params, segments) in split_table(params, segments) {
            self.steps.push(Step {
                timed_as: self.timed_as,
                kernel,
                params,
                segments,
                input: input.clone(),
                output: output.clone(),
                extra: extra.clone(),
            });
        }
    }

    /// Copies the first `bytes` of `from` into `to` after the dispatches.
    pub fn copy(&mut self, from: &wgpu::Buffer, to: &wgpu::Buffer, bytes: u64) {
        self.copies.push((from.clone(), to.clone(), bytes.next_multiple_of(4)));
    }

    /// Encodes and submits everything, inside error scopes. Consecutive steps that count as the same thing
    /// ([`TimedAs`]) form one compute pass. Where the device has timestamp queries, the passes are timed: the
    /// returned [`Stamps`] receive their start and end ticks, for `GpuContext::read_elapsed`.
    pub fn submit(self, ctx: &GpuContext, kernels: &Kernels, pool: &mut BufferPool) -> Result<Option<Stamps>> {
        let mut params = Vec::new();
        let mut tables = Vec::new();
        let mut offsets = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            params.resize(params.len().next_multiple_of(TABLE_ALIGN), 0);
            tables.resize(tables.len().next_multiple_of(TABLE_ALIGN), 0);
            offsets.push((params.len() as u64, tables.len() as u64));
            params.extend_from_slice(bytemuck::bytes_of(&step.params));
            tables.extend_from_slice(bytemuck::cast_slice(&step.segments));
        }
        // Every table is bound as a whole 64 KiB window, the last one included.
        if let Some(&(_, last)) = offsets.last() {
            tables.resize(tables.len().max(last as usize + TABLE_BYTES), 0);
        }
        let max_groups = ctx.limits.max_compute_workgroups_per_dimension;
        let passes = self.passes();
        ctx.scoped(|| -> Result<Option<Stamps>> {
            let stamps = ctx.timer.as_ref().map(|timer| {
                let bytes = 16 * u64::from(TIMED_PASSES);
                let resolved = pool.get(ctx, "timestamps", bytes, wgpu::BufferUsages::QUERY_RESOLVE);
                let read = pool.get(ctx, "timestamps_read", bytes, wgpu::BufferUsages::MAP_READ);
                (timer, resolved, read)
            });
            let [params_name, tables_name] = self.arenas;
            let params_buffer = pool.get(ctx, params_name, params.len() as u64, wgpu::BufferUsages::UNIFORM);
            let tables_buffer = pool.get(ctx, tables_name, tables.len() as u64, wgpu::BufferUsages::UNIFORM);
            if !params.is_empty() {
                ctx.queue.write_buffer(&params_buffer, 0, &params);
                ctx.queue.write_buffer(&tables_buffer, 0, &tables);
            }
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            for (index, (_, range)) in passes.iter().enumerate() {
                let slot = 2 * index as u32;
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: stamps.as_ref().map(|(timer, _, _)| wgpu::ComputePassTimestampWrites {
                        query_set: &timer.queries,
                        beginning_of_pass_write_index: Some(slot),
                        end_of_pass_write_index: Some(slot + 1),
                    }),
                });
                for (step, &(p_off, t_off)) in self.steps[range.clone()].iter().zip(&offsets[range.clone()]) {
                    let pipeline = &kernels.pipelines[&step.kernel];
                    let mut entries = vec![
                        (0, params_buffer.clone(), p_off, std::mem::size_of::<Params>() as u64),
                        (1, tables_buffer.clone(), t_off, TABLE_BYTES as u64),
                        (3, step.output.buffer.clone(), 0, step.output.bytes),
                    ];
                    let (has_input, has_extra) = step.kernel.bindings();
                    for (present, index, view) in [(has_input, 2, &step.input), (has_extra, 4, &step.extra)] {
                        if let (true, Some(v)) = (present, view) {
                            entries.push((index, v.buffer.clone(), v.offset, v.bytes));
                        }
                    }
                    let bind_group = pool.bind_group(ctx, step.kernel, &pipeline.get_bind_group_layout(0), entries);
                    let groups = if step.kernel.counts_workgroups() {
                        step.params.total
                    } else {
                        step.params.total.div_ceil(WORKGROUP_SIZE)
                    };
                    let x = groups.min(max_groups);
                    let y = groups.div_ceil(x);
                    if y > max_groups {
                        return Err(Error::Gpu(format!(
                            "{:?}: {} work items exceed the dispatch limits",
                            step.kernel, step.params.total
                        )));
                    }
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, &bind_group, &[]);
                    pass.dispatch_workgroups(x, y, 1);
                }
            }
            for (from, to, bytes) in &self.copies {
                encoder.copy_buffer_to_buffer(from, 0, to, 0, *bytes);
            }
            let slots = 2 * passes.len() as u32;
            if let Some((timer, resolved, read)) = &stamps {
                encoder.resolve_query_set(&timer.queries, 0..slots, resolved, 0);
                encoder.copy_buffer_to_buffer(resolved, 0, read, 0, 8 * u64::from(slots));
            }
            ctx.queue.submit([encoder.finish()]);
            Ok(stamps.map(|(_, _, read)| Stamps {
                buffer: read,
                passes: passes.iter().map(|&(what, _)| what).collect(),
            }))
        })?
    }

    /// The compute passes: runs of consecutive steps that count as the same thing, one pass even when there is
    /// no step. When there would be more runs than the query set can time, all steps go in one pass, counted as
    /// networks.
    fn passes(&self) -> Vec<(TimedAs, std::ops::Range<usize>)> {
        let mut runs: Vec<(TimedAs, std::ops::Range<usize>)> = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            match runs.last_mut() {
                Some((what, range)) if *what == step.timed_as => range.end = i + 1,
                _ => runs.push((step.timed_as, i..i + 1)),
            }
        }
        if runs.is_empty() || runs.len() > TIMED_PASSES as usize {
            runs = vec![(TimedAs::Network, 0..self.steps.len())];
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::{split_table, Kernel, Params, Segment, MAX_SEGMENTS};

    #[test]
    fn a_long_segment_table_splits_into_rebased_dispatches_that_cover_every_item_once() {
        // Segments of 0, 1, 2, … items: some empty, at a split too.
        let mut start = 0;
        let segments: Vec<Segment> = (0..2 * MAX_SEGMENTS + 5)
            .map(|i| {
                let s = Segment {
                    start,
                    a: i as u32,
                    ..Default::default()
                };
                start += (i % 3) as u32;
                s
            })
            .collect();
        let params = Params {
            total: start,
            cin: 7,
            ..Default::default()
        };
        let parts = split_table(params, segments.clone());
        assert_eq!(parts.len(), 3);
        let mut covered = 0;
        let mut seen = Vec::new();
        for (p, table) in &parts {
            assert!(table.len() <= MAX_SEGMENTS);
            assert_eq!(p.segments as usize, table.len());
            assert_eq!(p.cin, 7);
            assert_eq!(table[0].start, 0);
            for s in table {
                assert_eq!(s.start + covered, segments[s.a as usize].start);
                seen.push(s.a);
            }
            covered += p.total;
        }
        assert_eq!(covered, start);
        assert_eq!(seen, (0..segments.len() as u32).collect::<Vec<_>>());
        // A short table is one dispatch as it is; nothing to do is none.
        assert_eq!(split_table(params, segments[..3].to_vec()).len(), 1);
        assert!(split_table(Params::default(), segments).is_empty());
    }

    /// Every shader parses and validates with naga, as wgpu will check it, without needing an adapter.
    #[test]
    fn every_shader_is_valid_wgsl() {
        for kernel in Kernel::ALL {
            let source = kernel.source();
            let module = naga::front::wgsl::parse_str(&source)
                .unwrap_or_else(|e| panic!("{kernel:?}: {}", e.emit_to_string(&source)));
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
                .validate(&module)
                .unwrap_or_else(|e| panic!("{kernel:?}: {}", e.emit_to_string(&source)));
            assert!(
                module.entry_points.iter().any(|e| e.name == "main"),
                "{kernel:?} has no main"
            );
        }
    }
}
