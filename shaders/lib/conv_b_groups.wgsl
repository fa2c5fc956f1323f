// The weight gradient's B operand (dy) for the tap-row kernel (lib/conv_a_tap_rows.wgsl,
// STEPS = 4): the lane's four columns (output channels) at the iteration's four neighbouring
// pixels are one aligned group of four values of dy per column, read as f32 pairs
// (lib/conv_f32_pairs.wgsl) from dy bound again as `b4` (array<vec2<u64>>) and transposed in
// registers: 8 load components per four k steps, where lib/conv_b_steps.wgsl loads 16 scalars.
// The group's pixels lie in one row from a multiple of 4 (the tap-row kernel's k chunks), so
// KPos.dy0 and the columns' plane offsets are multiples of 4.
// Bounds: a group's index is the selected 0 unless its column exists (BCol.valid), the group's
// first step is live, and the index lies inside b4.

//!include conv_b_quad.wgsl
//!include conv_f32_pairs.wgsl

fn b_steps(b: BQuad, k0: KPos, k1: KPos, k2: KPos, k3: KPos) -> BSteps {
    let g0 = b_group(b.c0, k0);
    let g1 = b_group(b.c1, k0);
    let g2 = b_group(b.c2, k0);
    let g3 = b_group(b.c3, k0);
    let live = vec4(k0.live, k1.live, k2.live, k3.live);
    return BSteps(select(vec4(0.0), vec4(g0.x, g1.x, g2.x, g3.x), live.x),
                  select(vec4(0.0), vec4(g0.y, g1.y, g2.y, g3.y), live.y),
                  select(vec4(0.0), vec4(g0.z, g1.z, g2.z, g3.z), live.z),
                  select(vec4(0.0), vec4(g0.w, g1.w, g2.w, g3.w), live.w));
}

// Column c at the four pixels from k0.
fn b_group(c: BCol, k0: KPos) -> vec4<f32> {
    let i = (k0.dy0 + c.off) / 4u;
    let inside = c.valid && k0.live && i < arrayLength(&b4);
    return select(vec4(0.0), f32x4(b4[select(0u, i, inside)]), inside);
}
