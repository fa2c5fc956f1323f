// Shared by the batch-norm kernels that route samples (bn_stats, bn_apply,
// bn_backward_plane_sums, bn_backward_input; src/ops/norm.rs fills Params in this order).
// A batch norm has two statistic slots: with `routed` = 1, sample n goes to slot mask[n]
// (0 = natural image, 1 = pure noise; DAR-BN and AuxBN), otherwise every sample is in slot 0
// (ordinary batch norm). Per-slot vectors are packed [slot 0: C values | slot 1: C values]:
// stats = [mean0 | mean1 | var0 | var1], dterms = [dgamma0 | dgamma1 | dbeta0 | dbeta1].
// Override RELU (bn_apply and the two backward kernels): a ReLU follows the normalization, fused
// into the same pass. The backward kernels recompute its mask from x and the statistics, so
// neither the normalized values nor the ReLU's output need to be kept for backward.
struct Params {
    n: u32, c: u32, hw: u32, eps: f32,
    momentum: f32,
    routed: u32,
    m0: f32, m1: f32,     // elements per channel in slot 0 and slot 1 (samples * H * W)
    // Bit s set: slot s's samples train slot s's layer, so its running statistics follow them
    // (bn_stats) and they carry gradients (the backward kernels). Clear for DAR-BN's noise slot,
    // which PyTorch's reference computes under no_grad with the running statistics left alone.
    trained_slots: u32,
    training: u32,        // 1 = the statistics are the batch's own (they depend on x)
}

fn slot_of(sample: u32) -> u32 {
    if (p.routed == 0u) { return 0u; }
    return min(mask[sample], 1u);
}

fn slot_count(slot: u32) -> f32 {
    return select(p.m0, p.m1, slot == 1u);
}

fn mean_of(slot: u32, c: u32) -> f32 { return stats[slot * p.c + c]; }

fn invstd_of(slot: u32, c: u32) -> f32 { return inverseSqrt(stats[(2u + slot) * p.c + c] + p.eps); }

override RELU: bool = false;
