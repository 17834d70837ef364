// Fully connected layer with bias and optional PReLU: rows of `cin` values times an [cin, cout] matrix whose columns
// are padded to a multiple of 4 and read as vec4. One work item computes four outputs of one row. The rows of a
// segment start at in_off and out_off; `count` is the number of rows.

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
    let r = item - seg.start;
    let g = r % groups4;
    let row = r / groups4;
    let input = seg.in_off + row * params.cin;
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < params.cin; k++) {
        acc = acc + src[input + k] * weights[params.w_off + k * groups4 + g];
    }
    var v = acc + weights[params.b_off + g];
    if (params.prelu != 0u) {
        v = select(weights[params.a_off + g] * v, v, v > vec4<f32>(0.0));
    }
    let out = seg.out_off + row * params.cout + g * 4u;
    for (var i = 0u; i < 4u; i++) {
        if (g * 4u + i < params.cout) {
            dst[out + i] = v[i];
        }
    }
}
