//! `torch.save` files (`.pt`, `.pth`) read without Python: the zip archive holds `data.pkl`, a
//! pickle of the saved object whose tensors point (by persistent id) at raw storages stored
//! beside it as `data/<key>`.
//!
//! The pickle reader knows the opcodes `torch.save` writes (protocol 2, and the few protocol 4
//! adds) and the objects a state dict or a training checkpoint holds: dicts (`OrderedDict`),
//! lists, tuples, numbers, strings, and tensors (`torch._utils._rebuild_tensor_v2`). Any other
//! object is kept only by its class name; an unknown opcode is an error naming it. Containers are
//! copied when the pickle memoizes them, which is exact for what `torch.save` writes of these
//! (each container is complete before it is referenced again).

use std::collections::HashMap;
use std::io::Read;

use safetensors::Dtype;

/// One tensor as the file stores it: name, dtype, shape, contiguous little-endian bytes.
pub type RawTensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// What a `.pt` file gave: its tensors (a state dict, plus `momentum_buffer.<name>` for each SGD
/// momentum buffer of a checkpoint dict) and the epoch it records as finished.
#[derive(Debug)]
pub struct PtFile {
    pub tensors: Vec<RawTensor>,
    pub finished_epoch: Option<usize>,
    /// Keys of a checkpoint dict left unread.
    pub ignored: Vec<String>,
}

/// The most bytes `data.pkl` may have: a state dict's pickle is small (its tensors are stored
/// apart), so a larger one is not such a file.
const MAX_PICKLE: u64 = 64 << 20;

/// Whether `bytes` starts like a zip archive (as `torch.save` files do).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Reads a `torch.save` zip archive; errors say what is wrong, for the caller to prefix with the
/// file's name.
pub fn read(bytes: &[u8]) -> Result<PtFile, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a readable zip archive (torch.save writes one): {e}"))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .map(String::from)
        .collect();
    let pickle_name = names
        .iter()
        .find(|n| n.ends_with("data.pkl"))
        .ok_or(
            "the archive has no data.pkl: not a torch.save file (or one saved with \
                _use_new_zipfile_serialization=False, which is not read; save it again with \
                a current torch)",
        )?
        .clone();
    let prefix = &pickle_name[..pickle_name.len() - "data.pkl".len()];
    let mut entry = |name: &str, limit: u64| -> Result<Vec<u8>, String> {
        let file = zip
            .by_name(name)
            .map_err(|e| format!("cannot open {name} in the archive: {e}"))?;
        if file.size() > limit {
            return Err(format!(
                "{name} is {} bytes, more than the {limit} this reader takes",
                file.size()
            ));
        }
        let mut out = Vec::with_capacity(file.size() as usize);
        file.take(limit)
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot read {name} in the archive: {e}"))?;
        Ok(out)
    };
    let byteorder = format!("{prefix}byteorder");
    if names.contains(&byteorder) && entry(&byteorder, 16)? != b"little" {
        return Err("its tensors are stored big-endian; save it on a little-endian machine".into());
    }
    let root = Unpickler::new(&entry(&pickle_name, MAX_PICKLE)?).run()?;
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = PtFile {
        tensors: Vec::new(),
        finished_epoch: None,
        ignored: Vec::new(),
    };
    let mut take = |name: String, v: &Value| -> Result<(), String> {
        let Value::Tensor {
            dtype,
            key,
            offset,
            shape,
            stride,
        } = v
        else {
            return Err(format!("`{name}` is {}, not a tensor", v.kind()));
        };
        let elem = dtype.bitsize() / 8;
        // Shapes and offsets are the file's word: checked, so a corrupt one cannot wrap.
        let beyond = || {
            format!("tensor `{name}` (shape {shape:?}, offset {offset}) lies beyond any storage")
        };
        let numel = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(beyond)?;
        if numel > 0 && *stride != contiguous(shape) {
            return Err(format!(
                "tensor `{name}` is not contiguous (strides {stride:?} for shape {shape:?}); \
                 save `.contiguous()` copies"
            ));
        }
        if !storages.contains_key(key) {
            let data = entry(&format!("{prefix}data/{key}"), bytes.len() as u64)?;
            storages.insert(key.clone(), data);
        }
        let storage = &storages[key];
        let start = offset.checked_mul(elem).ok_or_else(beyond)?;
        let end = offset
            .checked_add(numel)
            .and_then(|e| e.checked_mul(elem))
            .ok_or_else(beyond)?;
        let data = storage.get(start..end).ok_or_else(|| {
            format!(
                "tensor `{name}` reaches byte {end} of its storage data/{key}, which has {}",
                storage.len()
            )
        })?;
        out.tensors
            .push((name, *dtype, shape.clone(), data.to_vec()));
        Ok(())
    };
    let Value::Dict(items) = root else {
        return Err(format!(
            "it holds {}, not a state dict or a checkpoint dict",
            root.kind()
        ));
    };
    let field = |key: &str| {
        items
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
            .map(|(_, v)| v)
    };
    let Some(model) = field("model_state_dict") else {
        // A bare state dict: names to tensors.
        for (k, v) in &items {
            take(key_name(k)?, v)?;
        }
        return Ok(out);
    };
    let Value::Dict(model) = model else {
        return Err(format!(
            "`model_state_dict` is {}, not a dict",
            model.kind()
        ));
    };
    let mut parameters = Vec::new();
    for (k, v) in model {
        let name = key_name(k)?;
        if !is_buffer(&name) {
            parameters.push(name.clone());
        }
        take(name, v)?;
    }
    if let Some(optimizer) = field("optimizer_state_dict") {
        for (name, buffer) in momentum(optimizer, &parameters)? {
            take(format!("momentum_buffer.{name}"), buffer)?;
        }
    }
    match field("finished_epoch") {
        Some(Value::Int(e)) if *e >= 0 => out.finished_epoch = Some(*e as usize),
        Some(v) => {
            return Err(format!(
                "`finished_epoch` is {}, not an epoch number",
                v.kind()
            ))
        }
        None => {}
    }
    let known = ["model_state_dict", "optimizer_state_dict", "finished_epoch"];
    out.ignored = items
        .iter()
        .filter_map(|(k, _)| match k {
            Value::Str(s) if !known.contains(&s.as_str()) => Some(s.clone()),
            _ => None,
        })
        .collect();
    Ok(out)
}

fn contiguous(shape: &[usize]) -> Vec<usize> {
    let mut stride = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        stride[i] = stride[i + 1] * shape[i + 1];
    }
    stride
}

fn is_buffer(name: &str) -> bool {
    ["running_mean", "running_var", "num_batches_tracked"]
        .iter()
        .any(|b| name.rsplit('.').next() == Some(b))
}

fn key_name(k: &Value) -> Result<String, String> {
    match k {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!("a state dict key is {}, not a name", other.kind())),
    }
}

/// The momentum buffers of an SGD `optimizer.state_dict()`, named by the model's parameters:
/// the optimizer numbers its parameters in its groups' order, which is the model's parameter
/// order when it was built from `model.parameters()`.
fn momentum<'a>(
    optimizer: &'a Value,
    parameters: &[String],
) -> Result<Vec<(String, &'a Value)>, String> {
    let get = |v: &'a Value, key: &str| -> Option<&'a Value> {
        match v {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    };
    let bad = |what: &str| format!("`optimizer_state_dict` {what}");
    let Some(Value::List(groups)) = get(optimizer, "param_groups") else {
        return Err(bad("has no `param_groups` list"));
    };
    let mut order = Vec::new();
    for g in groups {
        let Some(Value::List(ids)) = get(g, "params") else {
            return Err(bad("has a parameter group without its `params` list"));
        };
        for id in ids {
            match id {
                Value::Int(i) => order.push(*i),
                other => return Err(bad(&format!("numbers a parameter by {}", other.kind()))),
            }
        }
    }
    if order.len() != parameters.len() {
        return Err(bad(&format!(
            "holds {} parameters, but `model_state_dict` {}: it belongs to another model",
            order.len(),
            parameters.len()
        )));
    }
    let Some(Value::Dict(state)) = get(optimizer, "state") else {
        return Err(bad("has no `state` dict"));
    };
    let mut out = Vec::new();
    for (id, entry) in state {
        let Value::Int(id) = id else {
            return Err(bad(&format!("keys its state by {}", id.kind())));
        };
        let Some(position) = order.iter().position(|i| i == id) else {
            return Err(bad(&format!("has state for parameter {id}, in no group")));
        };
        if let Some(buffer) = get(entry, "momentum_buffer") {
            // PyTorch keeps None before the first step.
            if !matches!(buffer, Value::None) {
                out.push((parameters[position].clone(), buffer));
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Bytes,
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A class or function, `module.name`.
    Global(String),
    Storage {
        dtype: Dtype,
        key: String,
    },
    Tensor {
        dtype: Dtype,
        key: String,
        offset: usize,
        shape: Vec<usize>,
        stride: Vec<usize>,
    },
    /// Any other object, by its class name.
    Object(String),
    Mark,
}

impl Value {
    fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool => "a bool".into(),
            Value::Int(i) => format!("the number {i}"),
            Value::Float => "a float".into(),
            Value::Str(s) => format!("the string {s:?}"),
            Value::Bytes => "bytes".into(),
            Value::List(_) => "a list".into(),
            Value::Tuple(_) => "a tuple".into(),
            Value::Dict(_) => "a dict".into(),
            Value::Global(g) => format!("the class {g}"),
            Value::Storage { .. } => "a bare storage".into(),
            Value::Tensor { .. } => "a tensor".into(),
            Value::Object(c) => format!("a {c} object"),
            Value::Mark => "a pickle mark".into(),
        }
    }

    fn usizes(&self, what: &str) -> Result<Vec<usize>, String> {
        match self {
            Value::Tuple(v) | Value::List(v) => v
                .iter()
                .map(|x| match x {
                    Value::Int(i) if *i >= 0 => Ok(*i as usize),
                    other => Err(format!("a tensor's {what} holds {}", other.kind())),
                })
                .collect(),
            other => Err(format!("a tensor's {what} is {}", other.kind())),
        }
    }
}

fn storage_dtype(class: &str) -> Option<Dtype> {
    Some(match class.strip_prefix("torch.")? {
        "FloatStorage" => Dtype::F32,
        "DoubleStorage" => Dtype::F64,
        "HalfStorage" => Dtype::F16,
        "BFloat16Storage" => Dtype::BF16,
        "LongStorage" => Dtype::I64,
        "IntStorage" => Dtype::I32,
        "ShortStorage" => Dtype::I16,
        "CharStorage" => Dtype::I8,
        "ByteStorage" => Dtype::U8,
        "BoolStorage" => Dtype::BOOL,
        _ => return None,
    })
}

struct Unpickler<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

impl<'a> Unpickler<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Unpickler {
            bytes,
            pos: 0,
            stack: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "data.pkl ends early (at byte {} of {}): the file is truncated",
                self.pos,
                self.bytes.len()
            ));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("data.pkl ends inside a GLOBAL opcode")?;
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.pos += 1;
        Ok(s)
    }

    fn text(&mut self, n: usize) -> Result<Value, String> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec())
            .map(Value::Str)
            .map_err(|_| "data.pkl holds a string that is not UTF-8".to_string())
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack.pop().ok_or_else(|| {
            format!(
                "malformed data.pkl: the stack is empty at byte {}",
                self.pos
            )
        })
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        let pos = self.pos;
        self.stack
            .last_mut()
            .ok_or_else(|| format!("malformed data.pkl: the stack is empty at byte {pos}"))
    }

    /// The values above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or_else(|| format!("malformed data.pkl: no mark at byte {}", self.pos))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    fn memo_get(&self, key: u32) -> Result<Value, String> {
        self.memo.get(&key).cloned().ok_or_else(|| {
            format!("malformed data.pkl: memo entry {key} is read before it is written")
        })
    }

    fn memo_put(&mut self, key: u32) -> Result<(), String> {
        let v = self
            .stack
            .last()
            .cloned()
            .ok_or("malformed data.pkl: memoizing an empty stack")?;
        self.memo.insert(key, v);
        Ok(())
    }

    fn run(mut self) -> Result<Value, String> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(format!("data.pkl uses pickle protocol {proto}, above 5"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Value::Mark),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b'N' => self.stack.push(Value::None),
                0x88 | 0x89 => self.stack.push(Value::Bool),
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64))
                }
                b'M' => {
                    let b = self.take(2)?;
                    self.stack
                        .push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64))
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(v as i64))
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err(format!("data.pkl holds an integer of {n} bytes"));
                    }
                    let mut v: i64 = 0;
                    for (i, &byte) in b.iter().enumerate() {
                        v |= (byte as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n); // two's complement sign
                    }
                    self.stack.push(Value::Int(v))
                }
                b'G' => {
                    self.take(8)?;
                    self.stack.push(Value::Float)
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v)
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v)
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    self.take(n)?;
                    self.stack.push(Value::Bytes)
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    self.take(n)?;
                    self.stack.push(Value::Bytes)
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    self.memo_put(k)?
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo_put(k)?
                }
                b'h' => {
                    let k = self.u8()? as u32;
                    let v = self.memo_get(k)?;
                    self.stack.push(v)
                }
                b'j' => {
                    let k = self.u32()?;
                    let v = self.memo_get(k)?;
                    self.stack.push(v)
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(format!("{module}.{name}")))
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => {
                            self.stack.push(Value::Global(format!("{m}.{n}")))
                        }
                        _ => return Err("malformed data.pkl: STACK_GLOBAL without names".into()),
                    }
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items))
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(format!("malformed data.pkl: short tuple at byte {at}"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items))
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items))
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let dict = pairs(items)?;
                    self.stack.push(Value::Dict(dict))
                }
                b'a' => {
                    let v = self.pop()?;
                    match self.top()? {
                        Value::List(l) => l.push(v),
                        other => {
                            return Err(format!("malformed data.pkl: APPEND to {}", other.kind()))
                        }
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(l) => l.extend(items),
                        // A list subclass or other object: its contents are not needed.
                        Value::Object(_) => {}
                        other => {
                            return Err(format!("malformed data.pkl: APPENDS to {}", other.kind()))
                        }
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    match self.top()? {
                        Value::Dict(d) => d.push((k, v)),
                        other => {
                            return Err(format!("malformed data.pkl: SETITEM on {}", other.kind()))
                        }
                    }
                }
                b'u' => {
                    let items = pairs(self.pop_mark()?)?;
                    match self.top()? {
                        Value::Dict(d) => d.extend(items),
                        Value::Object(_) => {}
                        other => {
                            return Err(format!("malformed data.pkl: SETITEMS on {}", other.kind()))
                        }
                    }
                }
                b'b' => {
                    // BUILD sets an object's state (e.g. a state dict's `_metadata`): not needed.
                    self.pop()?;
                    self.top()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = persistent(pid)?;
                    self.stack.push(v)
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = reduce(callable, args)?;
                    self.stack.push(v)
                }
                0x81 => {
                    self.pop()?;
                    let class = self.pop()?;
                    self.stack.push(Value::Object(match class {
                        Value::Global(g) => g,
                        other => other.kind(),
                    }))
                }
                _ => {
                    return Err(format!(
                        "data.pkl has pickle opcode 0x{op:02x} at byte {at}, which this reader \
                         does not know (torch.save does not write it for a state dict); save the \
                         state dict with safetensors.torch.save_file instead"
                    ))
                }
            }
        }
    }
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("malformed data.pkl: a dict with a key and no value".into());
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// `('storage', torch.FloatStorage, key, location, numel)`: a tensor's storage in the archive.
fn persistent(pid: Value) -> Result<Value, String> {
    let Value::Tuple(items) = pid else {
        return Err(format!("a persistent id is {}, not a tuple", pid.kind()));
    };
    match &items[..] {
        [Value::Str(tag), Value::Global(class), Value::Str(key), ..] if tag == "storage" => {
            let dtype = storage_dtype(class).ok_or_else(|| {
                format!("a tensor is stored as {class}, a type this reader does not know")
            })?;
            Ok(Value::Storage {
                dtype,
                key: key.clone(),
            })
        }
        _ => Err("a persistent id is not a tensor storage ('storage', type, key, …)".into()),
    }
}

fn reduce(callable: Value, args: Value) -> Result<Value, String> {
    let Value::Global(name) = callable else {
        return Ok(Value::Object(callable.kind()));
    };
    let args = match args {
        Value::Tuple(a) => a,
        other => {
            return Err(format!(
                "{name} is called with {}, not a tuple",
                other.kind()
            ))
        }
    };
    Ok(match name.as_str() {
        "collections.OrderedDict" | "builtins.dict" => Value::Dict(Vec::new()),
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let [storage, offset, size, stride, ..] = &args[..] else {
                return Err(format!("{name} is called with {} arguments", args.len()));
            };
            let Value::Storage { dtype, key } = storage else {
                return Err(format!("{name} is called on {}", storage.kind()));
            };
            let Value::Int(offset) = offset else {
                return Err(format!("{name} is called with offset {}", offset.kind()));
            };
            Value::Tensor {
                dtype: *dtype,
                key: key.clone(),
                offset: usize::try_from(*offset).map_err(|_| "a negative tensor offset")?,
                shape: size.usizes("size")?,
                stride: stride.usizes("stride")?,
            }
        }
        // nn.Parameter around a tensor.
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => args
            .into_iter()
            .next()
            .ok_or("a parameter without its tensor")?,
        _ => Value::Object(name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_opcodes_and_truncation_are_errors_not_panics() {
        let e = Unpickler::new(b"\x80\x02\xff").run().unwrap_err();
        assert!(e.contains("opcode 0xff at byte 2"), "{e}");
        let e = Unpickler::new(b"\x80\x02X\x10\x00\x00\x00ab")
            .run()
            .unwrap_err();
        assert!(e.contains("ends early"), "{e}");
        let e = Unpickler::new(b"\x80\x02s.").run().unwrap_err();
        assert!(e.contains("stack is empty"), "{e}");
        // Every prefix of a valid pickle fails cleanly.
        let valid = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x05X\x01\x00\x00\x00b]q\x02(J\xff\xff\xff\xff\x8a\x02\x00\x80eu.";
        let Value::Dict(d) = Unpickler::new(valid).run().unwrap() else {
            panic!("not a dict")
        };
        assert!(matches!(&d[0], (Value::Str(k), Value::Int(5)) if k == "a"));
        assert!(
            matches!(&d[1].1, Value::List(l) if matches!(l[..], [Value::Int(-1), Value::Int(-32768)]))
        );
        for n in 0..valid.len() {
            assert!(Unpickler::new(&valid[..n]).run().is_err());
        }
    }
}
