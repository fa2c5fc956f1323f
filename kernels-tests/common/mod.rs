//! Shared test helpers: the adapter in both runtime-check modes, random data, tolerant
//! comparisons and finite differences.
#![allow(dead_code, unused_imports, unused_macros)] // each test binary uses a different subset

pub use purenoise::gpu::tensor::DType;
use purenoise::gpu::tensor::Tensor;
pub use purenoise::gpu::Gpu;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The default adapter; a machine without one fails here with the reason, never skips.
pub fn gpu() -> Gpu {
    Gpu::new(None).unwrap_or_else(|e| {
        panic!("kernel tests need a GPU adapter (software Vulkan works: apt-get install mesa-vulkan-drivers libvulkan1): {e}")
    })
}

/// The default adapter with the shader compiler's runtime checks on every kernel (`checks`) or
/// only on those the registry does not trust (what users run).
pub fn gpu_with_checks(checks: bool) -> Gpu {
    let gpu = gpu();
    gpu.set_shader_checks(checks);
    gpu
}

/// Turns each named `fn(Gpu)` into two tests, `<name>::trusted` and `<name>::checked`, one per
/// runtime-check mode ([`gpu_with_checks`]), so every kernel meets the references both ways.
macro_rules! each_mode {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn trusted() {
                super::$name(crate::common::gpu_with_checks(false));
            }

            #[test]
            fn checked() {
                super::$name(crate::common::gpu_with_checks(true));
            }
        }
    )*};
}
pub(crate) use each_mode;

/// Turns each named `fn(Gpu, DType)` into four tests: `<name>::trusted` and `<name>::checked`
/// with f32 activations, `<name>::f16_trusted` and `<name>::f16_checked` with the kernels' f16
/// variants (`--precision mixed`), so every f16 kernel meets the references both ways too.
macro_rules! each_mode_and_precision {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::common::{gpu_with_checks, DType};

            #[test]
            fn trusted() {
                super::$name(gpu_with_checks(false), DType::F32);
            }

            #[test]
            fn checked() {
                super::$name(gpu_with_checks(true), DType::F32);
            }

            #[test]
            fn f16_trusted() {
                super::$name(gpu_with_checks(false), DType::F16);
            }

            #[test]
            fn f16_checked() {
                super::$name(gpu_with_checks(true), DType::F16);
            }
        }
    )*};
}
pub(crate) use each_mode_and_precision;

/// `data` as a tensor of `dtype` holds it (f32, or f16: rounded to nearest), widened to f64:
/// what the references are given, so they compute from exactly the GPU's inputs.
pub fn stored(dtype: DType, data: &[f64]) -> Vec<f64> {
    data.iter()
        .map(|&v| match dtype {
            DType::F16 => f64::from(half::f16::from_f64(v)),
            _ => v as f32 as f64,
        })
        .collect()
}

/// Uploads `data` as a tensor of `dtype` (f32 or f16).
pub fn upload_as(gpu: &Gpu, data: &[f64], shape: &[usize], dtype: DType) -> Tensor {
    let f: Vec<f32> = data.iter().map(|&v| v as f32).collect();
    gpu.upload_as(&f, shape, dtype).unwrap()
}

/// The tolerances (atol, rtol) of a result the kernel stores as `dtype`, given those of its f32
/// kernel: an f16 result is its f32 value rounded once more, which may land one f16 step away
/// from the f64 reference's: 2⁻¹⁰ relative for normal values, 2⁻²⁴ absolute among subnormals.
/// (Inputs need no slack: the references get them rounded, [`stored`].)
pub fn tolerance(dtype: DType, atol: f64, rtol: f64) -> (f64, f64) {
    match dtype {
        DType::F16 => (atol + 2f64.powi(-24), rtol + 2f64.powi(-10)),
        _ => (atol, rtol),
    }
}

pub fn rng(seed: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed)
}

/// Uniform values in [-1, 1), as f32 (what the GPU sees) widened to f64 for the reference.
pub fn random(rng: &mut Pcg64, len: usize) -> Vec<f64> {
    (0..len)
        .map(|_| rng.random_range(-1.0f32..1.0) as f64)
        .collect()
}

pub fn upload(gpu: &Gpu, data: &[f64], shape: &[usize]) -> Tensor {
    let f: Vec<f32> = data.iter().map(|&v| v as f32).collect();
    gpu.upload(&f, shape).unwrap()
}

pub fn read(gpu: &Gpu, t: &Tensor) -> Vec<f64> {
    gpu.read(t).unwrap().into_iter().map(f64::from).collect()
}

/// Asserts |got - want| <= atol + rtol * |want| everywhere, naming the first failing element.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}: element {i} is {g}, expected {w} (atol {atol}, rtol {rtol})"
        );
    }
}

/// Central-difference gradient of a scalar function of `x`.
pub fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-5;
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = x[i];
            x[i] = orig + h;
            let up = f(&x);
            x[i] = orig - h;
            let down = f(&x);
            x[i] = orig;
            (up - down) / (2.0 * h)
        })
        .collect()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Checks a GPU gradient against finite differences of the f64 reference forward `f`,
/// projected on the upstream gradient `dy` (L = sum dy * f(x)): tolerances suit f32 kernels.
pub fn grad_check(
    what: &str,
    gpu_grad: &[f64],
    x: &[f64],
    dy: &[f64],
    f: impl Fn(&[f64]) -> Vec<f64>,
) {
    let numeric = numeric_grad(x, |x| dot(dy, &f(x)));
    assert_close(what, gpu_grad, &numeric, 1e-3, 1e-3);
}

/// A convolution on random data, uploaded, with its f64 reference results for all three passes.
pub struct ConvCase {
    pub xt: Tensor,
    pub wt: Tensor,
    pub dyt: Tensor,
    pub shape: purenoise::ops::conv::ConvShape,
    pub want_y: Vec<f64>,
    pub want_dx: Vec<f64>,
    pub want_dw: Vec<f64>,
}

impl ConvCase {
    pub fn new(
        gpu: &Gpu,
        rng: &mut Pcg64,
        xs: [usize; 4],
        ws: [usize; 4],
        stride: usize,
        pad: usize,
    ) -> ConvCase {
        ConvCase::new_as(gpu, rng, xs, ws, stride, pad, DType::F32)
    }

    /// [`ConvCase::new`] with the input and the output gradient (activations) stored as `dtype`;
    /// the weight stays f32.
    pub fn new_as(
        gpu: &Gpu,
        rng: &mut Pcg64,
        xs: [usize; 4],
        ws: [usize; 4],
        stride: usize,
        pad: usize,
        dtype: DType,
    ) -> ConvCase {
        use purenoise::reference;
        let x = stored(dtype, &random(rng, xs.iter().product()));
        let w = random(rng, ws.iter().product());
        let (xt, wt) = (upload_as(gpu, &x, &xs, dtype), upload(gpu, &w, &ws));
        let shape = purenoise::ops::conv::ConvShape::new(&xt, &wt, stride, pad).unwrap();
        let want_y = reference::conv2d_forward(&x, xs, &w, ws, stride, pad);
        let dy = stored(dtype, &random(rng, want_y.len()));
        let dyt = upload_as(gpu, &dy, &shape.output_shape(), dtype);
        ConvCase {
            want_dx: reference::conv2d_backward_input(&dy, &w, ws, xs, stride, pad),
            want_dw: reference::conv2d_backward_weight(&x, xs, &dy, ws, stride, pad),
            xt,
            wt,
            dyt,
            shape,
            want_y,
        }
    }
}
