// AREA resize, pass 2: the row sums of pass 1 summed over each output row's taps and scaled by the normaliser,
// for every pyramid level in one dispatch. One work item per output pixel, all three channels.
//   segment: one per (image, level); in_off = the level's first float in the row sums, in_h = the image's
//   height, out_* = the level; a = the first row entry in `taps`, e = the normaliser 1/(s_y·s_x) as f32 bits.

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
    let last_y = (*seg).in_h - 1u;
    var acc = vec3<f32>(0.0);
    for (var ky = 0u; ky < ty.y; ky++) {
        let p = (*seg).in_off + (min(ty.x + ky, last_y) * out_w + ox) * 3u;
        acc = acc + vec3<f32>(src[p], src[p + 1u], src[p + 2u]) * tap_weight(ky, ty);
    }
    let o = (*seg).out_off + r * 3u;
    let k = bitcast<f32>((*seg).e);
    dst[o] = acc.x * k;
    dst[o + 1u] = acc.y * k;
    dst[o + 2u] = acc.z * k;
}
