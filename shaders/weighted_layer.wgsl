// Shared by conv.wgsl and dense.wgsl (prepended by the host after common.wgsl): their bindings, where an
// invocation works, and the fused epilogue of a weighted layer (the optional per-channel PReLU after the bias, and
// the store that skips the channels padding the weights to a multiple of 8).

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> weights: array<vec4<f32>>;

// Where an invocation works. A workgroup takes one group of eight output channels (`total` and the segments'
// `start` count workgroups), so its weight reads are uniform; `block` numbers the invocation's block of pixels
// (conv) or rows (dense) within the segment. `valid` is false for workgroups past the end of the dispatch.
struct Work {
    seg: Segment,
    g: u32,
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
    let groups8 = (params.cout + 7u) / 8u;
    let local = workgroup - work.seg.start;
    work.g = local % groups8;
    work.block = (local / groups8) * WORKGROUP + lane;
    return work;
}

// PReLU (x if x > 0, else alpha·x) with the alphas at vec4 `alpha_at`, when the layer has one.
fn activate(v: vec4<f32>, alpha_at: u32) -> vec4<f32> {
    if (params.prelu != 0u) {
        return select(weights[alpha_at] * v, v, v > vec4<f32>(0.0));
    }
    return v;
}

// Writes the channels of `v` that exist (`first_channel + i < cout`) from float `at`.
fn store(at: u32, first_channel: u32, v: vec4<f32>) {
    for (var i = 0u; i < 4u; i++) {
        if (first_channel + i < params.cout) {
            dst[at + i] = v[i];
        }
    }
}
