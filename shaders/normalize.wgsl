// Unpacks 8-bit RGB (four bytes a u32) and normalises it as the reference does, (v − 127.5) / 128, once for
// each whole image. One work item per value.
//   segment: one per image; in_off = its first u32 word in the uploaded bytes (each image starts on a word),
//   out_off = its first float, start = its first work item.

@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups);
    if (i >= params.total) {
        return;
    }
    let seg = &segments[find_segment(i)];
    let local = i - (*seg).start;
    let at = (*seg).in_off * 4u + local;
    let byte = (src[at / 4u] >> ((at % 4u) * 8u)) & 0xffu;
    dst[(*seg).out_off + local] = (f32(byte) - 127.5) / 128.0;
}
