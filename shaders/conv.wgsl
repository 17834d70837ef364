// Valid, stride-1 convolution with bias and optional per-channel PReLU fused, over NHWC tensors packed by segment.
// Weights come in a uniform window, a block per group of eight output channels (see weighted_layer.wgsl). Each
// invocation computes a block of four neighbouring output pixels × eight output channels: every input value it
// loads feeds eight multiply-adds and every weight four. See `locate` in weighted_layer.wgsl for how work is split.

const PIXELS: u32 = 4u;

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
    let blocks = (seg.out_w + PIXELS - 1u) / PIXELS;
    var r = work.block;
    if (r >= seg.count * seg.out_h * blocks) {
        return;
    }
    let x0 = (r % blocks) * PIXELS;
    r = r / blocks;
    let y = r % seg.out_h;
    let n = r / seg.out_h;

    let cin = params.cin;
    // A sliding window over the input row: the four pixels' windows for kx = 0, 1, 2 start in columns x0 .. x0 + 2,
    // so 4 + kw − 1 input values serve all 4·kw taps (kernels up to 3 wide: all of MTCNN's). Columns past the
    // right edge are clamped; they only feed pixels whose results are not stored.
    let in_last = seg.in_w - 1u;
    let kx_stride = cin * 2u;
    var a0 = vec4<f32>(0.0); var b0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    for (var ky = 0u; ky < params.kh; ky++) {
        let row = seg.in_off + (n * seg.in_h + y + ky) * seg.in_w * cin;
        let c0 = row + min(x0, in_last) * cin;
        let c1 = row + min(x0 + 1u, in_last) * cin;
        let c2 = row + min(x0 + 2u, in_last) * cin;
        let c3 = row + min(x0 + 3u, in_last) * cin;
        let c4 = row + min(x0 + 4u, in_last) * cin;
        let c5 = row + min(x0 + 5u, in_last) * cin;
        var k = kernel_start(work) + ky * params.kw * kx_stride;
        for (var c = 0u; c < cin; c++) {
            let v0 = src[c0 + c];
            let v1 = src[c1 + c];
            let v2 = src[c2 + c];
            let v3 = src[c3 + c];
            var wa = weights[k];
            var wb = weights[k + 1u];
            a0 += v0 * wa; b0 += v0 * wb;
            a1 += v1 * wa; b1 += v1 * wb;
            a2 += v2 * wa; b2 += v2 * wb;
            a3 += v3 * wa; b3 += v3 * wb;
            if (params.kw > 1u) {
                let v4 = src[c4 + c];
                wa = weights[k + kx_stride];
                wb = weights[k + kx_stride + 1u];
                a0 += v1 * wa; b0 += v1 * wb;
                a1 += v2 * wa; b1 += v2 * wb;
                a2 += v3 * wa; b2 += v3 * wb;
                a3 += v4 * wa; b3 += v4 * wb;
                if (params.kw > 2u) {
                    let v5 = src[c5 + c];
                    wa = weights[k + 2u * kx_stride];
                    wb = weights[k + 2u * kx_stride + 1u];
                    a0 += v2 * wa; b0 += v2 * wb;
                    a1 += v3 * wa; b1 += v3 * wb;
                    a2 += v4 * wa; b2 += v4 * wb;
                    a3 += v5 * wa; b3 += v5 * wb;
                }
            }
            k += 2u;
        }
    }
    let channel = g * 8u;
    let out = seg.out_off + ((n * seg.out_h + y) * seg.out_w + x0) * params.cout + channel;
    let accs_a = array<vec4<f32>, 4>(a0, a1, a2, a3);
    let accs_b = array<vec4<f32>, 4>(b0, b1, b2, b3);
    for (var p = 0u; p < PIXELS; p++) {
        if (x0 + p < seg.out_w) {
            let at = out + p * params.cout;
            store(at, channel, finish(work, 0u, accs_a[p]));
            store(at + 4u, channel + 4u, finish(work, 1u, accs_b[p]));
        }
    }
}
