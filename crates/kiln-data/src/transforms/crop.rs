use super::{chw, Transform};
use kiln_tensor::op::PadMode;
use kiln_tensor::{Error, Generator, Result, Tensor};

/// Zero-pads the image, then cuts a random `size` window out of it
/// (`torchvision.transforms.RandomCrop(size, padding)` with `fill=0`, `padding_mode="constant"`,
/// `pad_if_needed=False`).
///
/// `padding` is `[left, top, right, bottom]`, torchvision's order for a 4-tuple. The window's top
/// row is drawn first, uniform in `0..=H' - h`, then its left column, uniform in `0..=W' - w`
/// (`H'`, `W'` the padded sizes); a window as large as the padded image draws nothing. Works on
/// `[..., C, H, W]`; errors when the window is larger than the padded image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomCrop {
    /// `(h, w)` of the output.
    pub size: (usize, usize),
    /// `[left, top, right, bottom]` zeros added before cropping.
    pub padding: [usize; 4],
}

impl RandomCrop {
    /// A square `size` window after `padding` zeros on every side (`RandomCrop(32, padding=4)`).
    pub fn new(size: usize, padding: usize) -> RandomCrop {
        RandomCrop {
            size: (size, size),
            padding: [padding; 4],
        }
    }

    /// The window's `(top, left)` in the padded image of `(h, w)` (`RandomCrop.get_params`).
    pub fn get_params(&self, h: usize, w: usize, rng: &mut Generator) -> Result<(usize, usize)> {
        let (th, tw) = self.size;
        if h < th || w < tw {
            return Err(Error::Shape {
                op: "RandomCrop",
                msg: format!(
                    "required crop size {:?} is larger than the padded image size {:?}",
                    (th, tw),
                    (h, w)
                ),
            });
        }
        if h == th && w == tw {
            return Ok((0, 0));
        }
        let top = rng.next_range(0, (h - th) as i64 + 1) as usize;
        let left = rng.next_range(0, (w - tw) as i64 + 1) as usize;
        Ok((top, left))
    }
}

impl Transform for RandomCrop {
    fn apply(&self, image: &Tensor, rng: &mut Generator) -> Result<Tensor> {
        let (_, h, w) = chw("RandomCrop", image)?;
        let [l, t, r, b] = self.padding;
        let padded = if self.padding == [0; 4] {
            image.clone()
        } else {
            image.pad(&[l as i64, r as i64, t as i64, b as i64], PadMode::Constant, 0.0)?
        };
        let (top, left) = self.get_params(h + t + b, w + l + r, rng)?;
        padded
            .narrow(-2, top, self.size.0)?
            .narrow(-1, left, self.size.1)?
            .contiguous()
    }
}
