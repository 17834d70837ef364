// Shared by conv.wgsl and dense.wgsl (prepended by the host after common.wgsl): their bindings, and the fused
// epilogue of a weighted layer: bias already added, then the optional per-channel PReLU, then the store that skips
// the channels padding the weights to a multiple of 8.

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> weights: array<vec4<f32>>;

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
