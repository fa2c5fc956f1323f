// f32 read in pairs, one u64 each, for the strip and tap-row convolutions and Winograd's GEMMs
// on the subgroup core (whose forward GEMM also writes its products so): lavapipe turns each
// load into a loop over its SIMD lanes with a branch and an insert per lane and per component,
// so a load costs its number of components, whatever their width, and a group of four f32 as
// two u64 costs half a vec4<f32>. lib/conv_a_groups.wgsl reads an A operand bound as `a4`
// (array<vec2<u64>>: four f32 each) in groups of four.

// Two f32 from one u64, little-endian: the first value in its low half.
fn f32x2(v: u64) -> vec2<f32> {
    return vec2(bitcast<f32>(u32(v & 0xFFFFFFFFlu)), bitcast<f32>(u32(v >> 32u)));
}

// Four f32 from two u64.
fn f32x4(v: vec2<u64>) -> vec4<f32> { return vec4(f32x2(v.x), f32x2(v.y)); }

// Four f32 as two u64, the inverse of f32x4.
fn f32_pairs(v: vec4<f32>) -> vec2<u64> {
    let b = bitcast<vec4<u32>>(v);
    return vec2(u64(b.x) | (u64(b.y) << 32u), u64(b.z) | (u64(b.w) << 32u));
}
