//! Per-sample image transforms, shaped like `torchvision.transforms` (on tensors only).
//!
//! A transform maps one image tensor (`[C, H, W]`, or `[..., C, H, W]` where noted) to another.
//! Random transforms draw from the [`Generator`] they are handed, never from the global one: the
//! [`crate::DataLoader`] seeds it from (loader seed, epoch, sample index), so the augmentation a
//! sample gets is reproducible and the same whatever the number of workers.
//!
//! ```
//! use kiln_data::transforms::{Compose, Normalize, RandomCrop, RandomHorizontalFlip, Transform};
//! use kiln_tensor::{DType, Generator, Tensor};
//! # fn main() -> kiln_tensor::Result<()> {
//! let t = Compose::new(vec![
//!     Box::new(RandomCrop::new(32, 4)),
//!     Box::new(RandomHorizontalFlip::new(0.5)),
//!     Box::new(Normalize::new(vec![0.49, 0.48, 0.45], vec![0.25, 0.24, 0.26])?),
//! ]);
//! let image = Tensor::rand(&[3, 32, 32], DType::F32)?;
//! let out = t.apply(&image, &mut Generator::new(0))?;
//! assert_eq!(out.shape(), &[3, 32, 32]);
//! # Ok(()) }
//! ```

mod crop;
mod flip;
mod normalize;

pub use crop::RandomCrop;
pub use flip::RandomHorizontalFlip;
pub use normalize::Normalize;

use kiln_tensor::{Error, Generator, Result, Tensor};

/// An image-to-image map, possibly random (drawing only from `rng`).
pub trait Transform: Send + Sync {
    /// The transformed image. Errors name the transform and the image's shape.
    fn apply(&self, image: &Tensor, rng: &mut Generator) -> Result<Tensor>;
}

/// Any `Fn(&Tensor, &mut Generator) -> Result<Tensor>` closure is a transform
/// (`torchvision.transforms.Lambda`).
impl<F> Transform for F
where
    F: Fn(&Tensor, &mut Generator) -> Result<Tensor> + Send + Sync,
{
    fn apply(&self, image: &Tensor, rng: &mut Generator) -> Result<Tensor> {
        self(image, rng)
    }
}

/// Several transforms applied in order, all drawing from the same generator
/// (`torchvision.transforms.Compose`).
pub struct Compose {
    pub transforms: Vec<Box<dyn Transform>>,
}

impl Compose {
    pub fn new(transforms: Vec<Box<dyn Transform>>) -> Compose {
        Compose { transforms }
    }
}

impl Transform for Compose {
    fn apply(&self, image: &Tensor, rng: &mut Generator) -> Result<Tensor> {
        let mut x = image.clone();
        for t in &self.transforms {
            x = t.apply(&x, rng)?;
        }
        Ok(x)
    }
}

/// `(C, H, W)` of an image of shape `[..., C, H, W]`, or an error naming `op`.
fn chw(op: &'static str, image: &Tensor) -> Result<(usize, usize, usize)> {
    let s = image.shape();
    if s.len() < 3 {
        return Err(Error::Shape {
            op,
            msg: format!("expected an image tensor of shape [..., C, H, W], got shape {s:?}"),
        });
    }
    let r = s.len();
    Ok((s[r - 3], s[r - 2], s[r - 1]))
}
