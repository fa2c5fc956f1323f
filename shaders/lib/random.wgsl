// Counter-based random numbers: Philox-4x32-10 (Salmon et al., SC'11). The output is a pure
// function of (counter, key), so any element's random number can be recomputed anywhere (the
// dropout backward pass regenerates its mask instead of storing it). src/random.rs mirrors it.
// Reference: random::philox4x32 (src/random.rs)
// Test: kernels-tests/elementwise.rs::philox_matches_known_answers

// High and low 32 bits of a * b, from 16-bit halves (WGSL has no 64-bit integers).
fn mul_hi_lo(a: u32, b: u32) -> vec2u {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + lo_hi;
    let hi = a_hi * b_hi + (hi_lo >> 16u) + (cross >> 16u);
    return vec2u(hi, (cross << 16u) | (lo_lo & 0xffffu));
}

fn philox4x32(counter: vec4u, key: vec2u) -> vec4u {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        let p0 = mul_hi_lo(0xD2511F53u, c.x);
        let p1 = mul_hi_lo(0xCD9E8D57u, c.z);
        c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k += vec2u(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// Uniform in [0, 1) with 24 bits of resolution (exactly representable in f32).
fn unit_float(bits: u32) -> f32 {
    return f32(bits >> 8u) * (1.0 / 16777216.0);
}
