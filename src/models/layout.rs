//! The convolutions of a model, from its layout: what `bench kernels` times and the tuner
//! (crate::tune) tunes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ModelKind;

/// One distinct convolution of a model (batch excluded) and how many layers share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ConvLayer {
    pub c_in: usize,
    pub c_out: usize,
    /// Input height = width.
    pub size: usize,
    pub k: usize,
    pub stride: usize,
    pub count: usize,
}

/// The convolutions of a model, from its layout (CIFAR, 32x32 inputs): WRN-d-k has a 3->16 stem
/// and three stages of (d-4)/6 pre-activation blocks of widths 16k, 32k, 64k (strides 1, 2, 2),
/// each conv1 3x3 (stride s), conv2 3x3, and a 1x1 stride-s shortcut where the shape changes;
/// ResNet-d has a 3->16 stem and stages of (d-2)/6 blocks of widths 16, 32, 64 whose shortcuts
/// have no convolution (option A).
pub fn conv_layers(kind: ModelKind) -> Vec<ConvLayer> {
    let (per_stage, widths, shortcut_convs) = match kind {
        ModelKind::Wrn { depth, widen } => ((depth - 4) / 6, [16, 32, 64].map(|w| w * widen), true),
        ModelKind::ResNet { depth } => ((depth - 2) / 6, [16, 32, 64], false),
    };
    let mut counts: BTreeMap<(usize, usize, usize, usize, usize), usize> = BTreeMap::new();
    let mut add_conv = |c_in, c_out, size, k, stride| {
        *counts.entry((c_in, c_out, size, k, stride)).or_default() += 1;
    };
    add_conv(3, 16, 32, 3, 1);
    let (mut c_in, mut size) = (16, 32);
    for (width, stage_stride) in widths.into_iter().zip([1, 2, 2]) {
        for i in 0..per_stage {
            let stride = if i == 0 { stage_stride } else { 1 };
            add_conv(c_in, width, size, 3, stride);
            if shortcut_convs && (stride != 1 || c_in != width) {
                add_conv(c_in, width, size, 1, stride);
            }
            size /= stride;
            add_conv(width, width, size, 3, 1);
            c_in = width;
        }
    }
    counts
        .into_iter()
        .map(|((c_in, c_out, size, k, stride), count)| ConvLayer {
            c_in,
            c_out,
            size,
            k,
            stride,
            count,
        })
        .collect()
}
