// Max-pooling with a square window (`size`, `stride`). Padding as TensorFlow places it ("same": `a`/`b` cells
// before the first row/column, computed by the host per segment; "valid": 0). Cells outside the input never win:
// the padding is −inf, not zero. One work item per output value.

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let item = flat_index(gid, groups);
    if (item >= params.total) {
        return;
    }
    let seg = segments[find_segment(item)];
    let c = params.cin;
    var r = item - seg.start;
    let ch = r % c;
    r = r / c;
    let x = r % seg.out_w;
    r = r / seg.out_w;
    let y = r % seg.out_h;
    let n = r / seg.out_h;
    let y0 = max(i32(y * params.stride) - i32(seg.a), 0);
    let y1 = min(i32(y * params.stride + params.size) - i32(seg.a), i32(seg.in_h));
    let x0 = max(i32(x * params.stride) - i32(seg.b), 0);
    let x1 = min(i32(x * params.stride + params.size) - i32(seg.b), i32(seg.in_w));
    var m = bitcast<f32>(0xff800000u); // −inf
    for (var iy = y0; iy < y1; iy++) {
        for (var ix = x0; ix < x1; ix++) {
            m = max(m, src[seg.in_off + ((n * seg.in_h + u32(iy)) * seg.in_w + u32(ix)) * c + ch]);
        }
    }
    dst[seg.out_off + ((n * seg.out_h + y) * seg.out_w + x) * c + ch] = m;
}
