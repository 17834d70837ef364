// Shared by conv.wgsl and dense.wgsl (prepended by the host after common.wgsl): their bindings, where an
// invocation works, and the fused epilogue of a weighted layer (the optional per-channel PReLU after the bias, and
// the store that skips the channels padding the weights to a multiple of 8).

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
// A 64 KiB window of the net's weights: `window_groups` blocks of `group_vec4s` vec4s, one per group of eight
// output channels, each the bias (2 vec4), the PReLU alphas (2), then the group's eight weights (2) per kernel tap
// in HWIO order (see src/gpu/weight_windows.rs). Uniform, not storage: software rasterisers such as lavapipe load
// uniform data several times faster, and every invocation of a workgroup reads the same weights.
@group(0) @binding(4) var<uniform> weights: array<vec4<f32>, 4096>;

// Where an invocation works. A workgroup takes one group of eight output channels (`total` and the segments'
// `start` count workgroups), so its weight reads are uniform; `g` is the group's index in the layer and `w` the
// first vec4 of its block in the window. `block` numbers the invocation's block of pixels (conv) or rows (dense)
// within the segment. `valid` is false for workgroups past the end of the dispatch.
struct Work {
    seg: Segment,
    g: u32,
    w: u32,
    block: u32,
    valid: bool,
}

fn locate(wid: vec3<u32>, groups: vec3<u32>, lane: u32) -> Work {
    var work: Work;
    let workgroup = wid.x + wid.y * groups.x;
    work.valid = workgroup < params.total;
    if (!work.valid) {
        return work;
    }
    work.seg = segments[find_segment(workgroup)];
    let local = workgroup - work.seg.start;
    let in_window = local % params.window_groups;
    work.g = params.first_group + in_window;
    work.w = in_window * params.group_vec4s;
    work.block = (local / params.window_groups) * WORKGROUP + lane;
    return work;
}

// The first vec4 of a group's kernel weights, after its bias and alphas.
fn kernel_start(work: Work) -> u32 {
    return work.w + 4u;
}

// Bias, then PReLU (x if x > 0, else alpha·x) when the layer has one, on half `half` (0 or 1) of the group's
// eight channels.
fn finish(work: Work, half: u32, v: vec4<f32>) -> vec4<f32> {
    let biased = v + weights[work.w + half];
    if (params.prelu != 0u) {
        return select(weights[work.w + 2u + half] * biased, biased, biased > vec4<f32>(0.0));
    }
    return biased;
}

// Writes the channels of `v` that exist (`first_channel + i < cout`) from float `at`.
fn store(at: u32, first_channel: u32, v: vec4<f32>) {
    for (var i = 0u; i < 4u; i++) {
        if (first_channel + i < params.cout) {
            dst[at + i] = v[i];
        }
    }
}
