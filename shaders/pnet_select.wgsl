// P-Net's output heads → candidates: the float32 softmax of the two face logits, the strict threshold test, and
// compaction of the cells that pass into a short list, so that only those come back to the CPU. Input: per level,
// 6 values a cell (4 box regressions, 2 logits). Output: a counter, then 8 words a record: level, row, column,
// score, dx1, dy1, dx2, dy2 (floats as bits). The order of records is arbitrary; the host sorts them.

struct Candidates {
    count: atomic<u32>,
    records: array<u32>,
}

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: Candidates;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let item = flat_index(gid, groups);
    if (item >= params.total) {
        return;
    }
    let level = find_segment(item);
    let seg = segments[level];
    let cell = item - seg.start;
    let at = seg.in_off + cell * 6u;
    let z0 = src[at + 4u];
    let z1 = src[at + 5u];
    let m = max(z0, z1);
    let e0 = exp(z0 - m);
    let e1 = exp(z1 - m);
    let p = e1 * (1.0 / (e0 + e1));
    if (p > params.f0) {
        let slot = atomicAdd(&dst.count, 1u);
        if (slot < params.u0) {
            let o = slot * 8u;
            dst.records[o] = seg.a;
            dst.records[o + 1u] = cell / seg.out_w;
            dst.records[o + 2u] = cell % seg.out_w;
            dst.records[o + 3u] = bitcast<u32>(p);
            for (var i = 0u; i < 4u; i++) {
                dst.records[o + 4u + i] = bitcast<u32>(src[at + i]);
            }
        }
    }
}
