//! The runtime's guards: sizes checked against the adapter's limits before dispatch, large grids
//! spilling into a second dimension, adapter selection errors, and batched submission.

mod common;
use common::*;
use purenoise::gpu::tensor::DType;
use purenoise::gpu::{adapter, Gpu};
use purenoise::ops::activation;

#[test]
fn oversized_tensors_are_refused_with_the_limit_named() {
    let gpu = gpu();
    let too_big = gpu.limits().max_buffer_size / 4 + 1;
    let msg = gpu
        .alloc("conv2d", &[too_big as usize], DType::F32)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("conv2d")
            && msg.contains("max_buffer_size")
            && msg.contains(&format!("[{too_big}]")),
        "{msg}"
    );

    let binding = gpu.limits().max_storage_buffer_binding_size;
    if binding < gpu.limits().max_buffer_size {
        // A tensor that can exist but cannot be bound in one piece.
        let len = (binding / 4 + 64) as usize;
        let x = gpu.alloc("test", &[len], DType::F32).unwrap();
        let msg = activation::relu_forward(&gpu, &x)
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("relu_forward")
                && msg.contains("`x`")
                && msg.contains("max_storage_buffer_binding_size")
                && msg.contains(&binding.to_string()),
            "{msg}"
        );
    }
}

#[test]
fn grids_beyond_the_per_dimension_limit_cover_every_element() {
    let gpu = gpu();
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let len = max * 256 + 1000;
    assert!(
        gpu.grid(len as u64, 256)[1] > 1,
        "the grid must spill into y"
    );
    let x: Vec<f32> = (0..len)
        .map(|i| if i % 2 == 0 { -(i as f32) } else { i as f32 })
        .collect();
    let y = gpu
        .read(&activation::relu_forward(&gpu, &gpu.upload(&x, &[len]).unwrap()).unwrap())
        .unwrap();
    let wrong = (0..len).find(|&i| y[i] != x[i].max(0.0));
    assert_eq!(wrong, None, "first wrong element");
}

#[test]
fn dispatches_are_submitted_together() {
    let gpu = gpu();
    let x = gpu.upload(&[1.0, -2.0, 3.0], &[3]).unwrap();
    let before = gpu.submissions();
    let mut y = x.clone();
    for _ in 0..50 {
        y = activation::add(&gpu, &y, &x).unwrap();
    }
    assert_eq!(
        gpu.submissions(),
        before,
        "nothing is submitted before a read"
    );
    assert_eq!(gpu.read(&y).unwrap(), vec![51.0, -102.0, 153.0]);
    assert_eq!(
        gpu.submissions(),
        before + 1,
        "50 dispatches in one submission"
    );
}

#[test]
fn adapter_selection_errors_name_what_exists() {
    let instance = adapter::instance();
    let adapters = adapter::compute_adapters(&instance);
    let msg = adapter::choose(&adapters, Some("no-such-gpu-xyz"), "--adapter")
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("`no-such-gpu-xyz` matches no adapter") && msg.contains("0: "),
        "{msg}"
    );
    let msg = adapter::choose(&adapters, Some("99"), "PURENOISE_ADAPTER")
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("PURENOISE_ADAPTER 99") && msg.contains("only"),
        "{msg}"
    );
    let msg = adapter::choose(&[], None, "--adapter")
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("mesa-vulkan-drivers"), "{msg}");
    // An index picks exactly that adapter.
    let last = adapters.len() - 1;
    assert_eq!(
        adapter::choose(&adapters, Some(&last.to_string()), "--adapter").unwrap(),
        last
    );
    // A name substring picks that adapter.
    let name = Gpu::new(None).unwrap().info().name.clone();
    let by_name = Gpu::new(Some(&name[..4])).unwrap();
    assert!(by_name
        .info()
        .name
        .to_lowercase()
        .contains(&name[..4].to_lowercase()));
}

#[test]
fn device_errors_are_returned_not_panicked() {
    let gpu = gpu();
    let t = gpu.upload(&[1.0, 2.0], &[2]).unwrap();
    // Binding one buffer as both read-only and writable is invalid in WebGPU: the device
    // reports it, and the runtime hands it back as an error at the next flush.
    activation::accumulate(&gpu, &t, &t).unwrap();
    let msg = gpu
        .flush()
        .expect_err("the aliasing error must surface")
        .to_string();
    assert!(msg.starts_with("GPU device error:"), "{msg}");
    // The runtime stays usable.
    assert_eq!(
        gpu.read(&activation::add(&gpu, &t, &t).unwrap()).unwrap(),
        vec![2.0, 4.0]
    );
}

#[test]
fn a_dispatch_with_the_wrong_bindings_is_refused_before_the_device_sees_it() {
    let gpu = gpu();
    let t = gpu.zeros("test", &[4]).unwrap();
    let msg = gpu
        .dispatch(
            &purenoise::ops::kernels::RELU_FORWARD,
            &[],
            &purenoise::ops::LenParams { len: 4 },
            &[("x", &t), ("y", &t), ("z", &t)],
            [1, 1, 1],
        )
        .expect_err("three tensors for a two-tensor kernel")
        .to_string();
    assert!(
        msg.contains("`relu_forward` declares 3 bindings") && msg.contains("3 tensors"),
        "{msg}"
    );
}

purenoise::kernel_params! {
    /// relu_forward's `{ len: u32 }` under another name.
    struct Count {
        count: u32,
    }
}

/// The uniform check runs where the pipeline is created, before anything reaches the device.
#[test]
fn a_dispatch_with_a_mismatched_params_struct_is_refused_at_pipeline_creation() {
    let gpu = gpu();
    let t = gpu.zeros("test", &[4]).unwrap();
    let kernel = purenoise::gpu::Kernel::<Count>::new(
        "relu_forward",
        purenoise::ops::kernels::RELU_FORWARD.shader.source,
        true,
    );
    let msg = gpu
        .dispatch(
            &kernel,
            &[],
            &Count { count: 4 },
            &[("x", &t), ("y", &t)],
            [1, 1, 1],
        )
        .expect_err("`count` is not the shader's `len`")
        .to_string();
    assert!(
        msg.contains("kernel `shaders/relu_forward.wgsl`")
            && msg.contains("field 0 is `len: u32` at byte 0 in the shader but `count: u32`"),
        "{msg}"
    );
    gpu.flush().unwrap();
}

#[test]
fn shader_checks_follow_the_environment_and_the_setter() {
    use purenoise::gpu::shader_checks_from_env;
    use std::ffi::OsStr;
    assert!(!shader_checks_from_env(None));
    assert!(!shader_checks_from_env(Some(OsStr::new("0"))));
    assert!(shader_checks_from_env(Some(OsStr::new("1"))));
    assert!(shader_checks_from_env(Some(OsStr::new(""))));
    // Both modes compile side by side on one device, and give the same results.
    let gpu = gpu();
    let x = gpu.upload(&[-1.0, 2.0, -3.0, 4.0], &[4]).unwrap();
    let mut outputs = Vec::new();
    for checks in [false, true, false] {
        gpu.set_shader_checks(checks);
        assert_eq!(gpu.shader_checks(), checks);
        outputs.push(
            gpu.read(&activation::relu_forward(&gpu, &x).unwrap())
                .unwrap(),
        );
    }
    assert!(
        outputs.iter().all(|o| o == &[0.0, 2.0, 0.0, 4.0]),
        "{outputs:?}"
    );
}

#[test]
fn a_memory_limit_refuses_the_allocation_that_crosses_it_and_reuses_freed_buffers_first() {
    let gpu = Gpu::new(None).unwrap();
    gpu.set_memory_limit(Some(4096));
    let a = gpu.zeros("test", &[512]).unwrap(); // 2 KiB
    let err = gpu
        .zeros("test", &[768])
        .err()
        .expect("the limit is crossed")
        .to_string();
    assert!(
        err.contains("out of GPU memory")
            && err.contains("shape [768]")
            && err.contains("memory limit 4.0 KiB")
            && err.contains("held"),
        "{err}"
    );
    // A freed buffer of another size goes back to the driver to make room.
    drop(a);
    assert_eq!(gpu.memory_stats().held, 2048);
    let b = gpu.zeros("test", &[768]).unwrap();
    assert_eq!(gpu.memory_stats().total(), 3072);
    assert_eq!(gpu.read(&b).unwrap(), vec![0.0; 768]);
    // Parameter-style dedicated buffers count too, and release their bytes when dropped.
    let owned = gpu.create_owned("arena", 1024).unwrap();
    assert_eq!(gpu.memory_stats().owned, 1024);
    assert!(gpu.create_owned("arena", 4).is_err());
    drop(owned);
    assert_eq!(gpu.memory_stats().owned, 0);
    // The peak counts pooled and owned buffers held at the same time.
    assert_eq!(gpu.memory_stats().peak, 4096);
}

/// The pool lends a free buffer to tensors from a quarter of its size up to its own, and keeps
/// what it holds within a sixth (at least 64 MiB) above what its tensors needed at once: free
/// buffers too small for the next tensor go back to the driver (largest first) rather than
/// raise the peak.
#[test]
fn the_pool_lends_larger_buffers_and_stays_near_its_tensors_peak() {
    let gpu = Gpu::new(None).unwrap();
    let kib = |n: usize| gpu.zeros("test", &[n * 256]).unwrap();
    drop([kib(1), kib(1), kib(2)]);
    // 1200 B takes the 2 KiB buffer, 800 B and 400 B a 1 KiB one each (the smallest that
    // fits); 200 B fits neither (at most four times its size) and gets its own.
    let a = gpu.zeros("test", &[300]).unwrap();
    let b = gpu.zeros("test", &[200]).unwrap();
    let c = gpu.zeros("test", &[100]).unwrap();
    let s = gpu.memory_stats();
    assert_eq!((s.allocations, s.held, s.in_use), (3, 4096, 2400));
    let d = gpu.zeros("test", &[50]).unwrap();
    let s = gpu.memory_stats();
    assert_eq!((s.allocations, s.held, s.in_use), (4, 4296, 2600));
    // A tensor in a larger buffer binds, clears and reads back its own elements only.
    let x = gpu.upload(&[1.0; 300], &[300]).unwrap();
    let sum = activation::add(&gpu, &x, &a).unwrap();
    assert_eq!(gpu.read(&sum).unwrap(), vec![1.0; 300]);
    assert_eq!(gpu.read(&c).unwrap(), vec![0.0; 100]);
    drop((a, b, c, d, x, sum));

    // Four free 32 MiB buffers, the tensors' peak 128 MiB: a 96 MiB tensor fits none, and the
    // pool may hold 128 + 64 MiB, so one 32 MiB buffer goes back to the driver first.
    let gpu = Gpu::new(None).unwrap();
    let mib = |n: usize| gpu.alloc("test", &[n << 18], DType::F32).unwrap();
    drop([mib(32), mib(32), mib(32), mib(32)]);
    let _wide = mib(96);
    let s = gpu.memory_stats();
    assert_eq!(
        (s.held >> 20, s.peak >> 20, s.allocations, s.releases),
        (192, 192, 5, 1)
    );
}

#[test]
fn a_lost_device_is_reported_without_hanging() {
    let gpu = Gpu::new(None).unwrap();
    let t = gpu.upload(&[1.0, 2.0], &[2]).unwrap();
    gpu.device().destroy();
    let err = gpu
        .read(&activation::add(&gpu, &t, &t).unwrap())
        .expect_err("nothing runs on a destroyed device")
        .to_string();
    assert!(err.contains("device was lost"), "{err}");
}

#[test]
fn gpu_timestamps_time_the_passes_within_the_wall_clock() {
    let gpu = gpu();
    let x = gpu.upload(&vec![1.0; 1 << 16], &[1 << 16]).unwrap();
    let start = std::time::Instant::now();
    let timed = gpu
        .time_on_gpu(|| {
            for _ in 0..4 {
                activation::add(&gpu, &x, &x)?;
            }
            Ok(())
        })
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    if gpu.has_timestamps() {
        let t = timed.expect("the adapter has timestamp queries");
        assert!(t > 0.0 && t <= wall, "GPU time {t} s, wall clock {wall} s");
    } else {
        assert_eq!(timed, None);
    }
    // Nothing recorded: nothing to time.
    assert!(matches!(
        gpu.time_on_gpu(|| Ok(())).unwrap(),
        None | Some(0.0)
    ));
}

/// Profiling counts every dispatch under its kernel. With timestamps it times each one on the
/// GPU without submitting it alone (one submission for the lot, the times within the wall
/// clock); without, it waits for each alone. And a timed run longer than one submission's
/// timestamps hold is split into submissions and still timed whole.
#[test]
fn profiling_counts_every_dispatch_and_timed_runs_of_any_length_are_timed_whole() {
    let gpu = gpu();
    let x = gpu.upload(&vec![1.0; 1 << 16], &[1 << 16]).unwrap();
    let s = gpu.upload(&[0.5], &[1]).unwrap();
    gpu.wait().unwrap();
    gpu.set_profiling(true);
    let before = gpu.submissions();
    let start = std::time::Instant::now();
    for _ in 0..5 {
        activation::add(&gpu, &x, &x).unwrap();
    }
    for _ in 0..3 {
        activation::scale_by(&gpu, &x, &s).unwrap();
    }
    gpu.flush().unwrap();
    gpu.wait().unwrap();
    let wall = start.elapsed();
    let rows = gpu.profile().unwrap();
    let count = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1);
    assert_eq!(
        (count("add"), count("scale_by"), rows.len()),
        (Some(5), Some(3), 2)
    );
    let total: std::time::Duration = rows.iter().map(|r| r.2).sum();
    assert!(
        rows.iter().all(|r| r.2 > std::time::Duration::ZERO),
        "{rows:?}"
    );
    assert!(total <= wall, "kernels {total:?}, wall clock {wall:?}");
    let submissions = gpu.submissions() - before;
    assert_eq!(submissions, if gpu.has_timestamps() { 1 } else { 8 });
    gpu.set_profiling(false);
    assert!(gpu.profile().is_none());

    if gpu.has_timestamps() {
        let small = gpu.upload(&[1.0; 64], &[64]).unwrap();
        let before = gpu.submissions();
        let timed = gpu
            .time_on_gpu(|| {
                for _ in 0..2100 {
                    activation::add(&gpu, &small, &small)?;
                }
                Ok(())
            })
            .unwrap();
        assert!(timed.is_some_and(|t| t > 0.0), "{timed:?}");
        assert_eq!(gpu.submissions() - before, 2);
    }
}

/// f16 tensors (`--precision mixed`): odd lengths bind, upload and read back as whole words (one
/// padding value); values come back exactly as f16 holds them; a kernel variant whose binding
/// has the other element type, a copy between element types or of half words, and a precision
/// the adapter cannot run are refused, naming what is wrong.
#[test]
fn f16_tensors_round_trip_and_the_wrong_element_type_is_refused() {
    let gpu = gpu();
    for len in [1, 3, 257] {
        let data: Vec<f32> = (0..len).map(|i| i as f32 * 0.1 - 3.0).collect();
        let t = gpu.upload_as(&data, &[len], DType::F16).unwrap();
        assert_eq!(t.bytes(), (2 * len).next_multiple_of(4) as u64);
        let want: Vec<f32> = data
            .iter()
            .map(|&v| half::f16::from_f32(v).to_f32())
            .collect();
        assert_eq!(gpu.read(&t).unwrap(), want, "{len} values");
        let y = activation::relu_forward(&gpu, &t).unwrap();
        let relu: Vec<f32> = want.iter().map(|v| v.max(0.0)).collect();
        assert_eq!(gpu.read(&y).unwrap(), relu, "relu of {len} f16 values");
    }
    let x = gpu.upload_as(&[1.0, 2.0], &[2], DType::F16).unwrap();
    let s = gpu.upload(&[2.0], &[1]).unwrap();
    // scale_by has no f16 variant: its f32 binding refuses the f16 tensor.
    let msg = activation::scale_by(&gpu, &x, &s)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("scale_by")
            && msg.contains("binds `x` as 4-byte elements")
            && msg.contains("F16"),
        "{msg}"
    );
    // An f32 tensor given to relu's f16 variant.
    let f32_x = gpu.upload(&[1.0, 2.0], &[2]).unwrap();
    let msg = activation::add(&gpu, &x, &f32_x).err().unwrap().to_string();
    assert!(
        msg.contains("binds `b` as 2-byte elements") && msg.contains("F32"),
        "{msg}"
    );
    let y = gpu.alloc("test", &[2], DType::F32).unwrap();
    let msg = gpu.copy(&x, 0, &y, 0, 2).unwrap_err().to_string();
    assert!(msg.contains("one element type"), "{msg}");
    let odd = gpu.alloc("test", &[3], DType::F16).unwrap();
    assert!(gpu.copy(&odd, 1, &x, 0, 1).is_err(), "a half-word copy");
    gpu.copy(&x, 0, &odd, 0, 2).unwrap();
    assert_eq!(gpu.read(&odd).unwrap()[..2], [1.0, 2.0]);
    // lavapipe and most GPUs have SHADER_F16; where one does not, the message says what to do.
    match gpu.check_precision(purenoise::gpu::tensor::Precision::Mixed) {
        Ok(()) => assert!(gpu.device().features().contains(wgpu::Features::SHADER_F16)),
        Err(e) => assert!(e.to_string().contains("--precision f32"), "{e}"),
    }
}

/// A tensor bound to an array of vectors must be whole vectors: a partial last one would lie
/// outside the binding (a trusted kernel would read past it, a checked one clamp to the wrong
/// vector), so the dispatch refuses it, naming the tensor and its shape.
#[test]
fn a_partial_vector_is_refused() {
    use purenoise::ops::kernels::BENCH_COPY;
    use purenoise::ops::LenParams;
    let gpu = gpu();
    let src = gpu.upload(&[1.0; 6], &[6]).unwrap();
    let dst = gpu.alloc("test", &[6], DType::F32).unwrap();
    let msg = gpu
        .dispatch(
            &BENCH_COPY,
            &[],
            &LenParams { len: 1 },
            &[("src", &src), ("dst", &dst)],
            [1, 1, 1],
        )
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("bench_copy")
            && msg.contains("binds `src` as vectors of 4")
            && msg.contains("[6]"),
        "{msg}"
    );
    let src = gpu.upload(&[1.0; 8], &[8]).unwrap();
    let dst = gpu.alloc("test", &[8], DType::F32).unwrap();
    gpu.dispatch(
        &BENCH_COPY,
        &[],
        &LenParams { len: 2 },
        &[("src", &src), ("dst", &dst)],
        [1, 1, 1],
    )
    .unwrap();
    assert_eq!(gpu.read(&dst).unwrap(), [2.0; 8]);
}

/// A binding of 64-bit words (the strip convolutions' raw view of an f32 tensor,
/// lib/conv_f32_pairs.wgsl) takes only tensors of whole vectors of them, and names the tensor.
#[test]
fn a_raw_64_bit_binding_takes_whole_words() {
    use purenoise::ops::kernels::CONV2D_FORWARD_STRIP;
    let gpu = gpu();
    let needs = wgpu::Features::SHADER_INT64 | wgpu::Features::SUBGROUP;
    if !gpu.device().features().contains(needs) {
        return;
    }
    let x = gpu.upload(&[1.0; 6], &[6]).unwrap();
    let w = gpu.upload(&[1.0; 8], &[8]).unwrap();
    let y = gpu.alloc("test", &[8], DType::F32).unwrap();
    let msg = gpu
        .dispatch(
            &CONV2D_FORWARD_STRIP,
            &[],
            &bytemuck::Zeroable::zeroed(),
            &[
                ("input", &x),
                ("packed weight", &w),
                ("output", &y),
                ("input", &x),
                ("packed weight", &w),
            ],
            [1, 1, 1],
        )
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("binds `input` as vectors of 2 64-bit words")
            && msg.contains("[6] holds 24 bytes, not a multiple of 16"),
        "{msg}"
    );
}
