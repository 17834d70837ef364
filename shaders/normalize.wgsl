// Unpacks 8-bit RGB (four bytes a u32) and normalises it as the reference does, (v − 127.5) / 128, once for
// each whole image. One work item per u32 word, so four values: few work items keep a software rasteriser's
// per-item overhead down (one value a work item took about seven times as long on lavapipe at 1080p).
//   segment: one per image; in_off = its first u32 word in the uploaded bytes (each image starts on a word),
//   out_off = its first float, start = its first work item (= in_off), a = its values (width × height × 3).

@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups);
    if (i >= params.total) {
        return;
    }
    let seg = &segments[find_segment(i)];
    let word = i - (*seg).start;
    let packed = src[(*seg).in_off + word];
    let first = word * 4u;
    let values = min((*seg).a - first, 4u);
    for (var k = 0u; k < values; k++) {
        let byte = (packed >> (k * 8u)) & 0xffu;
        dst[(*seg).out_off + first + k] = (f32(byte) - 127.5) / 128.0;
    }
}
