// Fully connected layer with bias and optional PReLU: rows of `cin` values times a [cin, cout] matrix, whose eight
// columns of a channel group come from the uniform weight window (see weighted_layer.wgsl). Each invocation
// computes four rows × eight outputs, so every input value feeds eight multiply-adds and every weight four (see
// `locate` in weighted_layer.wgsl for how work is split). A segment's `count` is its number of rows.

const ROWS: u32 = 4u;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let work = locate(wid, groups, lane);
    if (!work.valid) {
        return;
    }
    let seg = work.seg;
    let g = work.g;
    let row0 = work.block * ROWS;
    if (row0 >= seg.count) {
        return;
    }
    let last = seg.count - 1u;
    let cin = params.cin;
    // Rows past the end read the last row; their results are not stored.
    let i0 = seg.in_off + min(row0, last) * cin;
    let i1 = seg.in_off + min(row0 + 1u, last) * cin;
    let i2 = seg.in_off + min(row0 + 2u, last) * cin;
    let i3 = seg.in_off + min(row0 + 3u, last) * cin;
    var a0 = vec4<f32>(0.0); var b0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    var k = kernel_start(work);
    // Four input values a trip: on a real GPU one invocation's loop is a chain of memory latencies, and four
    // independent loads in flight per trip shorten it. The sums keep the CPU's order.
    var c = 0u;
    for (; c + 4u <= cin; c += 4u) {
        let x0 = vec4<f32>(src[i0 + c], src[i0 + c + 1u], src[i0 + c + 2u], src[i0 + c + 3u]);
        let x1 = vec4<f32>(src[i1 + c], src[i1 + c + 1u], src[i1 + c + 2u], src[i1 + c + 3u]);
        let x2 = vec4<f32>(src[i2 + c], src[i2 + c + 1u], src[i2 + c + 2u], src[i2 + c + 3u]);
        let x3 = vec4<f32>(src[i3 + c], src[i3 + c + 1u], src[i3 + c + 2u], src[i3 + c + 3u]);
        let wa0 = weights[k];
        let wb0 = weights[k + 1u];
        k += 2u;
        let wa1 = weights[k];
        let wb1 = weights[k + 1u];
        k += 2u;
        let wa2 = weights[k];
        let wb2 = weights[k + 1u];
        k += 2u;
        let wa3 = weights[k];
        let wb3 = weights[k + 1u];
        k += 2u;
        a0 += x0.x * wa0; b0 += x0.x * wb0;
        a1 += x1.x * wa0; b1 += x1.x * wb0;
        a2 += x2.x * wa0; b2 += x2.x * wb0;
        a3 += x3.x * wa0; b3 += x3.x * wb0;
        a0 += x0.y * wa1; b0 += x0.y * wb1;
        a1 += x1.y * wa1; b1 += x1.y * wb1;
        a2 += x2.y * wa1; b2 += x2.y * wb1;
        a3 += x3.y * wa1; b3 += x3.y * wb1;
        a0 += x0.z * wa2; b0 += x0.z * wb2;
        a1 += x1.z * wa2; b1 += x1.z * wb2;
        a2 += x2.z * wa2; b2 += x2.z * wb2;
        a3 += x3.z * wa2; b3 += x3.z * wb2;
        a0 += x0.w * wa3; b0 += x0.w * wb3;
        a1 += x1.w * wa3; b1 += x1.w * wb3;
        a2 += x2.w * wa3; b2 += x2.w * wb3;
        a3 += x3.w * wa3; b3 += x3.w * wb3;
    }
    for (; c < cin; c++) {
        let wa = weights[k];
        let wb = weights[k + 1u];
        k += 2u;
        let v0 = src[i0 + c];
        let v1 = src[i1 + c];
        let v2 = src[i2 + c];
        let v3 = src[i3 + c];
        a0 += v0 * wa; b0 += v0 * wb;
        a1 += v1 * wa; b1 += v1 * wb;
        a2 += v2 * wa; b2 += v2 * wb;
        a3 += v3 * wa; b3 += v3 * wb;
    }
    let output = g * 8u;
    let accs_a = array<vec4<f32>, 4>(a0, a1, a2, a3);
    let accs_b = array<vec4<f32>, 4>(b0, b1, b2, b3);
    for (var p = 0u; p < ROWS; p++) {
        if (row0 + p < seg.count) {
            let at = seg.out_off + (row0 + p) * params.cout + output;
            store(at, output, finish(work, 0u, accs_a[p]));
            store(at + 4u, output + 4u, finish(work, 1u, accs_b[p]));
        }
    }
}
