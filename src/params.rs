//! Named parameters and buffers. Parameter values, gradients and momentum each live in one
//! arena buffer (each parameter aligned for binding), so the optimizer updates all of them in
//! one dispatch. Names are PyTorch state-dict keys; they become checkpoint keys.

use std::rc::Rc;

use crate::error::{Error, Result};
use crate::gpu::pool::Storage;
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::Gpu;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamId(pub usize);

/// Names and shapes of parameters or buffers.
pub type NamedShapes = Vec<(String, Vec<usize>)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferId(pub usize);

struct Entry {
    name: String,
    shape: Vec<usize>,
    /// Start in the arena, in elements.
    offset: usize,
}

/// Declares parameters and buffers with their initial values, then uploads them at once.
#[derive(Default)]
pub struct ParamStoreBuilder {
    params: Vec<(String, Vec<usize>, Vec<f32>)>,
    buffers: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl ParamStoreBuilder {
    pub fn param(&mut self, name: &str, shape: &[usize], init: Vec<f32>) -> ParamId {
        assert_eq!(
            shape.iter().product::<usize>(),
            init.len(),
            "init of `{name}`"
        );
        self.params.push((name.into(), shape.to_vec(), init));
        ParamId(self.params.len() - 1)
    }

    /// A non-trainable named tensor (batch-norm running statistics).
    pub fn buffer(&mut self, name: &str, shape: &[usize], init: Vec<f32>) -> BufferId {
        assert_eq!(
            shape.iter().product::<usize>(),
            init.len(),
            "init of `{name}`"
        );
        self.buffers.push((name.into(), shape.to_vec(), init));
        BufferId(self.buffers.len() - 1)
    }

    /// (parameters, buffers) as names and shapes, in declaration order.
    pub fn spec(&self) -> (NamedShapes, NamedShapes) {
        let names = |v: &[(String, Vec<usize>, Vec<f32>)]| {
            v.iter().map(|(n, s, _)| (n.clone(), s.clone())).collect()
        };
        (names(&self.params), names(&self.buffers))
    }

    pub fn build(self, gpu: &Gpu) -> Result<ParamStore> {
        let mut names: Vec<&str> = self
            .params
            .iter()
            .chain(&self.buffers)
            .map(|(n, _, _)| n.as_str())
            .collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Invalid(format!(
                "parameter name `{}` is used twice",
                w[0]
            )));
        }
        let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
        let mut entries = Vec::new();
        let mut total = 0;
        for (name, shape, _) in &self.params {
            entries.push(Entry {
                name: name.clone(),
                shape: shape.clone(),
                offset: total,
            });
            total += shape.iter().product::<usize>().div_ceil(align) * align;
        }
        let bytes = total as u64 * 4;
        let store = ParamStore {
            gpu: gpu.clone(),
            values: gpu.create_owned("parameters", bytes)?,
            grads: gpu.create_owned("gradients", bytes)?,
            momentum: gpu.create_owned("momentum", bytes)?,
            total,
            entries,
            buffers: Vec::new(),
        };
        for (i, (_, _, init)) in self.params.iter().enumerate() {
            gpu.write(&store.value(ParamId(i)), bytemuck::cast_slice(init))?;
        }
        let mut store = store;
        for (name, shape, init) in self.buffers {
            let t = gpu.upload(&init, &shape)?;
            store.buffers.push((name, t));
        }
        Ok(store)
    }
}

pub struct ParamStore {
    gpu: Gpu,
    values: Rc<Storage>,
    grads: Rc<Storage>,
    momentum: Rc<Storage>,
    /// Arena length in elements, padding included.
    total: usize,
    entries: Vec<Entry>,
    buffers: Vec<(String, Tensor)>,
}

impl ParamStore {
    pub fn builder() -> ParamStoreBuilder {
        ParamStoreBuilder::default()
    }

    fn view(&self, arena: &Rc<Storage>, id: ParamId) -> Tensor {
        let e = &self.entries[id.0];
        Tensor::from_storage(
            arena.clone(),
            e.offset as u64 * 4,
            e.shape.clone(),
            DType::F32,
        )
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    pub fn value(&self, id: ParamId) -> Tensor {
        self.view(&self.values, id)
    }

    pub fn grad(&self, id: ParamId) -> Tensor {
        self.view(&self.grads, id)
    }

    pub fn momentum(&self, id: ParamId) -> Tensor {
        self.view(&self.momentum, id)
    }

    pub fn name(&self, id: ParamId) -> &str {
        &self.entries[id.0].name
    }

    pub fn ids(&self) -> impl Iterator<Item = ParamId> {
        (0..self.entries.len()).map(ParamId)
    }

    pub fn find(&self, name: &str) -> Option<ParamId> {
        self.entries
            .iter()
            .position(|e| e.name == name)
            .map(ParamId)
    }

    /// Number of trainable scalars (padding excluded).
    pub fn count(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.shape.iter().product::<usize>())
            .sum()
    }

    pub fn buffer(&self, id: BufferId) -> &Tensor {
        &self.buffers[id.0].1
    }

    pub fn buffers(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.buffers.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// The whole arenas as flat tensors (values, gradients, momentum), for the optimizer.
    pub fn arenas(&self) -> [Tensor; 3] {
        [&self.values, &self.grads, &self.momentum]
            .map(|s| Tensor::from_storage(s.clone(), 0, vec![self.total], DType::F32))
    }

    /// Resets every gradient to zero (one clear of the gradient arena).
    pub fn zero_grad(&self) {
        self.gpu.clear(&self.arenas()[1]);
    }
}
