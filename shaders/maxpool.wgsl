// Max-pooling with a square window (`size`, `stride`). Padding as TensorFlow places it ("same": `a`/`b` cells
// before the first row/column, computed by the host per segment; "valid": 0). Cells outside the input never win:
// the padding is −inf, not zero. One work item per output pixel, all its channels: the index arithmetic (integer
// division, which CPUs and software drivers do lane by lane) is paid once a pixel, not once a value.

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
// The same input, four channels a load, when the host says they line up (`u1` = 1: a multiple of 4 channels and of
// 4 floats at every segment's start). Software Vulkan (lavapipe) loads a vec4 for about the price of two floats.
@group(0) @binding(4) var<storage, read> src4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let item = flat_index(gid, groups);
    if (item >= params.total) {
        return;
    }
    let seg = segments[find_segment(item)];
    let c = params.cin;
    var r = item - seg.start;
    let x = r % seg.out_w;
    r = r / seg.out_w;
    let y = r % seg.out_h;
    let n = r / seg.out_h;
    let y0 = u32(max(i32(y * params.stride) - i32(seg.a), 0));
    let y1 = u32(max(min(i32(y * params.stride + params.size) - i32(seg.a), i32(seg.in_h)), 0));
    let x0 = u32(max(i32(x * params.stride) - i32(seg.b), 0));
    let x1 = u32(max(min(i32(x * params.stride + params.size) - i32(seg.b), i32(seg.in_w)), 0));
    let image = seg.in_off + n * seg.in_h * seg.in_w * c;
    let out = seg.out_off + ((n * seg.out_h + y) * seg.out_w + x) * c;
    if (params.u1 != 0u) {
        for (var ch = 0u; ch < c; ch += 4u) {
            var m = vec4<f32>(bitcast<f32>(0xff800000u)); // −inf
            for (var iy = y0; iy < y1; iy++) {
                let row = image + iy * seg.in_w * c + ch;
                for (var ix = x0; ix < x1; ix++) {
                    m = max(m, src4[(row + ix * c) / 4u]);
                }
            }
            for (var i = 0u; i < 4u; i++) {
                dst[out + ch + i] = m[i];
            }
        }
        return;
    }
    for (var ch = 0u; ch < c; ch++) {
        var m = bitcast<f32>(0xff800000u); // −inf
        for (var iy = y0; iy < y1; iy++) {
            let row = image + iy * seg.in_w * c + ch;
            for (var ix = x0; ix < x1; ix++) {
                m = max(m, src[row + ix * c]);
            }
        }
        dst[out + ch] = m;
    }
}
