// TensorFlow's AREA resize (ResizeArea, align_corners=False) of the normalised image to every pyramid level in one
// dispatch. One work item per output pixel, all three channels, so the window is walked once for RGB.
//
// The AREA taps of an output coordinate are consecutive input indices, all weighted 1 except the first and the
// last. The host therefore sends, per output row and per output column, one vec4: (first input index, tap count,
// first tap's weight, last tap's weight), computed exactly as the CPU path computes them. The weights are never
// recomputed here, so no fused multiply-add can change them.
//   segment: one per (image, level); in_* = the image, out_* = the level; a = first row entry, b = first column entry (vec4 offsets into
//   `taps`), e = the normaliser 1/(s_y·s_x) as f32 bits.

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> taps: array<vec4<u32>>;

fn tap_weight(k: u32, t: vec4<u32>) -> f32 {
    if (k == 0u) {
        return bitcast<f32>(t.z);
    }
    if (k + 1u == t.y) {
        return bitcast<f32>(t.w);
    }
    return 1.0;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let item = flat_index(gid, groups);
    if (item >= params.total) {
        return;
    }
    let seg = &segments[find_segment(item)];
    let r = item - (*seg).start;
    let out_w = (*seg).out_w;
    let ox = r % out_w;
    let oy = r / out_w;
    let ty = taps[(*seg).a + oy];
    let tx = taps[(*seg).b + ox];
    let in_w = (*seg).in_w;
    let last_x = in_w - 1u;
    let last_y = (*seg).in_h - 1u;
    var acc = vec3<f32>(0.0);
    for (var ky = 0u; ky < ty.y; ky++) {
        // Float rounding can put a last tap one past the edge; the CPU path clamps it the same way.
        let line = min(ty.x + ky, last_y) * in_w;
        var row = vec3<f32>(0.0);
        for (var kx = 0u; kx < tx.y; kx++) {
            let p = (*seg).in_off + (line + min(tx.x + kx, last_x)) * 3u;
            let v = vec3<f32>(src[p], src[p + 1u], src[p + 2u]);
            row = row + v * tap_weight(kx, tx);
        }
        acc = acc + row * tap_weight(ky, ty);
    }
    let o = (*seg).out_off + r * 3u;
    let k = bitcast<f32>((*seg).e);
    dst[o] = acc.x * k;
    dst[o + 1u] = acc.y * k;
    dst[o + 2u] = acc.z * k;
}
