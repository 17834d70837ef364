// AREA resize, pass 1: every input row of the image summed over each output column's taps, for every pyramid
// level in one dispatch. One work item per (band of `params.size` input rows, output column), all three
// channels: the column's taps are read once for the band, and few work items keep a software rasteriser's
// per-item overhead down (one row a work item took about a quarter longer on lavapipe at 1080p).
//   segment: one per (image, level); in_* = the image, out_w = the level's width, out_off = the level's first
//   float in the row sums (in_h × out_w × 3 of them), b = the first column entry in `taps`.

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
    let first_row = (r / out_w) * params.size;
    let rows = min(params.size, (*seg).in_h - first_row);
    let tx = taps[(*seg).b + ox];
    let in_w = (*seg).in_w;
    // Float rounding can put a last tap one past the edge; the CPU path clamps it the same way.
    let last_x = in_w - 1u;
    for (var i = 0u; i < rows; i++) {
        let iy = first_row + i;
        let line = (*seg).in_off + iy * in_w * 3u;
        var row = vec3<f32>(0.0);
        for (var kx = 0u; kx < tx.y; kx++) {
            let p = line + min(tx.x + kx, last_x) * 3u;
            row = row + vec3<f32>(src[p], src[p + 1u], src[p + 2u]) * tap_weight(kx, tx);
        }
        let o = (*seg).out_off + (iy * out_w + ox) * 3u;
        dst[o] = row.x;
        dst[o + 1u] = row.y;
        dst[o + 2u] = row.z;
    }
}
