// Valid, stride-1 convolution with bias and optional per-channel PReLU fused, over NHWC tensors packed by segment.
// Weights are HWIO with the output channels padded to a multiple of 8. Each invocation computes a block of four
// neighbouring output pixels × eight output channels: every input value it loads feeds eight multiply-adds and
// every weight four. A workgroup works on one group of eight channels (`total`, `start` count workgroups), so the
// weight reads are uniform across it: one load serves all its invocations.

const PIXELS: u32 = 4u;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let workgroup = wid.x + wid.y * groups.x;
    if (workgroup >= params.total) {
        return;
    }
    let seg = segments[find_segment(workgroup)];
    let groups8 = (params.cout + 7u) / 8u;
    let blocks = (seg.out_w + PIXELS - 1u) / PIXELS;
    let local = workgroup - seg.start;
    let g = local % groups8;
    var r = (local / groups8) * WORKGROUP + lane;
    if (r >= seg.count * seg.out_h * blocks) {
        return;
    }
    let x0 = (r % blocks) * PIXELS;
    r = r / blocks;
    let y = r % seg.out_h;
    let n = r / seg.out_h;

    let row_vec4s = groups8 * 2u;
    let cin = params.cin;
    // Pixels past the right edge read the last column; their results are not stored.
    let last = seg.out_w - 1u;
    var a0 = vec4<f32>(0.0); var b0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    for (var ky = 0u; ky < params.kh; ky++) {
        let row = (n * seg.in_h + y + ky) * seg.in_w;
        for (var kx = 0u; kx < params.kw; kx++) {
            let i0 = seg.in_off + (row + min(x0, last) + kx) * cin;
            let i1 = seg.in_off + (row + min(x0 + 1u, last) + kx) * cin;
            let i2 = seg.in_off + (row + min(x0 + 2u, last) + kx) * cin;
            let i3 = seg.in_off + (row + min(x0 + 3u, last) + kx) * cin;
            var k = params.w_off + (ky * params.kw + kx) * cin * row_vec4s + g * 2u;
            for (var c = 0u; c < cin; c++) {
                let wa = weights[k];
                let wb = weights[k + 1u];
                k += row_vec4s;
                let v0 = src[i0 + c];
                let v1 = src[i1 + c];
                let v2 = src[i2 + c];
                let v3 = src[i3 + c];
                a0 += v0 * wa; b0 += v0 * wb;
                a1 += v1 * wa; b1 += v1 * wb;
                a2 += v2 * wa; b2 += v2 * wb;
                a3 += v3 * wa; b3 += v3 * wb;
            }
        }
    }
    let bias_a = weights[params.b_off + g * 2u];
    let bias_b = weights[params.b_off + g * 2u + 1u];
    let alpha = params.a_off + g * 2u;
    let channel = g * 8u;
    let out = seg.out_off + ((n * seg.out_h + y) * seg.out_w + x0) * params.cout + channel;
    let accs_a = array<vec4<f32>, 4>(a0, a1, a2, a3);
    let accs_b = array<vec4<f32>, 4>(b0, b1, b2, b3);
    for (var p = 0u; p < PIXELS; p++) {
        if (x0 + p < seg.out_w) {
            let at = out + p * params.cout;
            store(at, channel, activate(accs_a[p] + bias_a, alpha));
            store(at + 4u, channel + 4u, activate(accs_b[p] + bias_b, alpha + 1u));
        }
    }
}
