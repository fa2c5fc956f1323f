// f32 read in pairs, one u64 each, for the strip and tap-row convolutions and Winograd's GEMM
// on the subgroup core (which also writes its products so): lavapipe turns each load into a
// loop over its SIMD lanes with a branch and an insert per lane and per component, so a load
// costs its number of components, whatever their width, and a group of four f32 as two u64
// costs half a vec4<f32>. The including kernel binds its A operand (a second time, for the
// strip kernels) as `a4` (array<vec2<u64>>: four f32 each).

// Four f32 from two u64, little-endian: the first value in each u64's low half.
fn f32x4(v: vec2<u64>) -> vec4<f32> {
    return vec4(bitcast<f32>(u32(v.x & 0xFFFFFFFFlu)), bitcast<f32>(u32(v.x >> 32u)),
                bitcast<f32>(u32(v.y & 0xFFFFFFFFlu)), bitcast<f32>(u32(v.y >> 32u)));
}

// Four f32 as two u64, the inverse of f32x4.
fn f32_pairs(v: vec4<f32>) -> vec2<u64> {
    let b = bitcast<vec4<u32>>(v);
    return vec2(u64(b.x) | (u64(b.y) << 32u), u64(b.z) | (u64(b.w) << 32u));
}

// Group i of four f32 of A, zero unless ok (and i inside a4).
fn a_vec(i: i32, ok: bool) -> vec4<f32> {
    let inside = ok && i >= 0 && u32(i) < arrayLength(&a4);
    return select(vec4(0.0), f32x4(a4[select(0u, u32(i), inside)]), inside);
}
