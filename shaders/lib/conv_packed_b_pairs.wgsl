// Group i of four f32 of the packed weight for lib/conv_packed_b.wgsl, read as f32 pairs
// (lib/conv_f32_pairs.wgsl) from the packed weight bound again as `wp8` (array<vec2<u64>>) by
// the strip kernels.

//!include conv_f32_pairs.wgsl

fn packed_b(i: u32) -> vec4<f32> { return f32x4(wp8[i]); }
