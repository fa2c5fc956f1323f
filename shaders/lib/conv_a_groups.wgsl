// Groups of four f32 of an A operand that the including kernel binds (a second time, for the
// strip and tap-row convolutions) as `a4` (array<vec2<u64>>: lib/conv_f32_pairs.wgsl).
//!include conv_f32_pairs.wgsl

// Group i of four f32 of A, zero unless ok (and i inside a4).
fn a_vec(i: i32, ok: bool) -> vec4<f32> {
    let inside = ok && i >= 0 && u32(i) < arrayLength(&a4);
    return select(vec4(0.0), f32x4(a4[select(0u, u32(i), inside)]), inside);
}
