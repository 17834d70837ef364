// Shared by every kernel (prepended by the host): the parameter block, the segment table and the flat index.
//
// A dispatch covers several "segments" (pyramid levels, or one batch of crops) packed in the same buffers. Each
// segment says where its input and output start and how large they are; `start` is the first flat work item of
// the segment, so one pipeline serves every level and batch size, and one dispatch covers them all.

struct Segment {
    count: u32,   // images in the segment (1 for a pyramid level, the batch size for crops)
    in_h: u32,
    in_w: u32,
    in_off: u32,  // first float of the input
    out_h: u32,
    out_w: u32,
    out_off: u32, // first float of the output
    start: u32,   // first flat work item
    a: u32,       // kernel-specific extras
    b: u32,
    c: u32,
    d: u32,
    e: u32,
    f: u32,
    g: u32,
    h: u32,
}

struct Params {
    segments: u32,
    total: u32,   // work items in the dispatch
    cin: u32,
    cout: u32,
    kh: u32,
    kw: u32,
    prelu: u32,   // 1: PReLU after the bias
    group_vec4s: u32,   // conv, dense: vec4s of one channel group's weights
    first_group: u32,   // conv, dense: the first channel group in the weight window
    window_groups: u32, // conv, dense: channel groups in the weight window
    size: u32,    // pool window or crop size
    stride: u32,
    f0: f32,      // threshold
    u0: u32,      // capacity
    u1: u32,
    u2: u32,
}

// The segment table is uniform, not storage: software Vulkan (lavapipe) loads uniform data several times faster,
// and every work item reads its segment. One 64 KiB binding holds 1024 segments; the host splits longer tables
// into several dispatches.
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> segments: array<Segment, 1024>;

const WORKGROUP: u32 = 64u;

// Dispatches wider than 65535 workgroups spill into y.
fn flat_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WORKGROUP;
}

// The segment holding flat work item `item`: the last one whose `start` is not past it (segments are sorted by
// `start`). A binary search, so that a batch of many images stays cheap.
fn find_segment(item: u32) -> u32 {
    var lo = 0u;
    var hi = params.segments;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (segments[mid].start <= item) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}
