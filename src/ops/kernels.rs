//! The registry of WGSL kernels, embedded at compile time so the binary runs from anywhere: one
//! typed [`Kernel`] per file in `shaders/`, named by the Rust struct that fills its `Params`
//! (declared with [`kernel_params!`](crate::kernel_params) next to the op that fills it). It
//! lives with the ops, not in `gpu`, so the runtime never names a type of the layers above it.

use super::activation::DropoutParams;
use super::conv::winograd::{WinogradFilterGradParams, WinogradFilterParams, WinogradTileParams};
use super::conv::{ConvParams, PackWeightParams};
use super::linear::MatmulParams;
use super::loss::CrossEntropyParams;
use super::noise::NoiseParams;
use super::norm::{BnPlaneParams, BnRoutingParams};
use super::pool::PoolParams;
use super::shortcut::ShortcutParams;
use super::{FmaParams, LenParams, MatrixParams};
use crate::gpu::kernels::{Kernel, Shader};
use crate::gpu::tensor::DType;
use crate::optim::SgdParams;

macro_rules! kernels {
    ($($ident:ident = $file:literal: $params:ty, $trust:ident),* $(,)?) => {
        $(pub const $ident: Kernel<$params> = Kernel::new(
            $file,
            include_str!(concat!("../../shaders/", $file, ".wgsl")),
            trust!($trust),
        );)*
        /// Every kernel, for validation tests and warm-up.
        pub const ALL: &[Shader] = &[$($ident.shader),*];
    };
}

/// Whether a kernel guards its own bounds (the audit in its header) or keeps the runtime checks.
macro_rules! trust {
    (trusted) => {
        true
    };
    (checked) => {
        false
    };
}

// Name = file: the Rust struct filling its Params, trusted (self-guarded) or checked.
kernels! {
    CONV2D_FORWARD = "conv2d_forward": ConvParams, trusted,
    CONV2D_BACKWARD_INPUT = "conv2d_backward_input": ConvParams, trusted,
    CONV2D_BACKWARD_WEIGHT = "conv2d_backward_weight": ConvParams, trusted,
    CONV2D_FORWARD_SUBGROUP = "conv2d_forward_subgroup": ConvParams, trusted,
    CONV2D_BACKWARD_INPUT_SUBGROUP = "conv2d_backward_input_subgroup": ConvParams, trusted,
    CONV2D_BACKWARD_WEIGHT_SUBGROUP = "conv2d_backward_weight_subgroup": ConvParams, trusted,
    CONV2D_FORWARD_STRIP = "conv2d_forward_strip": ConvParams, trusted,
    CONV2D_BACKWARD_INPUT_STRIP = "conv2d_backward_input_strip": ConvParams, trusted,
    CONV2D_BACKWARD_WEIGHT_TAPS = "conv2d_backward_weight_taps": ConvParams, trusted,
    CONV2D_PACK_WEIGHT = "conv2d_pack_weight": PackWeightParams, trusted,
    CONV2D_WINOGRAD_FILTER = "conv2d_winograd_filter": WinogradFilterParams, trusted,
    CONV2D_WINOGRAD_INPUT = "conv2d_winograd_input": WinogradTileParams, trusted,
    CONV2D_WINOGRAD_GEMM = "conv2d_winograd_gemm": ConvParams, trusted,
    CONV2D_WINOGRAD_GEMM_SUBGROUP = "conv2d_winograd_gemm_subgroup": ConvParams, trusted,
    CONV2D_WINOGRAD_OUTPUT = "conv2d_winograd_output": WinogradTileParams, trusted,
    CONV2D_WINOGRAD_WEIGHT_GEMM = "conv2d_winograd_weight_gemm": ConvParams, trusted,
    CONV2D_WINOGRAD_WEIGHT_GEMM_SUBGROUP = "conv2d_winograd_weight_gemm_subgroup": ConvParams, trusted,
    CONV2D_WINOGRAD_FILTER_GRAD = "conv2d_winograd_filter_grad": WinogradFilterGradParams, trusted,
    BN_PLANE_STATS = "bn_plane_stats": BnPlaneParams, trusted,
    BN_STATS = "bn_stats": BnRoutingParams, trusted,
    BN_APPLY = "bn_apply": BnRoutingParams, trusted,
    BN_BACKWARD_PLANE_SUMS = "bn_backward_plane_sums": BnRoutingParams, trusted,
    BN_BACKWARD_INPUT = "bn_backward_input": BnRoutingParams, trusted,
    RELU_FORWARD = "relu_forward": LenParams, trusted,
    RELU_BACKWARD = "relu_backward": LenParams, trusted,
    ADD = "add": LenParams, trusted,
    ACCUMULATE = "accumulate": LenParams, trusted,
    SCALE_BY = "scale_by": LenParams, trusted,
    DROPOUT = "dropout": DropoutParams, trusted,
    AVG_POOL_FORWARD = "avg_pool_forward": PoolParams, trusted,
    AVG_POOL_BACKWARD = "avg_pool_backward": PoolParams, trusted,
    MATMUL = "matmul": MatmulParams, trusted,
    ADD_BIAS = "add_bias": MatrixParams, trusted,
    SUM_ROWS = "sum_rows": MatrixParams, trusted,
    CROSS_ENTROPY = "cross_entropy": CrossEntropyParams, trusted,
    SGD = "sgd": SgdParams, trusted,
    STEP_STATUS = "step_status": LenParams, trusted,
    NOISE = "noise": NoiseParams, trusted,
    SHORTCUT_FORWARD = "shortcut_forward": ShortcutParams, trusted,
    SHORTCUT_BACKWARD = "shortcut_backward": ShortcutParams, trusted,
    BENCH_FMA = "bench_fma": FmaParams, trusted,
    BENCH_COPY = "bench_copy": LenParams, trusted,
}

/// `purenoise shader`: the expanded source of the kernel `name` (a file name in shaders/, with
/// or without `.wgsl`), with `f16` its mixed-precision variant (every `//!element` alias f16),
/// or with no name the kernels' names, one a line; an unknown name, or `f16` for a kernel
/// without element types, is an error that says what there is.
pub fn shader_text(name: Option<&str>, f16: bool) -> crate::error::Result<String> {
    let names = || {
        ALL.iter()
            .map(|k| format!("{}\n", k.name))
            .collect::<String>()
    };
    let Some(name) = name else {
        return Ok(names());
    };
    let file = name.trim_start_matches("shaders/");
    let file = file.strip_suffix(".wgsl").unwrap_or(file);
    let Some(kernel) = ALL.iter().find(|k| k.name == file) else {
        return Err(crate::error::Error::Invalid(format!(
            "no kernel `{name}` in shaders/; the kernels are:\n{}",
            names().trim_end()
        )));
    };
    if !f16 {
        return crate::gpu::kernels::expanded_source(kernel);
    }
    let aliases = crate::gpu::kernels::element_names(kernel)?;
    if aliases.is_empty() {
        return Err(crate::error::Error::Invalid(format!(
            "kernel `{file}` has no f16 variant (no `//!element` alias): it always runs in f32"
        )));
    }
    let elements: Vec<(&str, DType)> = aliases.iter().map(|a| (a.as_str(), DType::F16)).collect();
    crate::gpu::kernels::expanded_source_as(kernel, &elements)
}
