"""Every combination the config validator accepts trains: each architecture family x objective x
penalty x discriminator normalisation, two steps each on tiny sizes. Losses stay finite and both
networks' parameters move; combinations that cannot work are refused before training, in one line
naming the key."""
from __future__ import annotations

import itertools

import pytest
import torch

from ganscape.losses import OBJECTIVES
from ganscape.models.base import NORMS
from ganscape.penalties import PENALTIES
from ganscape.registry import ConfigError
from ganscape.training import Trainer

TRAIN = {"steps": 2, "batch_size": 4, "log_every": 1, "checkpoint_every": 0, "sample_every": 0}
DIGITS8 = {"name": "digits", "size": 8}
# family -> (data, generator, discriminator); the norm axis sets the discriminator's (or encoder's) norm
FAMILIES = {
    "mlp": ({"name": "ring8", "n": 64}, {"name": "mlp", "hidden": 8, "layers": 1},
            {"name": "mlp", "hidden": 8, "layers": 1}),
    "pair": ({"name": "ring8", "n": 64}, {"name": "mlp", "hidden": 8, "layers": 1},
             {"name": "pair", "hidden": 8, "encoder": {"name": "mlp", "hidden": 8, "layers": 1}}),
    "dcgan": (DIGITS8, {"name": "dcgan", "ngf": 4}, {"name": "dcgan", "ndf": 4}),
    "sndcgan": (DIGITS8, {"name": "sndcgan", "ch": 4}, {"name": "sndcgan", "ch": 4}),
    "resnet_cifar": (DIGITS8, {"name": "resnet_cifar", "ch": 8}, {"name": "resnet_cifar", "ch": 8}),
    "resnet19": (DIGITS8, {"name": "resnet19", "ch": 2}, {"name": "resnet19", "ch": 2}),
    "stylegan": ({"name": "digits", "size": 16}, {"name": "stylegan", "w_dim": 8, "mapping_layers": 1,
                                                  "fmap_base": 64, "fmap_max": 8}, {"name": "dcgan", "ndf": 4}),
    "cdcgan": (DIGITS8, {"name": "cdcgan", "ngf": 4}, {"name": "cdcgan", "ndf": 4}),
    # PacGAN packing composes with every objective, penalty and norm
    "mlp_pack2": ({"name": "ring8", "n": 64}, {"name": "mlp", "hidden": 8, "layers": 1},
                  {"name": "mlp", "hidden": 8, "layers": 1, "pack": 2}),
    "dcgan_pack2": (DIGITS8, {"name": "dcgan", "ngf": 4}, {"name": "dcgan", "ndf": 4, "pack": 2}),
    # cannot work: a projection D needs labels for the fakes, which an unconditional G does not make
    "projection_d_unconditional_g": (DIGITS8, {"name": "dcgan", "ngf": 4}, {"name": "cdcgan", "ndf": 4}),
}


# families the validator refuses in every combination, with the start of the reason; in the other
# families every combination must train (measured: all 220 of each do) but those ``expected`` names
REFUSED = {"projection_d_unconditional_g": "refused: discriminator.conditioning: 'projection' scores every batch"}


def expected(family: str, objective: str, penalty: str) -> str:
    """The start of a combination's outcome: the pair critic refuses a gradient penalty beside a Turing objective,
    which trains other scores than the penalty differentiates (``penalty_constrains_the_trained_scores``)."""
    if family in REFUSED:
        return REFUSED[family]
    if (family == "pair" and OBJECTIVES.get(objective, "loss.name").meta.get("scores_pairs")
            and PENALTIES.get(penalty, "penalty.name").meta.get("scores_gradient")):
        return f"refused: penalty.name: {penalty!r} differentiates the pair critic's single-sample score"
    return "trained"


def config_for(family: str, objective: str, penalty: str, norm: str) -> dict:
    data, generator, discriminator = FAMILIES[family]
    discriminator = dict(discriminator)
    if "encoder" in discriminator:
        discriminator["encoder"] = {**discriminator["encoder"], "norm": norm}
    else:
        discriminator["norm"] = norm
    return {"seed": 0, "device": "cpu", "data": data, "prior": {"name": "gaussian", "dim": 4}, "generator": generator,
            "discriminator": discriminator, "loss": {"name": objective}, "penalty": {"name": penalty}, "train": TRAIN}


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def moved(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def try_combination(family: str, objective: str, penalty: str, norm: str) -> str:
    """``trained``, ``refused: REASON``, or what went wrong."""
    try:
        trainer = Trainer(config_for(family, objective, penalty, norm))
    except ConfigError as err:
        message = str(err)
        one_line = ":" in message and "\n" not in message
        return f"refused: {message}" if one_line else f"refused without a one-line reason: {message!r}"
    g_before, d_before = snapshot(trainer.parts.G), snapshot(trainer.parts.D)
    try:
        result = trainer.fit()
    except Exception as err:  # a combination the validator accepted must not crash in the step
        return f"accepted but crashed: {type(err).__name__}: {err}"
    if not all(torch.isfinite(torch.tensor(v)) for row in result.history for k, v in row.items() if k != "step"):
        return f"non-finite logged values: {result.history}"
    if not (moved(g_before, trainer.parts.G) and moved(d_before, trainer.parts.D)):
        return "parameters did not change"
    return "trained"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_accepted_combination_trains(family):
    outcomes = {combo: try_combination(family, *combo)
                for combo in itertools.product(OBJECTIVES.names(), PENALTIES.names(), NORMS)}
    problems = {"/".join(c): o for c, o in outcomes.items() if o != "trained" and not o.startswith("refused: ")}
    assert not problems, problems
    wrong = {"/".join(c): o for c, o in outcomes.items() if not o.startswith(expected(family, c[0], c[1]))}
    assert not wrong, wrong
    if family == "pair":
        assert sum(o.startswith("refused") for o in outcomes.values()) == 2 * 4 * len(NORMS)  # T-SGAN/T-WGAN x 4
