//! A tape-based reverse-mode autograd, small enough to read in minutes.
//!
//! Forward ops return a [`Var`]: the value plus, when it needs a gradient, the index of the node
//! the op recorded on the [`Tape`]. A node keeps only its inputs' indices and a backward closure
//! holding what that op's gradient needs (saved activations). Values themselves live in the
//! `Var`s, so an activation no backward needs is released as soon as the model drops it, and
//! `backward()` frees each closure (and what it saved) right after running it.
//!
//! An op may also give its output a recipe to recompute it from what its own backward keeps
//! anyway (the fused BN+ReLU: from the BN input and statistics). A later op that needs that value
//! for its gradient saves it with [`Var::save`], which keeps the recipe instead of the tensor, so
//! the activation is freed as soon as the model drops it and rebuilt, briefly, in backward.

use std::rc::Rc;

use crate::error::{Error, Result};
use crate::gpu::tensor::Tensor;
use crate::gpu::Gpu;
use crate::ops;
use crate::params::{ParamId, ParamStore};

/// Computes the gradients of an op's inputs from the gradient of its output. `needs[i]` says
/// whether input i wants a gradient, so ops skip work nobody uses (the first conv's input grad).
pub type Backward = Box<dyn FnOnce(&Gpu, &Tensor, &[bool]) -> Result<Vec<Option<Tensor>>>>;

/// Rebuilds a forward value during backward.
pub type Recompute = Rc<dyn Fn(&Gpu) -> Result<Tensor>>;

/// A forward value as a backward closure keeps it: the tensor, or the recipe to rebuild it.
pub enum Saved {
    Tensor(Tensor),
    Recompute(Recompute),
}

impl Saved {
    pub fn get(&self, gpu: &Gpu) -> Result<Tensor> {
        match self {
            Saved::Tensor(t) => Ok(t.clone()),
            Saved::Recompute(f) => f(gpu),
        }
    }
}

#[derive(Clone)]
pub struct Var {
    pub value: Tensor,
    node: Option<usize>,
    recompute: Option<Recompute>,
}

impl Var {
    fn new(value: Tensor, node: Option<usize>) -> Var {
        Var {
            value,
            node,
            recompute: None,
        }
    }

    /// What a backward closure should keep of this value: its recipe when it has one, else the
    /// tensor.
    pub fn save(&self) -> Saved {
        match &self.recompute {
            Some(f) => Saved::Recompute(f.clone()),
            None => Saved::Tensor(self.value.clone()),
        }
    }

    pub fn requires_grad(&self) -> bool {
        self.node.is_some()
    }

    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
}

struct Node {
    inputs: Vec<Option<usize>>,
    backward: Option<Backward>,
    param: Option<ParamId>,
}

pub struct Tape {
    gpu: Gpu,
    nodes: Vec<Node>,
    grad_enabled: bool,
}

impl Tape {
    pub fn new(gpu: &Gpu) -> Tape {
        Tape {
            gpu: gpu.clone(),
            nodes: Vec::new(),
            grad_enabled: true,
        }
    }

    /// A tape that records nothing: for evaluation, where no gradient is wanted.
    pub fn no_grad(gpu: &Gpu) -> Tape {
        Tape {
            grad_enabled: false,
            ..Tape::new(gpu)
        }
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    pub fn grad_enabled(&self) -> bool {
        self.grad_enabled
    }

    /// A value that needs no gradient (input images, labels).
    pub fn constant(&self, value: Tensor) -> Var {
        Var::new(value, None)
    }

    /// A trainable parameter: its gradient is accumulated into the store by `backward`.
    pub fn param(&mut self, params: &ParamStore, id: ParamId) -> Var {
        let value = params.value(id);
        if !self.grad_enabled {
            return Var::new(value, None);
        }
        self.nodes.push(Node {
            inputs: Vec::new(),
            backward: None,
            param: Some(id),
        });
        Var::new(value, Some(self.nodes.len() - 1))
    }

    /// Records an op's output. Without grad mode, or when no input needs a gradient, nothing is
    /// recorded and `backward` is dropped at once (releasing whatever it saved).
    pub fn record(
        &mut self,
        value: Tensor,
        inputs: &[&Var],
        backward: impl FnOnce(&Gpu, &Tensor, &[bool]) -> Result<Vec<Option<Tensor>>> + 'static,
    ) -> Var {
        if !self.grad_enabled || inputs.iter().all(|v| v.node.is_none()) {
            return Var::new(value, None);
        }
        self.nodes.push(Node {
            inputs: inputs.iter().map(|v| v.node).collect(),
            backward: Some(Box::new(backward)),
            param: None,
        });
        Var::new(value, Some(self.nodes.len() - 1))
    }

    /// `record`, and when recorded, gives the output the recipe `recompute` (see [`Var::save`]).
    /// Unrecorded outputs get none: no backward will ask for them, and the recipe would hold
    /// what it reads alive.
    pub fn record_recomputable(
        &mut self,
        value: Tensor,
        inputs: &[&Var],
        backward: impl FnOnce(&Gpu, &Tensor, &[bool]) -> Result<Vec<Option<Tensor>>> + 'static,
        recompute: impl Fn(&Gpu) -> Result<Tensor> + 'static,
    ) -> Var {
        let mut var = self.record(value, inputs, backward);
        if var.node.is_some() {
            var.recompute = Some(Rc::new(recompute));
        }
        var
    }

    /// Back-propagates from a scalar `loss`, accumulating parameter gradients into `params`
    /// (which `ParamStore::zero_grad` resets). Consumes the tape.
    pub fn backward(self, loss: &Var, params: &ParamStore) -> Result<()> {
        self.backward_scaled(loss, params, 1.0)
    }

    /// [`Tape::backward`] of `seed` × `loss`: the gradients come out multiplied by `seed` (loss
    /// scaling) at no extra cost, since the seed is the loss node's upstream gradient.
    pub fn backward_scaled(mut self, loss: &Var, params: &ParamStore, seed: f32) -> Result<()> {
        if loss.value.numel() != 1 {
            return Err(Error::Shape {
                op: "backward",
                detail: format!("needs a scalar loss, got shape {:?}", loss.shape()),
            });
        }
        let Some(root) = loss.node else {
            return Err(Error::Invalid(
                "backward: the loss does not depend on any parameter (was it computed on a \
                 no-grad tape?)"
                    .into(),
            ));
        };
        let gpu = self.gpu.clone();
        let mut grads: Vec<Option<Tensor>> = vec![None; root + 1];
        grads[root] = Some(gpu.upload(&[seed], loss.shape())?);
        self.nodes.truncate(root + 1);
        while let Some(node) = self.nodes.pop() {
            let index = self.nodes.len();
            let Some(grad) = grads[index].take() else {
                continue;
            };
            if let Some(id) = node.param {
                ops::accumulate(&gpu, &params.grad(id), &grad)?;
            }
            let Some(backward) = node.backward else {
                continue;
            };
            let needs: Vec<bool> = node.inputs.iter().map(Option::is_some).collect();
            let input_grads = backward(&gpu, &grad, &needs)?;
            // Dead now; released before the sums below allocate, which lowers the peak.
            drop(grad);
            for (input, g) in node.inputs.iter().zip(input_grads) {
                let (Some(i), Some(g)) = (input, g) else {
                    continue;
                };
                grads[*i] = Some(match grads[*i].take() {
                    // Summed in place when nothing else holds the gradient (the residual hands
                    // one tensor to both branches, so that one is copied): one activation-sized
                    // buffer fewer at every join.
                    Some(existing) if existing.is_sole_owner() => {
                        ops::accumulate(&gpu, &existing, &g)?;
                        existing
                    }
                    Some(existing) => ops::add(&gpu, &existing, &g)?,
                    None => g,
                });
            }
        }
        Ok(())
    }
}
