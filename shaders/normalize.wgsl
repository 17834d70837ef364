// Unpacks 8-bit RGB (four bytes a u32) and normalises it as the reference does, (v − 127.5) / 128, once for the
// whole image. One work item per value.

@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups);
    if (i >= params.total) {
        return;
    }
    let seg = segments[find_segment(i)];
    let byte = (src[i / 4u] >> ((i % 4u) * 8u)) & 0xffu;
    dst[seg.out_off + i - seg.start] = (f32(byte) - 127.5) / 128.0;
}
