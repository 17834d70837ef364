// TensorFlow's AREA resize (ResizeArea, align_corners=False) of the normalised image to every pyramid level in one
// dispatch. The per-axis taps come from the host (the same `AreaTaps` the CPU path uses): for output row o,
// taps[ys[o] .. ys[o+1]] are (input row, weight bits) pairs; likewise for columns. One work item per output value.
//   segment: in_* = the image, out_* = the level; a = y starts, b = x starts (u32 offsets into `taps`),
//   e = the normaliser 1/(s_y·s_x) as f32 bits.

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> taps: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let item = flat_index(gid, groups);
    if (item >= params.total) {
        return;
    }
    let seg = segments[find_segment(item)];
    var r = item - seg.start;
    let ch = r % 3u;
    r = r / 3u;
    let ox = r % seg.out_w;
    let oy = r / seg.out_w;
    var acc = 0.0;
    for (var ty = taps[seg.a + oy]; ty < taps[seg.a + oy + 1u]; ty++) {
        let iy = taps[2u * ty];
        let wy = bitcast<f32>(taps[2u * ty + 1u]);
        var row = 0.0;
        for (var tx = taps[seg.b + ox]; tx < taps[seg.b + ox + 1u]; tx++) {
            let ix = taps[2u * tx];
            row = row + src[seg.in_off + (iy * seg.in_w + ix) * 3u + ch] * bitcast<f32>(taps[2u * tx + 1u]);
        }
        acc = acc + row * wy;
    }
    dst[seg.out_off + item - seg.start] = acc * bitcast<f32>(seg.e);
}
