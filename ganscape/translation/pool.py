"""The fake-image history buffer of CycleGAN (Shrivastava et al. 2017).

Until the pool holds ``size`` images every new fake is stored and returned. After that each
new fake is, with probability 1/2, swapped for a random stored one (the stored one is
returned and the new one takes its place), else returned as is. Randomness comes from torch's
global RNG, so a checkpointed run resumes identically; ``state_dict`` holds the images."""
from __future__ import annotations

import torch


class ImagePool:
    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) detached fakes -> (B, C, H, W) fakes for the discriminator."""
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand(())) < 0.5:
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {"images": torch.stack(self.images) if self.images else torch.zeros(0)}

    def load_state_dict(self, state: dict) -> None:
        images = state["images"]
        self.images = [im.clone() for im in images] if images.numel() else []
