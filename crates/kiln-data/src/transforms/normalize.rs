use super::{chw, Transform};
use kiln_tensor::{Error, Generator, Result, Tensor};

/// `out[c] = (image[c] - mean[c]) / std[c]` per channel (`torchvision.transforms.Normalize`).
///
/// `mean` and `std` hold one value per channel, or a single value for all channels. As in
/// torchvision, they are first converted to the image's dtype, so the arithmetic is the image's
/// (f32 for f32 images). Works on `[..., C, H, W]`; errors on a non-float image, a channel count
/// that `mean`/`std` do not match, or a `std` that is zero in the image's dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalize {
    /// Errors on empty lists, lists of different lengths, or a zero `std` entry.
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Result<Normalize> {
        let n = Normalize { mean, std };
        n.check()?;
        Ok(n)
    }

    fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Invalid { op: "Normalize", msg });
        if self.mean.is_empty() || self.mean.len() != self.std.len() {
            return bad(format!(
                "mean and std need the same non-zero length, got {} and {}",
                self.mean.len(),
                self.std.len()
            ));
        }
        if self.std.contains(&0.0) {
            return bad(format!("std {:?} has a zero, leading to division by zero", self.std));
        }
        Ok(())
    }
}

impl Transform for Normalize {
    fn apply(&self, image: &Tensor, _rng: &mut Generator) -> Result<Tensor> {
        const OP: &str = "Normalize";
        self.check()?;
        let (c, _, _) = chw(OP, image)?;
        if !image.dtype().is_float() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("input tensor should be a float tensor, got {}", image.dtype()),
            });
        }
        let k = self.mean.len();
        if k != 1 && k != c {
            return Err(Error::Shape {
                op: OP,
                msg: format!(
                    "{k} mean/std values for an image of {c} channels (shape {:?})",
                    image.shape()
                ),
            });
        }
        let mean = Tensor::from_vec(self.mean.clone(), &[k, 1, 1])?.to_dtype(image.dtype())?;
        let std = Tensor::from_vec(self.std.clone(), &[k, 1, 1])?.to_dtype(image.dtype())?;
        if std.to_vec_f64().contains(&0.0) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "std {:?} evaluated to zero after conversion to {}, leading to division by zero",
                    self.std,
                    image.dtype()
                ),
            });
        }
        image.sub(&mean)?.div(&std)
    }
}
