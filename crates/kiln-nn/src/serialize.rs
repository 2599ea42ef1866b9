//! safetensors files: a [`StateDict`] with PyTorch's names and layouts, plus string metadata.
//!
//! Files written here load in PyTorch with `safetensors.torch.load_file` and
//! `model.load_state_dict(..., strict=True)`; files PyTorch writes load here. Writes are atomic: the
//! bytes go to a temporary file in the same directory, which is synced and then renamed over the
//! target, so a crash never leaves a half-written file under the final name.

use crate::StateDict;
use half::{bf16, f16};
use kiln_tensor::{DType, Error, Result, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary sibling file, `fsync`, then `rename`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::file(path, "not a file path"))?
        .to_string_lossy()
        .into_owned();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable where the platform allows it.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::file(path, format!("cannot write: {e}"))
    })
}

/// One tensor's bytes in safetensors' little-endian layout.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn le_bytes<T: kiln_tensor::Element, const N: usize>(t: &Tensor, f: impl Fn(T) -> [u8; N]) -> Result<Vec<u8>> {
    Ok(t.to_vec::<T>()?.into_iter().flat_map(f).collect())
}

fn to_raw(t: &Tensor) -> Result<Raw> {
    let (dtype, bytes) = match t.dtype() {
        DType::F32 => (Dtype::F32, le_bytes::<f32, 4>(t, f32::to_le_bytes)?),
        DType::F64 => (Dtype::F64, le_bytes::<f64, 8>(t, f64::to_le_bytes)?),
        DType::F16 => (Dtype::F16, le_bytes::<f16, 2>(t, f16::to_le_bytes)?),
        DType::BF16 => (Dtype::BF16, le_bytes::<bf16, 2>(t, bf16::to_le_bytes)?),
        DType::I64 => (Dtype::I64, le_bytes::<i64, 8>(t, i64::to_le_bytes)?),
        DType::I32 => (Dtype::I32, le_bytes::<i32, 4>(t, i32::to_le_bytes)?),
        DType::U8 => (Dtype::U8, t.to_vec::<u8>()?),
        DType::Bool => (Dtype::BOOL, t.to_vec::<bool>()?.into_iter().map(u8::from).collect()),
        other => {
            return Err(Error::DType {
                op: "save_state_dict",
                dtype: other,
                hint: "safetensors has no such dtype".into(),
            })
        }
    };
    Ok(Raw {
        dtype,
        shape: t.shape().to_vec(),
        bytes,
    })
}

/// Serializes `state` and `metadata` to safetensors bytes (tensor order is safetensors' own).
pub fn state_dict_to_bytes(state: &StateDict, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let raws = state
        .iter()
        .map(|(k, t)| Ok((k.to_string(), to_raw(t)?)))
        .collect::<Result<Vec<_>>>()?;
    let meta: Option<HashMap<String, String>> =
        (!metadata.is_empty()).then(|| metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    safetensors::serialize(raws.iter().map(|(k, r)| (k.as_str(), r)), meta).map_err(|e| Error::Invalid {
        op: "save_state_dict",
        msg: e.to_string(),
    })
}

/// Saves `state` (and string `metadata`, e.g. the model configuration) to a safetensors file,
/// atomically.
pub fn save_state_dict(path: impl AsRef<Path>, state: &StateDict, metadata: &BTreeMap<String, String>) -> Result<()> {
    let bytes = state_dict_to_bytes(state, metadata)?;
    write_atomic(path.as_ref(), &bytes)
}

fn from_le<T: kiln_tensor::Element, const N: usize>(
    bytes: &[u8],
    shape: &[usize],
    f: impl Fn([u8; N]) -> T,
) -> Result<Tensor> {
    let v: Vec<T> = bytes
        .chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunks_exact yields N bytes")))
        .collect();
    Tensor::from_vec(v, shape)
}

fn from_view(name: &str, view: &TensorView<'_>) -> std::result::Result<Tensor, String> {
    let (b, s) = (view.data(), view.shape());
    let t = match view.dtype() {
        Dtype::F32 => from_le(b, s, f32::from_le_bytes),
        Dtype::F64 => from_le(b, s, f64::from_le_bytes),
        Dtype::F16 => from_le(b, s, f16::from_le_bytes),
        Dtype::BF16 => from_le(b, s, bf16::from_le_bytes),
        Dtype::I64 => from_le(b, s, i64::from_le_bytes),
        Dtype::I32 => from_le(b, s, i32::from_le_bytes),
        Dtype::I16 => from_le(b, s, |c: [u8; 2]| i32::from(i16::from_le_bytes(c))),
        Dtype::I8 => from_le(b, s, |c: [u8; 1]| i32::from(c[0] as i8)),
        Dtype::U8 => Tensor::from_vec(b.to_vec(), s),
        Dtype::BOOL => Tensor::from_vec(b.iter().map(|&x| x != 0).collect::<Vec<bool>>(), s),
        other => {
            return Err(format!(
                "tensor {name:?} has dtype {other:?}, which Kiln does not support"
            ))
        }
    };
    t.map_err(|e| format!("tensor {name:?}: {e}"))
}

/// Parses safetensors bytes into a state dict (in the file's order) and its metadata.
/// `origin` names the source in errors.
pub fn state_dict_from_bytes(origin: &Path, bytes: &[u8]) -> Result<(StateDict, BTreeMap<String, String>)> {
    let bad = |msg: String| Error::file(origin, format!("not a valid safetensors file: {msg}"));
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let mut names: Vec<(usize, String)> = header
        .tensors()
        .into_iter()
        .map(|(name, info)| (info.data_offsets.0, name))
        .collect();
    names.sort();
    let mut state = StateDict::new();
    for (_, name) in names {
        let view = st.tensor(&name).map_err(|e| bad(e.to_string()))?;
        state.insert(
            name.clone(),
            from_view(&name, &view).map_err(|m| Error::file(origin, m))?,
        );
    }
    let metadata = header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok((state, metadata))
}

/// Loads a safetensors file (from Kiln or `safetensors.torch.save_file`): tensors in file order, and
/// the string metadata. Malformed files give an [`Error::File`] naming the file and the problem.
pub fn load_state_dict_file(path: impl AsRef<Path>) -> Result<(StateDict, BTreeMap<String, String>)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
    state_dict_from_bytes(path, &bytes)
}
