"""Turing-test GAN objectives (Su 2018, "Training GANs via Turing test"; bojone/T-GANs).

The critic judges pairs: T(x_r, x_f) says how sure it is that x_r (not x_f) is the real one. With s = sigmoid,
t_rf = T(x_r, x_f) and t_fr = T(x_f, x_r), row i of the real batch paired with row i of the fake batch:

  T-SGAN:  L_D = E[-log s(t_rf) - log(1 - s(t_fr))],  L_G = E[-log(1 - s(t_rf)) - log s(t_fr)]
  T-WGAN:  L_D = -E[t_rf - t_fr],                      L_G = -E[t_fr - t_rf]

With the pair critic (``discriminator.name=pair``) T(x_a, x_b) = D(E(x_a) - E(x_b)), and T-WGAN's Lipschitz bound
comes from its spectral norm alone (no penalty needed). On a plain critic C the pair score is the relativistic
difference T(x_a, x_b) = C(x_a) - C(x_b), so T-SGAN becomes twice RSGAN and T-WGAN twice WGAN (which then needs a
penalty or SN). In this objective's interface the "real" scores are t_rf and the "fake" scores t_fr."""
from __future__ import annotations

import torch.nn.functional as F

from ganscape.interfaces import PairScorer
from ganscape.losses.base import OBJECTIVES, Objective


class Turing(Objective):
    uses_real_in_g = True

    def critic_scores(self, critic, x_real, x_fake, y_real=None, y_fake=None):
        """(t_rf, t_fr), each (B,): the pair critic's T, or C(x_r) - C(x_f) on a plain critic."""
        if isinstance(critic, PairScorer):
            return critic.pair(x_real, x_fake, y_real, y_fake)
        if x_real.shape[0] != x_fake.shape[0]:
            raise ValueError(f"Turing objectives pair rows: real batch {x_real.shape[0]} != fake batch {x_fake.shape[0]}")
        r, f = critic(x_real, y_real), critic(x_fake, y_fake)
        return r - f, f - r

    def fake_scores(self, critic, x_fake, y_fake=None):
        raise RuntimeError("Turing objectives score pairs; call critic_scores with a real batch")

    def _need_pair(self, other):
        if other is None:
            raise ValueError(f"{type(self).__name__}.g_loss needs T(x_r, x_f) as well as T(x_f, x_r)")


@OBJECTIVES.register("tsgan", "Turing-test standard GAN (T-SGAN); pair critic or relativistic on a plain one",
    citation='Su 2018, "Training Generative Adversarial Networks Via Turing Test"', scores_pairs=True)
class TSGAN(Turing):
    def d_loss(self, real, fake):
        return (F.softplus(-real) + F.softplus(fake)).mean()

    def g_loss(self, fake, real=None):
        self._need_pair(real)
        return (F.softplus(real) + F.softplus(-fake)).mean()


@OBJECTIVES.register("twgan", "Turing-test Wasserstein GAN (T-WGAN); Lipschitz from the pair critic's SN",
    citation='Su 2018, "Training Generative Adversarial Networks Via Turing Test"', scores_pairs=True)
class TWGAN(Turing):
    def d_loss(self, real, fake):
        return -(real - fake).mean()

    def g_loss(self, fake, real=None):
        self._need_pair(real)
        return -(fake - real).mean()
