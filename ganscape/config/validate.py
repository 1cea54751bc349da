"""The one validation path of run configs: every error names the key, the bad value and the valid choices, and is
raised before anything is built, trained or written.

Each component validates its own options (``Registry.validate`` and its factory); the rules at the end look across
sections, at each option's effective value (as written, else the factory's default). What needs the data (image
sizes, labels) is checked when the parts are built."""
from __future__ import annotations

import math
from typing import Any

from ganscape.config.dotted import lookup
from ganscape.config.schema import schema_for
from ganscape.registry import ConfigError

DEVICES = ("auto", "cpu", "cuda")
# key of the ``train`` section -> (smallest allowed value, what the smallest means)
TRAIN_MINIMUMS = {"steps": (1, ""), "batch_size": (1, ""), "log_every": (1, ""),
                  "checkpoint_every": (0, " (0 = only at the end)"), "sample_every": (0, " (0 = only at the end)"),
                  "keep_checkpoints": (0, " (0 = keep all)"), "check_ranks_every": (0, " (0 = only at the end)")}
# keys whose values are of more than one type, each checked by ``check_speed``
CHOICE_KEYS = {"train.precision", "train.channels_last", "train.compile"}


def validate(config: Any, ranks: int = 1) -> None:
    """Raise ConfigError naming the first bad key of a fully resolved run config; ``ranks``: the processes that will
    train it (torchrun's, for ``ganscape train``; 1 for any other reading of a config)."""
    if not isinstance(config, dict):
        raise ConfigError(f"a run config must be a mapping, got {type(config).__name__}")
    schema = schema_for(config.get("kind", "gan"))
    registries = schema.registries()
    for section, registry in registries.items():
        registry.validate(lookup(config, section), section)
    check_plain(config, schema.defaults, "", set(schema.sections))
    if config["device"] not in DEVICES:
        raise ConfigError(f"device: {config['device']!r} is not valid; choose one of {', '.join(DEVICES)}")
    check_range("seed", config["seed"], 0, 2 ** 31 - 1)
    for key, (low, meaning) in TRAIN_MINIMUMS.items():
        check_range(f"train.{key}", config["train"][key], low, what=meaning)
    check_range("train.ema_decay", config["train"]["ema_decay"], 0.0, 1.0, what=" (0 disables EMA)", open_high=True)
    check_speed(config, schema.kind)
    for net, section in config["optim"].items():
        check_optimizer(f"optim.{net}", section)
    check_eval(config["eval"])
    for rule in RULES[schema.kind]:
        rule(config, registries)
    for rule in RANK_RULES[schema.kind]:
        rule(config, registries, ranks)


def check_range(key: str, value: float, low: float | None = None, high: float | None = None, what: str = "",
                open_low: bool = False, open_high: bool = False) -> None:
    """low <= value <= high (strict where open), finite; ``what`` explains the bound."""
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and (value >= high if open_high else value > high)
    if (isinstance(value, float) and not math.isfinite(value)) or too_low or too_high:
        bounds = (f"{'>' if open_low else '>='} {low}" if high is None else
                  f"{'<' if open_high else '<='} {high}" if low is None else
                  f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}")
        raise ConfigError(f"{key}: must be a finite number {bounds}{what}, got {value}")


def check_speed(config: dict[str, Any], kind: str) -> None:
    """``train.precision``, ``train.channels_last`` and ``train.compile``: valid choices, possible on the configured
    device (``auto`` devices are checked when the run is built), and supported by the run kind and scheme."""
    from ganscape.training.precision import PRECISIONS
    from ganscape.training.wrappers import check_compile_layout, check_compile_mode

    train = config["train"]
    if train["precision"] not in PRECISIONS:
        raise ConfigError(f"train.precision: {train['precision']!r} is not valid; choose one of {', '.join(PRECISIONS)}")
    if not (train["channels_last"] == "auto" or isinstance(train["channels_last"], bool)):  # 1 == True: not a bool
        raise ConfigError(f"train.channels_last: {train['channels_last']!r} is not valid; choose one of auto, true, false")
    check_compile_mode(train["compile"])
    if config["device"] != "auto":  # an auto device is checked when the run is built
        check_compile_layout(train["compile"], train["channels_last"] is True, config["device"])
    if train["precision"] == "fp16" and config["device"] == "cpu":
        raise ConfigError("train.precision: 'fp16' needs a CUDA GPU (float16 with loss scaling), and device is cpu; "
                          "use bf16 or fp32 (or auto)")
    if kind != "gan" and (train["precision"] not in ("auto", "fp32") or train["compile"] or train["channels_last"] is True):
        raise ConfigError(f"train.precision/compile/channels_last: kind {kind!r} runs train in fp32, uncompiled, NCHW; "
                          "use precision: auto|fp32, compile: false, channels_last: auto|false")
    if train["precision"] == "fp16" and config.get("scheme", {}).get("name") == "egan":
        raise ConfigError("train.precision: 'fp16' is not supported by the egan scheme (its children keep their own "
                          "optimiser states, not loss-scaler states); use bf16 or fp32")


def check_optimizer(key: str, section: dict[str, Any]) -> None:
    """lr > 0 and finite; Adam's betas two numbers in [0, 1)."""
    from ganscape.training.optimizers import OPTIMIZERS

    check_range(f"{key}.lr", OPTIMIZERS.effective(section, "lr"), 0.0, open_low=True)
    betas = section.get("betas") if section["name"] == "adam" else None
    if betas is not None and (len(betas) != 2 or not all(0 <= b < 1 for b in betas)):
        raise ConfigError(f"{key}.betas: need two numbers in [0, 1), got {betas}")


def check_eval(section: dict[str, Any]) -> None:
    """eval.every >= 0 and the protocol keys (``ganscape.metrics.protocol``)."""
    from ganscape.metrics.protocol import check_eval as check_protocol

    check_range("eval.every", section["every"], 0, what=" (0 disables evaluation during training)")
    check_protocol({k: v for k, v in section.items() if k != "every"})


def check_plain(config: dict[str, Any], defaults: dict[str, Any], prefix: str, components: set[str]) -> None:
    """Every key known and present, every plain value of its default's type (components skipped)."""
    for key in [*config, *defaults]:
        dotted = f"{prefix}{key}"
        if key not in defaults:
            raise ConfigError(f"{dotted}: unknown key; valid keys here: {', '.join(sorted(defaults))}")
        if key not in config:
            raise ConfigError(f"{dotted}: missing key")
        value, default = config[key], defaults[key]
        if dotted not in components and dotted not in CHOICE_KEYS:
            if isinstance(default, dict):
                if not isinstance(value, dict):
                    raise ConfigError(f"{dotted}: expected a mapping, got {value!r}")
                check_plain(value, default, dotted + ".", components)
            elif not same_kind(value, default):
                expected = type(default).__name__
                raise ConfigError(f"{dotted}: expected {expected}, got {value!r} ({type(value).__name__})")


def same_kind(value: Any, default: Any) -> bool:
    if default is None:  # optional keys (e.g. eval.reference_n) are checked by their section's own checker
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


# ----- combinations that cannot work -------------------------------------------------------------
def effective(config: dict[str, Any], section: str, option: str, registry) -> Any:
    """The value ``section.option`` has once built: as written, else the factory default (None if absent)."""
    return registry.effective(config[section], option)


def projection_needs_labelled_fakes(config: dict[str, Any], registries: dict) -> None:
    conditioning = effective(config, "discriminator", "conditioning", registries["discriminator"])
    if conditioning == "projection" and not effective(config, "generator", "conditional", registries["generator"]):
        raise ConfigError(
            f"discriminator.conditioning: 'projection' scores every batch with its labels, fakes included, but "
            f"generator {config['generator']['name']!r} is unconditional; use a conditional generator "
            "(generator.name=cdcgan, or generator.conditional=true) or discriminator.conditioning=none|acgan")


def conditional_generator_needs_a_conditioning_critic(config: dict[str, Any], registries: dict) -> None:
    """A conditional G learns to follow its labels only from a D that uses them (projection or AC-GAN's class
    loss): against one that ignores them, training and ``sample --class`` ran, and the class changed nothing. (An
    AC-GAN D beside an unconditional G is allowed: it learns a class loss on the real images.)"""
    generator, discriminator = config["generator"]["name"], config["discriminator"]["name"]
    conditional = effective(config, "generator", "conditional", registries["generator"])
    conditioning = effective(config, "discriminator", "conditioning", registries["discriminator"])
    if conditional and conditioning in (None, "none"):
        raise ConfigError(f"generator: {generator!r} is conditional, but discriminator {discriminator!r} ignores labels"
                          f" (conditioning {conditioning or 'none'}), so the class would change nothing; use "
                          "discriminator.conditioning=projection|acgan (e.g. discriminator.name=cdcgan), or "
                          "generator.conditional=false")


def packing_fits(config: dict[str, Any], registries: dict) -> None:
    """PacGAN: the batch holds at least two whole groups; the discriminator scores groups, not labelled or paired
    samples."""
    pack = registries["discriminator"].shared_options(config["discriminator"])["pack"]
    if pack == 1:
        return
    batch = config["train"]["batch_size"]
    if batch % pack or batch // pack < 2:
        problem = (f"is not a multiple of discriminator.pack ({pack})" if batch % pack else
                   f"makes {batch // pack} group of discriminator.pack ({pack}) samples, and a batch needs at "
                   "least two")
        raise ConfigError(f"train.batch_size: {batch} {problem}; PacGAN scores groups of {pack} samples "
                          f"(use e.g. {4 * pack})")
    if config["discriminator"]["name"] == "pair":
        raise ConfigError(f"discriminator.pack: {pack} cannot pack the Turing-test pair critic (it compares single "
                          "samples); use pack: 1")
    conditioning = effective(config, "discriminator", "conditioning", registries["discriminator"])
    if conditioning not in (None, "none"):
        raise ConfigError(f"discriminator.pack: {pack} packs unconditional discriminators only (a group of samples has "
                          f"no single label), not conditioning {conditioning!r}; use pack: 1 or conditioning: none")


def batch_divides_among_ranks(config: dict[str, Any], registries: dict, ranks: int = 1) -> None:
    """Under torchrun, the global batch splits evenly among the ``ranks`` processes (the first thing to say of a
    batch that does not: the rules after it suggest sizes for the shares)."""
    if ranks > 1:
        from ganscape.distributed.data_parallel import local_batch_size

        local_batch_size(config["train"]["batch_size"], 1, ranks)


def packed_shares_fit(config: dict[str, Any], registries: dict, ranks: int = 1) -> None:
    """PacGAN's groups in the batch's shares: each of ``ranks`` processes under torchrun holds at least two whole
    groups (checked again per rank when the parts are built: one group gives a critic's batch statistics, the StyleGAN
    critic's minibatch standard deviation or a relativistic average, nothing to compare), and with E-GAN's several
    parents each parent's share of G's batch is whole groups, so that no group mixes two parents' samples."""
    pack = registries["discriminator"].shared_options(config["discriminator"])["pack"]
    parents = effective(config, "scheme", "parents", registries["scheme"]) if config["scheme"]["name"] == "egan" else 1
    batch = config["train"]["batch_size"]
    local = batch // ranks
    if pack == 1 or (parents == ranks == 1) or (local % (parents * pack) == 0 and local // pack >= 2):
        return
    shares = [f"{n} {what}" for n, what in ((ranks, "processes"), (parents, "E-GAN parents")) if n > 1]
    unit = ranks * parents * pack
    least = unit * -(-max(batch, 2 * ranks * pack) // unit)
    raise ConfigError(f"train.batch_size: {batch} split among {' x '.join(shares)} does not give each share whole "
                      f"groups of discriminator.pack ({pack}) samples, at least two per process; use e.g. {least}")


def groups_batch_norm(generator: dict[str, Any], registry) -> bool:
    """Whether the generator ``generator`` (a config section, ``registry`` its registry) can take ``bn_groups``: its
    factory has that option, and its ``norm``, if it has one, is batch norm (an MLP refuses bn_groups > 1 without it;
    ``dcgan_tf`` has no norm option and always normalises)."""
    return registry.effective(generator, "bn_groups") is not None and \
        registry.effective(generator, "norm") in ("batch", None)


def batch_norm_groups_fit(config: dict[str, Any], registries: dict, ranks: int = 1) -> None:
    """A generator's ``bn_groups`` (MLP with batch norm, ``dcgan_tf``): every training-mode call of G cuts into that
    many groups of at least two samples. A call draws the batch, or under torchrun each of the ``ranks`` processes'
    share of it, and with E-GAN's several parents each parent's share of that (``EvolutionaryGAN.parent_fakes``).
    Checked again per rank when the parts are built (``build_gan_parts``)."""
    if not groups_batch_norm(config["generator"], registries["generator"]):
        return
    groups = effective(config, "generator", "bn_groups", registries["generator"])
    egan = config["scheme"]["name"] == "egan"
    parents = effective(config, "scheme", "parents", registries["scheme"]) if egan else 1
    batch, per_call = config["train"]["batch_size"], parents * ranks
    if batch % (per_call * groups) == 0 and batch // (per_call * groups) >= 2:
        return
    shares = [f"{n} {what}" for n, what in ((ranks, "processes"), (parents, "E-GAN parents")) if n > 1]
    split = f" once split among {' x '.join(shares)}" if shares else ""
    pack = registries["discriminator"].shared_options(config["discriminator"])["pack"]
    unit = ranks * math.lcm(pack, parents * groups)
    least = max(batch, 2 * per_call * groups, 2 * pack)
    other = ", or bn_groups: 1" if groups > 1 else ""
    raise ConfigError(f"train.batch_size: {batch} does not cut into generator.bn_groups ({groups}) groups of at least "
                      f"two samples{split}; use e.g. {unit * -(-least // unit)}{other}")


def mlp_critic_batch_norm_fits(config: dict[str, Any], registries: dict, ranks: int = 1) -> None:
    """An MLP discriminator with batch norm normalises each batch of (packed) inputs it scores over its samples, so
    it needs at least two: batch_size / ranks / pack >= 2, as each of ``ranks`` processes normalises its own share
    (conv critics also normalise over pixels)."""
    discriminator = registries["discriminator"]
    if config["discriminator"]["name"] != "mlp" or effective(config, "discriminator", "norm", discriminator) != "batch":
        return
    pack = discriminator.shared_options(config["discriminator"])["pack"]
    if config["train"]["batch_size"] // ranks // pack < 2:
        split = f" once split among {ranks} processes" if ranks > 1 else ""
        raise ConfigError(f"train.batch_size: {config['train']['batch_size']} gives the batch-norm MLP discriminator "
                          f"fewer than two (packed) inputs to normalise{split}; use at least {2 * pack * ranks}, or "
                          "discriminator.norm none, layer or spectral")


def egan_without_generator_penalty(config: dict[str, Any], registries: dict) -> None:
    pl_weight = effective(config, "generator", "pl_weight", registries["generator"])
    if config["scheme"]["name"] == "egan" and pl_weight:
        raise ConfigError(f"generator.pl_weight: {pl_weight} (path-length regularisation) is not supported by the "
                          "egan scheme, which trains its children without it; use pl_weight: 0 or scheme.name=alternating")


def scheme_trains_the_objective(config: dict[str, Any], registries: dict) -> None:
    """The simultaneous and egan schemes train no auxiliary classifier (AC-GAN), and egan's mutations score fakes
    alone, which a pair objective (T-SGAN, T-WGAN) cannot."""
    scheme = config["scheme"]["name"]
    conditioning = effective(config, "discriminator", "conditioning", registries["discriminator"])
    if scheme in ("simultaneous", "egan") and conditioning == "acgan":
        raise ConfigError(f"scheme.name: {scheme!r} does not train an auxiliary classifier (discriminator."
                          "conditioning 'acgan'); use scheme.name=alternating, or conditioning none or projection")
    loss = config["loss"]["name"]
    if scheme == "egan" and registries["loss"].get(loss, "loss.name").meta.get("scores_pairs"):
        raise ConfigError(f"loss.name: {loss!r} scores pairs of a real and a fake sample, and the egan scheme's "
                          "mutations score fakes alone; use another objective, or scheme.name=alternating")


def penalty_constrains_the_trained_scores(config: dict[str, Any], registries: dict) -> None:
    """A Turing objective on the pair critic trains T = D(E(x_r) - E(x_f)); a gradient penalty differentiates the
    critic's single-batch score D(E(x)), which that objective never uses, so it bounded nothing the loss sees."""
    penalty, loss = config["penalty"]["name"], config["loss"]["name"]
    if (config["discriminator"]["name"] == "pair" and registries["loss"].get(loss, "loss.name").meta.get("scores_pairs")
            and registries["penalty"].get(penalty, "penalty.name").meta.get("scores_gradient")):
        raise ConfigError(f"penalty.name: {penalty!r} differentiates the pair critic's single-sample score D(E(x)), "
                          f"which loss {loss!r} never trains (it trains D(E(x_r) - E(x_f))), so it would bound "
                          "nothing the loss sees; the pair critic's Lipschitz bound is its spectral norm (its head "
                          "always, the encoder with discriminator.encoder.norm=spectral): use penalty.name none or "
                          "weight_clip, or a plain discriminator (T = C(x_r) - C(x_f), which the penalty does bound)")


RULES = {"gan": (projection_needs_labelled_fakes, conditional_generator_needs_a_conditioning_critic, packing_fits,
                 egan_without_generator_penalty, scheme_trains_the_objective, penalty_constrains_the_trained_scores),
         "translation": ()}
# the rules of the batch's shares, given the number of processes that train (``validate``'s ``ranks``)
RANK_RULES = {"gan": (batch_divides_among_ranks, batch_norm_groups_fit, mlp_critic_batch_norm_fits, packed_shares_fit),
              "translation": ()}
