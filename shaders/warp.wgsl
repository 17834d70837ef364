// Face alignment: warps the 8-bit RGB image into size×size crops, one per face, each through its inverse
// similarity (crop pixel → image position), with bilinear sampling and black outside the image, as the CPU warp
// (align/warp.rs) does. One work item per crop pixel; each writes one u32 (r | g << 8 | b << 16).
//   segment 0: in_h, in_w = the image; params.size = the crop side, params.total = faces · size².
//   transforms: per face (a, b, tx, ty) of x' = a·x − b·y + tx, y' = b·x + a·y + ty.

@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;
@group(0) @binding(4) var<storage, read> transforms: array<vec4<f32>>;

// Channel c of pixel (x, y), or black outside the image.
fn texel(x: i32, y: i32, w: i32, h: i32) -> vec3<f32> {
    if (x < 0 || y < 0 || x >= w || y >= h) {
        return vec3<f32>(0.0);
    }
    let at = u32(y * w + x) * 3u;
    var v = vec3<f32>(0.0);
    for (var c = 0u; c < 3u; c++) {
        let byte = at + c;
        v[c] = f32((src[byte / 4u] >> ((byte % 4u) * 8u)) & 0xffu);
    }
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let item = flat_index(gid, groups);
    if (item >= params.total) {
        return;
    }
    let size = params.size;
    let face = item / (size * size);
    let pixel = item % (size * size);
    let t = transforms[face];
    let cx = f32(pixel % size);
    let cy = f32(pixel / size);
    let x = t.x * cx - t.y * cy + t.z;
    let y = t.y * cx + t.x * cy + t.w;
    let w = i32(segments[0].in_w);
    let h = i32(segments[0].in_h);
    let x0 = floor(x);
    let y0 = floor(y);
    let fx = x - x0;
    let fy = y - y0;
    var v = vec3<f32>(0.0);
    // Far outside the image every neighbour is black; the test also keeps the integer conversion in range.
    if (x0 > -2.0 && y0 > -2.0 && x0 < f32(w) + 1.0 && y0 < f32(h) + 1.0) {
        let ix = i32(x0);
        let iy = i32(y0);
        let tl = texel(ix, iy, w, h);
        let tr = texel(ix + 1, iy, w, h);
        let bl = texel(ix, iy + 1, w, h);
        let br = texel(ix + 1, iy + 1, w, h);
        let top = tl + (tr - tl) * fx;
        let bottom = bl + (br - bl) * fx;
        v = top + (bottom - top) * fy;
    }
    // Half away from zero, as Rust's f32::round on the CPU.
    let q = vec3<u32>(clamp(floor(v + 0.5), vec3<f32>(0.0), vec3<f32>(255.0)));
    dst[item] = q.x | (q.y << 8u) | (q.z << 16u);
}
