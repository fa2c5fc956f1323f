// The bindings and per-plane setup shared by the batch-norm kernels that walk their (sample,
// channel) planes with each plane's slot's statistics and parameters (bn_apply,
// bn_backward_plane_sums, bn_backward_input), in items of LANES values (lib/bn_walk.wgsl).
// Bindings 0 params (uniform, lib/bn_routing.wgsl), 1 x, 2 mask, 3 stats, 4 gamma0, 5 gamma1,
// 6 beta0, 7 beta1 (read); the including kernel binds its own from 8 on (src/ops/norm.rs binds
// them in this order).
// Bounds: plane_at(plane) for plane < n·c reads γ/β at c < C and the statistics at < 4C (slots
// 0 or 1: lib/bn_routing.wgsl clamps the mask, read at sample < N).

//!include bn_walk.wgsl
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<actv>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> gamma0: array<f32>;
@group(0) @binding(5) var<storage, read> gamma1: array<f32>;
@group(0) @binding(6) var<storage, read> beta0: array<f32>;
@group(0) @binding(7) var<storage, read> beta1: array<f32>;

//!include bn_routing.wgsl

// What is the same for every value of a plane: read once per thread, not per element.
struct Plane {
    sample: u32,
    c: u32,
    slot: u32,
    gamma: f32,
    beta: f32,
    mean: f32,
    invstd: f32,
}

fn plane_at(plane: u32) -> Plane {
    let c = plane % p.c;
    let s = slot_of(plane / p.c);
    return Plane(plane / p.c, c, s, select(gamma0[c], gamma1[c], s == 1u),
                 select(beta0[c], beta1[c], s == 1u), mean_of(s, c), invstd_of(s, c));
}

// The normalized, scaled and shifted value of input xv given its slot and channel's mean_of,
// invstd_of, gamma and beta (read once per thread, not per value): bn_apply's output before
// the ReLU. One expression for all kernels, so the backward's ReLU mask is the forward's.
fn bn_value(xv: f32v, mean: f32, invstd: f32, gamma: f32, beta: f32) -> f32v {
    return (xv - mean) * invstd * gamma + beta;
}

// The gradient reaching the normalization from the output gradient dy at values whose
// bn_value is v: with RELU, 0 where the ReLU was off (subgradient 0 at 0, as in PyTorch).
fn relu_gate(dy: f32v, v: f32v) -> f32v {
    return select(dy, select(f32v(0.0), dy, v > f32v(0.0)), RELU);
}
