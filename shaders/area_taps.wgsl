// Shared by the two passes of TensorFlow's AREA resize (ResizeArea, align_corners=False), prepended by the host
// after common.wgsl: the bindings and the taps.
//
// The AREA taps of an output coordinate are consecutive input indices, all weighted 1 except the first and the
// last. The host therefore sends, per output row and per output column, one vec4: (first input index, tap count,
// first tap's weight, last tap's weight), computed exactly as the CPU path computes them. The weights are never
// recomputed here, so no fused multiply-add can change them. Like the CPU path, the resize sums each input row
// over the column taps first (resize_rows.wgsl), then those sums over the row taps (resize_columns.wgsl): the same
// float32 sums in the same order, and short loops even where a small level's window spans a hundred pixels.

@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> taps: array<vec4<u32>>;

fn tap_weight(k: u32, t: vec4<u32>) -> f32 {
    if (k == 0u) {
        return bitcast<f32>(t.z);
    }
    if (k + 1u == t.y) {
        return bitcast<f32>(t.w);
    }
    return 1.0;
}
