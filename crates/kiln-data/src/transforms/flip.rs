use super::{chw, Transform};
use kiln_tensor::{Error, Generator, Result, Tensor};

/// Mirrors the image left-right (the last dim) with probability `p`
/// (`torchvision.transforms.RandomHorizontalFlip`, default `p = 0.5`).
///
/// Draws one uniform `u` in `[0, 1)` per call and flips when `u < p`. Works on `[..., C, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomHorizontalFlip {
    pub p: f64,
}

impl RandomHorizontalFlip {
    pub fn new(p: f64) -> RandomHorizontalFlip {
        RandomHorizontalFlip { p }
    }
}

impl Default for RandomHorizontalFlip {
    fn default() -> Self {
        RandomHorizontalFlip { p: 0.5 }
    }
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, image: &Tensor, rng: &mut Generator) -> Result<Tensor> {
        const OP: &str = "RandomHorizontalFlip";
        if !(0.0..=1.0).contains(&self.p) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("probability p should be between 0 and 1, got {}", self.p),
            });
        }
        chw(OP, image)?;
        if rng.next_f64() < self.p {
            image.flip(&[-1])
        } else {
            Ok(image.clone())
        }
    }
}
