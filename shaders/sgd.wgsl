// sgd: SGD with momentum and weight decay, PyTorch semantics (dampening 0, no Nesterov):
// d = g * grad_scale + weight_decay * w;  v = momentum * v + d;  w = w - lr * v.
// On the first step v is 0, so v = d, as PyTorch initializes its buffer. grad_scale is 1, or
// 1 / the loss scale under dynamic loss scaling: the gradients are unscaled here, in the pass that
// reads them anyway, rather than in one of their own (a power-of-two scale unscales exactly).
// Layouts: w, g, v flat f32 arenas holding every parameter (padding between them stays 0).
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bounds: trusted: every access is at i < len, the length of the three arena slices.
// Bindings: 0 params (uniform), 1 g (read), 2 w (read_write), 3 v (read_write).
// Reference: reference::sgd (of g * grad_scale)
// Test: kernels-tests/linear_loss.rs::sgd_updates_every_parameter_like_pytorch, kernels-tests/loss_scale.rs::sgd_unscales_the_gradients

struct Params { len: u32, lr: f32, momentum: f32, weight_decay: f32, grad_scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;

//!include grid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = workgroup_index(wid, nwg) * 256u + lid;
    if (i >= p.len) { return; }
    let d = g[i] * p.grad_scale + p.weight_decay * w[i];
    let vi = p.momentum * v[i] + d;
    v[i] = vi;
    w[i] = w[i] - p.lr * vi;
}
