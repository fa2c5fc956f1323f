//! Dynamic loss scaling, as PyTorch's `torch.amp.GradScaler` does it, by hand.
//!
//! Gradients small enough to underflow a 16-bit float survive when the backward pass runs on
//! the loss times a large scale S. Here the scale is the seed of the backward pass (the gradient
//! of the loss with respect to itself is S instead of 1, which the cross-entropy backward
//! multiplies in anyway), so scaling costs no pass of its own. After backward one GPU reduction
//! (`optim::step_status`) says whether any parameter gradient is NaN or infinite, read back
//! together with the loss (8 bytes per step):
//!
//! - all finite: SGD runs with the gradients multiplied by 1/S inside its kernel, and after
//!   `--loss-scale-growth-interval` such steps in a row the scale doubles;
//! - otherwise the scaled gradients overflowed: the update is skipped (weights and momentum stay
//!   as they were), the scale halves and the skip is counted.
//!
//! As in PyTorch, a skipped step keeps the BN running statistics its forward pass updated: the
//! forward never sees the scale, its loss was finite, and PyTorch's `scaler.step` skips only the
//! optimizer. Also as in PyTorch, the scale never grows past [`MAX_SCALE`]; unlike PyTorch, which
//! halves without end, it never falls below [`MIN_SCALE`]: gradients that are not finite even
//! there are not an overflow scaling can cure, and the step goes to `--nan-policy` like a
//! non-finite loss. A non-finite loss goes there too, without changing the scale (the forward
//! pass, which computed it, ran unscaled).
//!
//! The loss reported is the unscaled one (the forward pass computes it before any scaling), and a
//! skipped step's loss and accuracy still count in its epoch's means: its forward pass was whole.
//!
//! Every scale is a power of two: multiplying by one is exact in floating point (short of
//! overflow or underflow), so a scaled step computes S × the unscaled gradients bit for bit and
//! 1/S gives them back exactly.

use super::error::{Result, TrainError};

/// The smallest scale, 2^-126: the scale and its inverse stay normal f32 numbers (a GPU may
/// flush subnormals to zero).
pub const MIN_SCALE: f32 = f32::MIN_POSITIVE;
/// The largest scale, 2^126, for the same reason.
pub const MAX_SCALE: f32 = 1.0 / f32::MIN_POSITIVE;
/// `--initial-loss-scale`'s default, 2^16 (PyTorch's).
pub const DEFAULT_INITIAL_SCALE: f32 = 65536.0;
/// `--loss-scale-growth-interval`'s default (PyTorch's).
pub const DEFAULT_GROWTH_INTERVAL: u32 = 2000;
/// What the scale is multiplied by after `growth_interval` finite steps in a row (PyTorch's
/// default).
pub const GROWTH_FACTOR: f32 = 2.0;
/// What the scale is multiplied by after an overflow (PyTorch's default).
pub const BACKOFF_FACTOR: f32 = 0.5;

/// `--loss-scale`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LossScaleMode {
    /// Dynamic with `--precision mixed`, whose f16 activation gradients need it; off in f32.
    #[default]
    Auto,
    /// No scaling: the backward pass runs on the loss itself.
    Off,
    /// Scale the loss for the backward pass, skip steps whose gradients overflow and adapt the
    /// scale (PyTorch's GradScaler).
    Dynamic,
}

/// Refuses an `--initial-loss-scale` that is not a power of two in [`MIN_SCALE`, `MAX_SCALE`].
pub fn check_initial_scale(scale: f32) -> Result<()> {
    let power_of_two = scale.is_normal() && scale > 0.0 && scale.to_bits() & 0x007f_ffff == 0;
    if power_of_two && (MIN_SCALE..=MAX_SCALE).contains(&scale) {
        return Ok(());
    }
    Err(TrainError::arg(
        "--initial-loss-scale",
        format!(
            "must be a power of two from 2^-126 to 2^126 (e.g. 65536 = 2^16, the default), so \
             that scaling and unscaling the gradients are exact; got {scale}"
        ),
    ))
}

/// A scale for messages: a plain number from 1 to 2^24 (65536), else the power of two it is
/// (2^126, 2^-3), which reads better than 39 digits.
pub fn show(scale: f32) -> String {
    if (1.0..=16_777_216.0).contains(&scale) || !scale.is_normal() {
        return scale.to_string();
    }
    format!("2^{}", scale.log2().round())
}

/// What the scaler decided after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Finite gradients: the update was applied.
    Applied,
    /// The scaled gradients overflowed: the update was skipped and the scale halved.
    Overflow,
    /// The gradients were not finite at [`MIN_SCALE`]: nothing scaling can do.
    NotFiniteAtMinimum,
}

/// The scaler's state: what a checkpoint keeps so a resumed run scales as an uninterrupted one.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossScaler {
    /// The scale of the next step's backward pass.
    pub scale: f32,
    /// Finite steps in a row after which the scale doubles (`--loss-scale-growth-interval`).
    pub growth_interval: u32,
    /// Finite steps since the scale last changed (or the last overflow).
    pub growth_tracker: u32,
    /// Steps skipped for overflow since the run started.
    pub skipped: u64,
}

impl Default for LossScaler {
    /// The scaler of a run with the default flags.
    fn default() -> LossScaler {
        LossScaler::new(DEFAULT_INITIAL_SCALE, DEFAULT_GROWTH_INTERVAL)
    }
}

impl LossScaler {
    pub fn new(initial: f32, growth_interval: u32) -> LossScaler {
        LossScaler {
            scale: initial,
            growth_interval,
            growth_tracker: 0,
            skipped: 0,
        }
    }

    /// Advances the state after a step whose gradients were finite (`overflow` false) or not,
    /// as PyTorch's `_amp_update_scale_` does, within [`MIN_SCALE`, `MAX_SCALE`].
    pub fn update(&mut self, overflow: bool) -> Update {
        if overflow {
            if self.scale <= MIN_SCALE {
                return Update::NotFiniteAtMinimum;
            }
            self.scale = (self.scale * BACKOFF_FACTOR).max(MIN_SCALE);
            self.growth_tracker = 0;
            self.skipped += 1;
            return Update::Overflow;
        }
        self.growth_tracker += 1;
        if self.growth_tracker >= self.growth_interval {
            // PyTorch keeps the scale when growing it would make it infinite; the ceiling here
            // is lower, for the inverse's sake.
            if self.scale * GROWTH_FACTOR <= MAX_SCALE {
                self.scale *= GROWTH_FACTOR;
            }
            self.growth_tracker = 0;
        }
        Update::Applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state machine written out independently, in f64 and exponents: scale 2^e.
    struct Reference {
        e: i32,
        tracker: u32,
        skipped: u64,
    }

    impl Reference {
        fn step(&mut self, overflow: bool, interval: u32) -> Update {
            if overflow {
                if self.e == -126 {
                    return Update::NotFiniteAtMinimum;
                }
                self.e -= 1;
                self.tracker = 0;
                self.skipped += 1;
                Update::Overflow
            } else {
                self.tracker += 1;
                if self.tracker == interval {
                    self.e = (self.e + 1).min(126);
                    self.tracker = 0;
                }
                Update::Applied
            }
        }
    }

    #[test]
    fn the_scale_grows_after_an_interval_of_finite_steps_and_halves_on_overflow() {
        let mut s = LossScaler::new(65536.0, 3);
        // Two finite steps: no growth yet; the third doubles the scale.
        assert_eq!(s.update(false), Update::Applied);
        assert_eq!(s.update(false), Update::Applied);
        assert_eq!((s.scale, s.growth_tracker), (65536.0, 2));
        s.update(false);
        assert_eq!((s.scale, s.growth_tracker), (131072.0, 0));
        // An overflow halves it and restarts the count.
        s.update(false);
        assert_eq!(s.update(true), Update::Overflow);
        assert_eq!((s.scale, s.growth_tracker, s.skipped), (65536.0, 0, 1));
        s.update(false);
        s.update(false);
        assert_eq!(s.scale, 65536.0);
        s.update(false);
        assert_eq!(s.scale, 131072.0);
    }

    #[test]
    fn the_scale_stays_within_its_floor_and_ceiling() {
        // At the ceiling, a full interval leaves the scale where it is and restarts the count.
        let mut s = LossScaler::new(MAX_SCALE, 1);
        assert_eq!(s.update(false), Update::Applied);
        assert_eq!((s.scale, s.growth_tracker), (MAX_SCALE, 0));
        assert_eq!(MAX_SCALE, 2f32.powi(126));
        assert_eq!(MIN_SCALE, 2f32.powi(-126));
        assert!((1.0 / MAX_SCALE).is_normal() && (1.0 / MIN_SCALE).is_normal());
        // One step above the floor an overflow reaches it; at the floor one is beyond scaling,
        // and changes nothing.
        let mut s = LossScaler::new(2.0 * MIN_SCALE, 5);
        s.update(false);
        assert_eq!(s.update(true), Update::Overflow);
        assert_eq!((s.scale, s.skipped), (MIN_SCALE, 1));
        s.update(false);
        let before = s;
        assert_eq!(s.update(true), Update::NotFiniteAtMinimum);
        assert_eq!(s, before);
    }

    #[test]
    fn the_scaler_matches_an_independent_reference_over_random_runs() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        for run in 0..200 {
            let interval = rng.random_range(1..6);
            let e0: i32 = rng.random_range(-126..=126);
            // Runs that spend time near the floor and the ceiling as well as in between.
            let p_overflow = [0.05, 0.5, 0.95][run % 3];
            let mut s = LossScaler::new(2f64.powi(e0) as f32, interval);
            let mut r = Reference {
                e: e0,
                tracker: 0,
                skipped: 0,
            };
            for step in 0..600 {
                let overflow = rng.random_bool(p_overflow);
                assert_eq!(
                    s.update(overflow),
                    r.step(overflow, interval),
                    "{run}/{step}"
                );
                assert_eq!(
                    (s.scale as f64, s.growth_tracker, s.skipped),
                    (2f64.powi(r.e), r.tracker, r.skipped),
                    "run {run} step {step}"
                );
            }
        }
    }

    #[test]
    fn scales_show_as_numbers_or_powers_of_two() {
        assert_eq!(show(65536.0), "65536");
        assert_eq!(show(1.0), "1");
        assert_eq!(show(MAX_SCALE), "2^126");
        assert_eq!(show(MIN_SCALE), "2^-126");
        assert_eq!(show(0.125), "2^-3");
    }

    #[test]
    fn the_initial_scale_must_be_a_power_of_two_in_range() {
        for ok in [1.0, 65536.0, 0.5, MIN_SCALE, MAX_SCALE] {
            check_initial_scale(ok).unwrap();
        }
        for bad in [
            0.0,
            -2.0,
            3.0,
            1000.0,
            f32::INFINITY,
            f32::NAN,
            2.0 * MAX_SCALE,
            MIN_SCALE / 2.0,
        ] {
            let e = check_initial_scale(bad).unwrap_err().to_string();
            assert!(
                e.contains("--initial-loss-scale")
                    && e.contains("power of two from 2^-126 to 2^126"),
                "{bad}: {e}"
            );
        }
    }
}
