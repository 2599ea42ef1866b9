//! Kiln's data loading, shaped like `torch.utils.data` and `torchvision.transforms`.
