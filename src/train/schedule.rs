//! The learning-rate schedule of the reference: linear warm-up per epoch, then a step decay at
//! each milestone (LDAM-DRW's `adjust_learning_rate`, which the paper's code uses).

/// An epoch as messages, progress bars and log lines show it: numbered from 0, as the flags
/// (--milestones, --defer-epoch, --start-epoch, dump-step's --epoch), `metrics.jsonl` and the
/// plots number it, beside the run's last epoch: `epoch 160/199` is the 161st of 200.
pub fn epoch_label(epoch: usize, epochs: usize) -> String {
    format!("epoch {epoch}/{}", epochs.saturating_sub(1))
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    pub base_lr: f32,
    pub warmup_epochs: usize,
    /// 0-based epochs from which the rate is multiplied by `decay` once more.
    pub milestones: Vec<usize>,
    pub decay: f32,
}

impl Schedule {
    /// The rate for the whole of 0-based `epoch`.
    pub fn lr(&self, epoch: usize) -> f32 {
        if epoch < self.warmup_epochs {
            return self.base_lr * (epoch + 1) as f32 / self.warmup_epochs as f32;
        }
        let passed = self.milestones.iter().filter(|&&m| epoch >= m).count();
        self.base_lr * self.decay.powi(passed as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_shown_from_0_to_the_last() {
        assert_eq!(epoch_label(0, 200), "epoch 0/199");
        assert_eq!(epoch_label(160, 200), "epoch 160/199");
        assert_eq!(epoch_label(0, 1), "epoch 0/0");
    }

    #[test]
    fn paper_schedule() {
        let s = Schedule {
            base_lr: 0.1,
            warmup_epochs: 5,
            milestones: vec![160, 180],
            decay: 0.01,
        };
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-7 * b.abs().max(1e-30);
        for (epoch, want) in [
            (0, 0.02),
            (1, 0.04),
            (4, 0.1),
            (5, 0.1),
            (159, 0.1),
            (160, 0.001),
            (179, 0.001),
            (180, 0.00001),
            (199, 0.00001),
        ] {
            assert!(
                close(s.lr(epoch), want),
                "epoch {epoch}: {} != {want}",
                s.lr(epoch)
            );
        }
        let none = Schedule {
            base_lr: 0.05,
            warmup_epochs: 0,
            milestones: vec![],
            decay: 0.1,
        };
        assert_eq!(none.lr(0), 0.05);
    }
}
