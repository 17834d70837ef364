// tf.image.crop_and_resize (bilinear, extrapolation 0 = grey) of the normalised image into size×size RGB crops,
// for R-Net (24) and O-Net (48). Boxes are [y1, x1, y2, x2] divided by the image size, as TensorFlow receives
// them; samples run from y1·(H−1) to y2·(H−1). One work item per output pixel, its three channels: the index
// arithmetic (integer division, lane by lane on CPUs and software drivers) and the sample positions are paid once
// a pixel, not once a value.
//   segment: one per run of boxes from the same image; in_* = that image, a = the run's first box in `boxes`,
//   out_off = its first output value, start = its first output pixel.

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> boxes: array<vec4<f32>>;

fn sample_position(c1: f32, c2: f32, extent: u32, i: u32, crop: u32) -> f32 {
    let last = f32(extent - 1u);
    if (crop > 1u) {
        return c1 * last + f32(i) * ((c2 - c1) * last / f32(crop - 1u));
    }
    return 0.5 * (c1 + c2) * last;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let item = flat_index(gid, groups);
    if (item >= params.total) {
        return;
    }
    let seg = segments[find_segment(item)];
    let crop = params.size;
    let pixel = item - seg.start;
    var r = pixel;
    let q = r % crop;
    r = r / crop;
    let row = r % crop;
    let b = r / crop;
    let box = boxes[seg.a + b];
    let py = sample_position(box.x, box.z, seg.in_h, row, crop);
    let px = sample_position(box.y, box.w, seg.in_w, q, crop);
    var v = vec3<f32>(0.0);
    if (!(py < 0.0 || py > f32(seg.in_h - 1u) || px < 0.0 || px > f32(seg.in_w - 1u))) {
        let top = u32(floor(py));
        let bottom = min(u32(ceil(py)), seg.in_h - 1u);
        let left = u32(floor(px));
        let right = min(u32(ceil(px)), seg.in_w - 1u);
        let ly = py - floor(py);
        let lx = px - floor(px);
        let tl = rgb(seg.in_off + (top * seg.in_w + left) * 3u);
        let tr = rgb(seg.in_off + (top * seg.in_w + right) * 3u);
        let bl = rgb(seg.in_off + (bottom * seg.in_w + left) * 3u);
        let br = rgb(seg.in_off + (bottom * seg.in_w + right) * 3u);
        let t = tl + (tr - tl) * lx;
        let bo = bl + (br - bl) * lx;
        v = t + (bo - t) * ly;
    }
    let o = seg.out_off + pixel * 3u;
    dst[o] = v.x;
    dst[o + 1u] = v.y;
    dst[o + 2u] = v.z;
}

// The three channels of the pixel at float `at`.
fn rgb(at: u32) -> vec3<f32> {
    return vec3<f32>(src[at], src[at + 1u], src[at + 2u]);
}
