// R-Net and O-Net output heads: each row holds the box regression (and O-Net's landmarks) followed by the two face
// logits. The float32 softmax replaces the last logit with the face probability, in place. One work item per row;
// `cout` is the row length.

@group(0) @binding(3) var<storage, read_write> rows: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let item = flat_index(gid, groups);
    if (item >= params.total) {
        return;
    }
    let seg = segments[find_segment(item)];
    let at = seg.out_off + (item - seg.start) * params.cout;
    let z0 = rows[at + params.cout - 2u];
    let z1 = rows[at + params.cout - 1u];
    let m = max(z0, z1);
    let e0 = exp(z0 - m);
    let e1 = exp(z1 - m);
    rows[at + params.cout - 1u] = e1 * (1.0 / (e0 + e1));
}
