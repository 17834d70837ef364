// Valid, stride-1 convolution with bias and optional per-channel PReLU fused, over NHWC tensors packed by segment.
// Weights are HWIO with the output channels padded to a multiple of 4, read as vec4: each work item computes four
// output channels of one pixel, so every input value it loads feeds four multiply-adds.

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> weights: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let item = flat_index(gid, groups);
    if (item >= params.total) {
        return;
    }
    let seg = segments[find_segment(item)];
    let groups4 = (params.cout + 3u) / 4u;
    var r = item - seg.start;
    let g = r % groups4;
    r = r / groups4;
    let x = r % seg.out_w;
    r = r / seg.out_w;
    let y = r % seg.out_h;
    let n = r / seg.out_h;

    var acc = vec4<f32>(0.0);
    for (var ky = 0u; ky < params.kh; ky++) {
        for (var kx = 0u; kx < params.kw; kx++) {
            let input = seg.in_off + ((n * seg.in_h + y + ky) * seg.in_w + x + kx) * params.cin;
            let kernel = params.w_off + (ky * params.kw + kx) * params.cin * groups4 + g;
            for (var c = 0u; c < params.cin; c++) {
                acc = acc + src[input + c] * weights[kernel + c * groups4];
            }
        }
    }
    var v = acc + weights[params.b_off + g];
    if (params.prelu != 0u) {
        v = select(weights[params.a_off + g] * v, v, v > vec4<f32>(0.0));
    }
    let out = seg.out_off + ((n * seg.out_h + y) * seg.out_w + x) * params.cout + g * 4u;
    for (var i = 0u; i < 4u; i++) {
        if (g * 4u + i < params.cout) {
            dst[out + i] = v[i];
        }
    }
}
