// f32 read in pairs, one u64 each, for the strip kernels: lavapipe turns each load into a loop
// over its SIMD lanes with a branch and an insert per lane and per component, so a load costs
// its number of components, whatever their width, and a group of four f32 as two u64 costs
// half a vec4<f32>. The including kernel binds the packed weight again as `wp8`
// (array<vec2<u64>>).

// Four f32 from two u64, little-endian: the first value in each u64's low half.
fn f32x4(v: vec2<u64>) -> vec4<f32> {
    return vec4(bitcast<f32>(u32(v.x & 0xFFFFFFFFlu)), bitcast<f32>(u32(v.x >> 32u)),
                bitcast<f32>(u32(v.y & 0xFFFFFFFFlu)), bitcast<f32>(u32(v.y >> 32u)));
}

// Group i of the packed weight for lib/conv_packed_b.wgsl.
fn packed_b(i: u32) -> vec4<f32> { return f32x4(wp8[i]); }
