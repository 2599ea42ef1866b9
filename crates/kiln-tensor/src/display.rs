//! `Display` in the style of PyTorch's repr: nested brackets, large tensors summarized with
//! `...`, and the shape and dtype on the last line.

use crate::dtype::DType;
use crate::tensor::Tensor;
use std::fmt;

const SUMMARIZE_ABOVE: usize = 1000;
const EDGE: usize = 3;

fn fmt_value(v: f64, dtype: DType, int_like: bool) -> String {
    match dtype {
        DType::Bool => if v != 0.0 { "True" } else { "False" }.to_string(),
        d if d.is_int() => format!("{}", v as i64),
        _ if v.is_nan() => "nan".into(),
        _ if v.is_infinite() => if v > 0.0 { "inf" } else { "-inf" }.into(),
        _ if int_like => format!("{v:.0}."),
        _ => format!("{v:.4}"),
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vals = self.to_vec_f64();
        let dtype = self.dtype();
        let int_like = vals.iter().all(|v| !v.is_finite() || v.fract() == 0.0);
        let summarize = vals.len() > SUMMARIZE_ABOVE;
        let strs: Vec<String> = vals.iter().map(|&v| fmt_value(v, dtype, int_like)).collect();
        let width = strs.iter().map(|s| s.len()).max().unwrap_or(0);
        let shape = self.shape();
        let strides = crate::layout::contiguous_strides(shape);

        #[allow(clippy::too_many_arguments)]
        fn rec(
            out: &mut String,
            strs: &[String],
            shape: &[usize],
            strides: &[usize],
            base: usize,
            depth: usize,
            width: usize,
            summarize: bool,
        ) {
            if shape.is_empty() {
                out.push_str(&format!("{:>width$}", strs[base]));
                return;
            }
            out.push('[');
            let n = shape[0];
            let idx: Vec<Option<usize>> = if summarize && n > 2 * EDGE {
                (0..EDGE)
                    .map(Some)
                    .chain([None])
                    .chain((n - EDGE..n).map(Some))
                    .collect()
            } else {
                (0..n).map(Some).collect()
            };
            for (j, i) in idx.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                    if shape.len() > 1 {
                        out.push_str(&"\n".repeat(shape.len() - 1));
                        out.push_str(&" ".repeat(depth + 8));
                    } else {
                        out.push(' ');
                    }
                }
                match i {
                    Some(i) => rec(
                        out,
                        strs,
                        &shape[1..],
                        &strides[1..],
                        base + i * strides[0],
                        depth + 1,
                        width,
                        summarize,
                    ),
                    None => out.push_str("..."),
                }
            }
            out.push(']');
        }

        let mut body = String::new();
        if vals.is_empty() {
            body.push_str("[]");
        } else {
            rec(&mut body, &strs, shape, &strides, 0, 0, width, summarize);
        }
        write!(f, "tensor({body}, shape={shape:?}, dtype={dtype}")?;
        if self.requires_grad() {
            write!(f, ", requires_grad=True")?;
        }
        write!(f, ")")
    }
}
