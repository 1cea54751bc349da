"""Evolutionary GAN training (E-GAN, Wang et al. 2018).

Each step:
1. ``n_critic`` D updates with the run's objective (the paper: standard BCE) against fakes drawn from all parents
   (the batch split evenly between them).
2. Every parent makes one child per mutation, each one G step from the parent's weights, prior and Adam state, with
   D frozen (s = sigmoid, f = D(G(z)) logits):
     0 minimax        E[log(1 - s(f))]
     1 heuristic      E[-log s(f)]
     2 least squares  E[(s(f) - 1)^2]
3. Each child is scored on one real batch and one latent draw (from its parent's prior), both shared by all children:
     F = F_q + gamma * F_d,  F_q = E[s(D(G(z)))],  F_d = -log ||grad_D L_D||_2
   (the PyTorch port's diversity term; L_D is D's loss on the real batch and the child's fakes, the gradient taken
   over all of D's parameters).
4. The ``parents`` fittest children survive with their Adam states. The fittest one lives in ``parts.G`` /
   ``parts.opt_g`` / ``parts.prior`` (so checkpoints, EMA and sampling see it); the others are kept here and saved
   by ``state_dict()``.

Logged: ``egan_mutation`` (0/1/2, the fittest child's mutation), ``egan_fitness``, ``egan_fq`` and ``egan_fd`` of
that child, and at each log step ``egan_wins_<mutation>``: how many steps since the previous log each mutation
survived (so every step is counted). Selection reads fitness on the host (one synchronisation per step). All
randomness comes from torch's global RNG. Under torchrun each rank scores its share of the batch; the selection is
made once and broadcast (``selection``)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ganscape.registry import ConfigError, NonNegative, Positive
from ganscape.training.schemes.base import SCHEMES, Scheme, plus, update
from ganscape.training.schemes.lazy import LazyRegularization

MUTATIONS = ("minimax", "heuristic", "least_squares")


def mutation_loss(kind: int, fake_logits: torch.Tensor) -> torch.Tensor:
    """G loss of mutation ``kind`` (index into MUTATIONS) from D's logits on fakes (B,)."""
    if kind == 0:
        return -F.softplus(fake_logits).mean()  # log(1 - s(f)) = -softplus(f)
    if kind == 1:
        return F.softplus(-fake_logits).mean()  # -log s(f) = softplus(-f)
    if kind == 2:
        return ((torch.sigmoid(fake_logits) - 1) ** 2).mean()
    raise ValueError(f"unknown mutation {kind}; valid: 0..{len(MUTATIONS) - 1} ({', '.join(MUTATIONS)})")


def fitness_terms(D, objective, s_real: torch.Tensor, x_fake: torch.Tensor,
                  y_fake: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(F_q, F_d) of a child: mean sigmoid(D(x_fake)) and -log ||grad_D L_D||_2 with
    L_D = objective.d_loss(s_real, D(x_fake)); ``s_real`` = D(x_real) with its graph (kept)."""
    params = [p for p in D.parameters() if p.requires_grad]
    s_fake = objective.fake_scores(D, x_fake, y_fake)
    loss_d = objective.d_loss(s_real, s_fake)
    grads = torch.autograd.grad(loss_d, params, retain_graph=True, allow_unused=True)
    sq = sum((g ** 2).sum() for g in grads if g is not None)
    return torch.sigmoid(s_fake.detach()).mean(), -0.5 * torch.log(sq)  # -log sqrt(sq)


def _clone(tree: Any) -> Any:
    """Deep copy of nested dicts/lists whose tensors are cloned (optimizer states share tensors)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().clone()
    if isinstance(tree, dict):
        return type(tree)((k, _clone(v)) for k, v in tree.items())
    if isinstance(tree, (list, tuple)):
        return type(tree)(_clone(v) for v in tree)
    return tree


def snapshot(parts) -> dict[str, Any]:
    """An independent copy of the generator side of a run: G, prior and G's Adam state."""
    return {"G": _clone(parts.G.state_dict()), "prior": _clone(parts.prior.state_dict()),
            "opt_g": _clone(parts.opt_g.state_dict())}


@torch.no_grad()
def load_snapshot(parts, snap: dict[str, Any], optimizer: bool = True) -> None:
    """Copy a snapshot back into the run's tensors in place (cheaper than load_state_dict)."""
    for module, saved in ((parts.G, snap["G"]), (parts.prior, snap["prior"])):
        for dst, src in zip(module.state_dict().values(), saved.values()):
            dst.copy_(src)
    if optimizer:
        load_optimizer_state(parts.opt_g, snap["opt_g"])


@torch.no_grad()
def load_optimizer_state(opt: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """Put a saved per-parameter state (as from ``opt.state_dict()``) back, reusing the
    optimizer's tensors. Hyper-parameters (lr, betas) are not touched: E-GAN never changes them."""
    for index, param in enumerate(p for group in opt.param_groups for p in group["params"]):
        state = saved["state"].get(index)
        if state is None:
            opt.state.pop(param, None)
            continue
        current = opt.state.get(param)
        if current is not None and current.keys() == state.keys():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    current[key].copy_(value)
                else:
                    current[key] = value
        else:
            opt.state[param] = _clone(dict(state))


class EvolutionaryGAN(Scheme):
    def __init__(self, parents: int, gamma: float, n_critic: int):
        self.parents, self.gamma, self.n_critic = parents, gamma, n_critic
        self.extra: list[dict[str, Any]] = []  # parents 2..mu (the best lives in the parts)
        self.wins = [0] * len(MUTATIONS)  # surviving mutation counts since the last log
        self.lazy = LazyRegularization()  # D-step counter of a lazy D penalty (penalty.every)

    def step(self, parts, log):
        if parts.G.penalty_every:
            raise ConfigError("generator.pl_weight: the egan scheme has no G-step regulariser; use scheme.name=alternating "
                              "or pl_weight: 0")
        if len(self.extra) != self.parents - 1:  # first step: every parent starts as G
            self.extra = [snapshot(parts) for _ in range(self.parents - 1)]
        parents = [snapshot(parts)] + self.extra
        out = self.critic_steps(parts, parents, log)
        children = self.make_children(parts, parents, log)
        order = self.selection(torch.stack([c["fitness"] for c in children]))
        best, *others = [children[i] for i in order[:self.parents]]
        load_snapshot(parts, best["snap"])
        self.extra = [c["snap"] for c in others]
        out.update(loss_g=best["loss_g"], egan_mutation=torch.tensor(float(best["mutation"])),
                   egan_fitness=best["fitness"], egan_fq=best["f_q"], egan_fd=best["f_d"])
        self.wins[best["mutation"]] += 1
        if log:
            out["grad_norm_g"] = best["grad_norm_g"]
            out.update({f"egan_wins_{name}": torch.tensor(float(n)) for name, n in zip(MUTATIONS, self.wins)})
            self.wins = [0] * len(MUTATIONS)
        return out

    @staticmethod
    def selection(fitness: torch.Tensor) -> list[int]:
        """Children indices, fittest first. In a multi-process run the fitness is averaged over ranks (each scored
        its own share of the batch) and the order is decided on rank 0 and broadcast, so every rank keeps the same
        children even where float rounding would order near-ties differently."""
        from ganscape.distributed import average, from_main

        order = torch.argsort(average(fitness), descending=True, stable=True)
        return from_main(order).tolist()

    def parent_fakes(self, parts, parents, grad: bool = False):
        """A batch of fakes from all parents, split evenly, each from its own prior. With
        one parent, parts.G (which holds it) is used as is."""
        if len(parents) == 1:
            z, y = parts.latent_batch()
            with torch.set_grad_enabled(grad):
                return parts.train_G(z, y), y
        xs, ys = [], []
        for snap, size in zip(parents, torch.arange(parts.batch_size).tensor_split(len(parents))):
            if len(size) == 0:  # more parents than batch rows
                continue
            load_snapshot(parts, snap, optimizer=False)
            z, y = parts.latent_batch(len(size))
            with torch.no_grad():
                xs.append(parts.train_G(z, y))
            ys.append(y)
        return torch.cat(xs), (None if ys[0] is None else torch.cat(ys))

    def critic_steps(self, parts, parents, log):
        parts.D.requires_grad_(True)
        for i in range(self.n_critic):
            x_real, y_real = parts.real_batch()
            x_fake, y_fake = self.parent_fakes(parts, parents)
            s_real, s_fake = parts.objective.critic_scores(parts.train_D, x_real, x_fake.detach(), y_real, y_fake)
            loss_d = parts.objective.d_loss(s_real, s_fake)
            penalty, logged_penalty = self.lazy.penalty(parts, x_real, x_fake.detach(), y_real, y_fake)
            total = plus(loss_d, penalty)
            norm = update(parts, "d", total, measure_norm=log and i == self.n_critic - 1)
            out = {"loss_d": loss_d.detach()}
            if logged_penalty is not None:
                out["penalty"] = logged_penalty
            if norm is not None:
                out["grad_norm_d"] = norm
            parts.penalty.after_critic_step(parts.D)
        return out

    def make_children(self, parts, parents, log):
        """Mutate every parent with every mutation; returns the children with fitness. Each child keeps G as its
        mutation step left it (the scoring pass, in training mode, would move G's batch-norm statistics once more),
        and D leaves as the critic steps left it: its buffers (spectral norm's power-iteration vectors, batch-norm
        statistics), moved by every child's forward passes, are put back, so the number of children does not
        change D."""
        x_real, y_real = parts.real_batch()
        s_real = None
        children = []
        d_buffers = [b.detach().clone() for b in parts.D.buffers()]
        for parent in parents:
            load_snapshot(parts, parent, optimizer=False)
            with torch.no_grad():  # the parent's latents, shared by its children
                z_eval, y_eval = parts.latent_batch()  # this rank's share, like x_real
            for kind in range(len(MUTATIONS)):
                load_snapshot(parts, parent)
                child = {"mutation": kind, **self.mutate(parts, kind, log), "snap": snapshot(parts)}
                with torch.no_grad():
                    x_fake = parts.train_G(z_eval, y_eval)
                if s_real is None:  # D(real) once per step; its graph is reused by every child
                    s_real = parts.objective.fake_scores(parts.train_D, x_real, y_real)
                f_q, f_d = fitness_terms(parts.train_D, parts.objective, s_real, x_fake, y_eval)
                child.update(f_q=f_q, f_d=f_d, fitness=f_q + self.gamma * f_d)
                children.append(child)
        with torch.no_grad():
            for buffer, saved in zip(parts.D.buffers(), d_buffers):
                buffer.copy_(saved)
        return children

    def mutate(self, parts, kind: int, log: bool) -> dict[str, torch.Tensor]:
        """One G step with mutation ``kind``; D frozen."""
        parts.D.requires_grad_(False)
        z, y = parts.latent_batch()
        loss_g = mutation_loss(kind, parts.objective.fake_scores(parts.train_D, parts.train_G(z, y), y))
        reg = parts.prior.regularizer()
        total = plus(loss_g, reg)
        norm = update(parts, "g", total, measure_norm=log)
        out = {"loss_g": loss_g.detach()}
        if norm is not None:
            out["grad_norm_g"] = norm
        parts.D.requires_grad_(True)
        return out

    def state_dict(self):
        return {"extra": self.extra, "wins": list(self.wins), "lazy": self.lazy.state_dict()}

    def load_state_dict(self, state):
        self.extra = list(state.get("extra", []))
        self.wins = list(state.get("wins", [0] * len(MUTATIONS)))
        self.lazy.load_state_dict(state.get("lazy", {}))


@SCHEMES.register("egan", "Evolutionary GAN: mutate G three ways each step, keep the fittest (Wang et al. 2018)",
    citation='Wang et al. 2019, "Evolutionary Generative Adversarial Networks"')
def egan(parents: Positive = 1, gamma: NonNegative = 0.01, n_critic: Positive = 1):
    return EvolutionaryGAN(parents, gamma, n_critic)
