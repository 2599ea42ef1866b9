//! Matrix products with NumPy semantics: 1-D operands, batching, broadcast batch dims. The
//! operands' strides go straight to gemm, so transposed views are not copied.

use crate::backward::Node;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::broadcast_shapes;
use crate::op::OpKind;
use crate::storage::Storage;
use crate::tensor::Tensor;
use kiln_kernels::gemm::{gemm_batched, gemm_naive, MatLayout};

impl Tensor {
    /// Matrix product with `torch.matmul` semantics:
    /// 1-D · 1-D is a dot product (0-dim result); a 1-D left operand is a row vector and a 1-D
    /// right operand a column vector (the added dim is removed again); otherwise the last two
    /// dims multiply and the leading (batch) dims broadcast.
    ///
    /// Errors when inner dims differ: `matmul: inner dims differ: [32, 784] x [512, 784]`.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "both arguments need at least 1 dimension, got {:?} and {:?}",
                    self.shape(),
                    rhs.shape()
                ),
            ));
        }
        if self.dtype() != rhs.dtype() {
            return Err(Error::DTypeMismatch {
                op: "matmul",
                lhs: self.dtype(),
                rhs: rhs.dtype(),
            });
        }
        if self.dtype() == DType::Bool {
            return Err(Error::dtype("matmul", DType::Bool, ""));
        }
        let a = if self.rank() == 1 {
            self.layout().clone().unsqueeze0()
        } else {
            self.layout().clone()
        };
        let b = if rhs.rank() == 1 {
            rhs.layout().clone().unsqueeze_last()
        } else {
            rhs.layout().clone()
        };
        let (ar, br) = (a.rank(), b.rank());
        let (m, k) = (a.shape()[ar - 2], a.shape()[ar - 1]);
        let (k2, n) = (b.shape()[br - 2], b.shape()[br - 1]);
        if k != k2 {
            return Err(Error::shape(
                "matmul",
                format!("inner dims differ: {:?} x {:?}", self.shape(), rhs.shape()),
            ));
        }
        let batch = broadcast_shapes("matmul", &a.shape()[..ar - 2], &b.shape()[..br - 2])?;
        let mut full_a = batch.clone();
        full_a.extend([m, k]);
        let mut full_b = batch.clone();
        full_b.extend([k, n]);
        let la = a.broadcast_to("matmul", &full_a)?;
        let lb = b.broadcast_to("matmul", &full_b)?;
        // Offsets of each batch's matrix: walk the batch dims of the broadcast layouts.
        let batch_offsets = |l: &crate::Layout| -> Vec<usize> {
            let r = l.rank();
            let bl = crate::Layout::new(l.shape()[..r - 2].to_vec(), l.strides()[..r - 2].to_vec(), l.offset());
            bl.offsets()
        };
        let (oa, ob) = (batch_offsets(&la), batch_offsets(&lb));
        let r = la.rank();
        let ma = MatLayout {
            offset: 0,
            rs: la.strides()[r - 2],
            cs: la.strides()[r - 1],
        };
        let mb = MatLayout {
            offset: 0,
            rs: lb.strides()[r - 2],
            cs: lb.strides()[r - 1],
        };
        let nb = oa.len();
        let storage = {
            let (sa, sb) = (self.storage(), rhs.storage());
            macro_rules! fast {
                ($x:expr, $y:expr, $v:ident, $z:expr) => {{
                    let mut c = vec![$z; nb * m * n];
                    gemm_batched(m, n, k, $x, ma, &oa, $y, mb, &ob, &mut c);
                    Storage::$v(c)
                }};
            }
            macro_rules! naive {
                ($x:expr, $y:expr, $v:ident, $z:expr) => {{
                    let mut c = vec![$z; nb * m * n];
                    for i in 0..nb {
                        let (pa, pb) = (
                            MatLayout { offset: oa[i], ..ma },
                            MatLayout { offset: ob[i], ..mb },
                        );
                        gemm_naive(
                            m,
                            n,
                            k,
                            $x,
                            pa,
                            $y,
                            pb,
                            &mut c,
                            MatLayout::row_major(i * m * n, n),
                        );
                    }
                    Storage::$v(c)
                }};
            }
            match (&*sa, &*sb) {
                (Storage::F32(x), Storage::F32(y)) => fast!(x, y, F32, 0f32),
                (Storage::F64(x), Storage::F64(y)) => fast!(x, y, F64, 0f64),
                (Storage::F16(x), Storage::F16(y)) => fast!(x, y, F16, half::f16::ZERO),
                (Storage::BF16(_), Storage::BF16(_)) => {
                    drop((sa, sb));
                    let f = crate::no_grad(|| {
                        self.to_dtype(DType::F32)?
                            .matmul(&rhs.to_dtype(DType::F32)?)?
                            .to_dtype(DType::BF16)
                    })?;
                    let s = f.storage().clone();
                    s
                }
                (Storage::I64(x), Storage::I64(y)) => naive!(x, y, I64, 0i64),
                (Storage::I32(x), Storage::I32(y)) => naive!(x, y, I32, 0i32),
                (Storage::U8(x), Storage::U8(y)) => naive!(x, y, U8, 0u8),
                (x, _) => return Err(Error::dtype("matmul", x.dtype(), "")),
            }
        };
        let mut shape = batch;
        if self.rank() > 1 {
            shape.push(m);
        }
        if rhs.rank() > 1 {
            shape.push(n);
        }
        let node = Node::record(OpKind::Matmul, &[self, rhs], vec![]);
        Ok(Tensor::from_storage_node(storage, &shape, node))
    }

    /// Product of two 2-D matrices (`torch.mm`).
    pub fn mm(&self, rhs: &Tensor) -> Result<Tensor> {
        if self.rank() != 2 || rhs.rank() != 2 {
            return Err(Error::shape(
                "mm",
                format!("expects 2-D matrices, got {:?} and {:?}", self.shape(), rhs.shape()),
            ));
        }
        self.matmul(rhs)
    }

    /// Batched product of two 3-D tensors with equal batch sizes (`torch.bmm`).
    pub fn bmm(&self, rhs: &Tensor) -> Result<Tensor> {
        if self.rank() != 3 || rhs.rank() != 3 || self.shape()[0] != rhs.shape()[0] {
            return Err(Error::shape(
                "bmm",
                format!(
                    "expects 3-D tensors with the same batch size, got {:?} and {:?}",
                    self.shape(),
                    rhs.shape()
                ),
            ));
        }
        self.matmul(rhs)
    }

    /// Outer product of two 1-D tensors (`torch.outer`).
    pub fn outer(&self, rhs: &Tensor) -> Result<Tensor> {
        if self.rank() != 1 || rhs.rank() != 1 {
            return Err(Error::shape(
                "outer",
                format!("expects 1-D tensors, got {:?} and {:?}", self.shape(), rhs.shape()),
            ));
        }
        self.unsqueeze(1)?.matmul(&rhs.unsqueeze(0)?)
    }
}

impl crate::Layout {
    fn unsqueeze0(self) -> crate::Layout {
        let mut shape = vec![1];
        shape.extend_from_slice(self.shape());
        let mut strides = vec![self.numel().max(1)];
        strides.extend_from_slice(self.strides());
        crate::Layout::new(shape, strides, self.offset())
    }
    fn unsqueeze_last(self) -> crate::Layout {
        let mut shape = self.shape().to_vec();
        shape.push(1);
        let mut strides = self.strides().to_vec();
        strides.push(1);
        crate::Layout::new(shape, strides, self.offset())
    }
}
