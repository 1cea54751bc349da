"""DeLiGAN's learnable mixture-of-Gaussians latent prior (Gurumurthy et al. 2017).

z = mu_k + sigma_k * eps, eps ~ N(0, I), for component k of N. mu (N, dim) and sigma (N, dim) are parameters trained
with G through this reparameterisation (the trainer puts prior parameters in G's optimiser). As in val-iisc/deligan:
mu ~ U(-1, 1), sigma = ``sigma_init`` everywhere, and G's loss gets ``weight * mean((1 - sigma)^2)``, which keeps
the stds from shrinking to zero (toy 0.1, MNIST 1/3 in the paper).

Components of a batch: ``assign: cyclic`` (reference) gives row i component (s + i) mod N, so a batch of N rows uses
every component once; s is 0 when the batch is a whole number of cycles and drawn uniformly otherwise: from 0, a batch
of 64 with 50 components gave components 0-13 twice the weight of the rest in every step, and a share of 25 (one of
two torchrun ranks) never trained components 25-49, which sampling (all n at once) then used as much as the others.
``random`` draws components uniformly."""
from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from ganscape.priors.base import PRIORS, Prior
from ganscape.registry import Minimum, NonNegative, Positive


class MixturePrior(Prior):
    def __init__(self, dim: int, components: int, sigma_init: float, weight: float, assign: str):
        super().__init__(dim)
        self.mu = nn.Parameter(torch.rand(components, dim) * 2 - 1)
        self.sigma = nn.Parameter(torch.full((components, dim), float(sigma_init)))
        self.weight, self.assign = weight, assign

    @property
    def components(self) -> int:
        return self.mu.shape[0]

    def component_ids(self, n: int, device) -> torch.Tensor:
        """(n,) int64 component index of each row."""
        if self.assign == "cyclic":
            start = int(torch.randint(self.components, ())) if n % self.components else 0
            return (start + torch.arange(n, device=device)) % self.components
        return torch.randint(self.components, (n,), device=device)

    def sample(self, n, device="cpu"):
        """(n, dim) latents; differentiable in mu and sigma."""
        k = self.component_ids(n, self.mu.device)
        eps = torch.randn(n, self.dim, device=self.mu.device)
        return (self.mu[k] + self.sigma[k] * eps).to(device)

    def regularizer(self):
        if self.weight == 0:
            return None
        return self.weight * ((1 - self.sigma) ** 2).mean()


@PRIORS.register("deligan", "DeLiGAN: learnable mixture of N Gaussians (means, stds trained with G)",
    citation='Gurumurthy et al. 2017, "DeLiGAN"')
def deligan(dim: Positive = 100, components: Positive = 50,
            sigma_init: Annotated[float, Minimum(0.0, strict=True)] = 0.2, weight: NonNegative = 0.1,
            assign: Literal["cyclic", "random"] = "cyclic"):
    return MixturePrior(dim, components, sigma_init, weight, assign)
