"""How a training step calls its networks: the plain module, or the same module behind torch.compile,
DistributedDataParallel and mixed-precision casts (``train.compile``, torchrun, ``train.precision``).

Schemes call ``parts.train_G`` and ``parts.train_D`` in training steps; everything else (sampling, evaluation,
checkpoints, EMA) uses the plain modules ``parts.G`` / ``parts.D``, which share their parameters with the wrapped ones.
With none of the three features on, ``train_G is G`` and ``train_D is D``: nothing is added to a step.

A ``TrainingView`` looks like its module: calling it runs ``forward``; the methods in ``ROUTED`` (an AC-GAN critic's
``forward_aux``, the Turing-test pair critic's ``pair``, StyleGAN's path-length ``penalty``) also go through the
wrappers, so DistributedDataParallel sees every use of the parameters; any other attribute is the module's own.

``train.compile``: ``torch.compile`` of each network's forward with the given mode. Where compilation is unavailable
(no compiler, an unsupported Python or op) the first call says so in one line and the run continues uncompiled.
A critic trained with a gradient penalty (double backward, which compiled graphs do not support) stays uncompiled."""
from __future__ import annotations

import logging
from typing import Any, Callable

import torch
from torch import nn

from ganscape.registry import ConfigError
from ganscape.training.precision import Precision

log = logging.getLogger(__name__)
COMPILE_MODES = (False, "default", "max-autotune")
ROUTED = ("forward_aux", "pair", "penalty")


def check_compile_mode(mode: Any) -> None:
    if mode not in COMPILE_MODES or (mode is not False and not isinstance(mode, str)):  # 0 == False: not a mode
        raise ConfigError(f"train.compile: {mode!r} is not valid; choose one of false, default, max-autotune")


def check_compile_layout(compile_mode: Any, channels_last: bool, device_type: str) -> None:
    """Refuse ``train.compile`` with NHWC (channels_last) networks on a GPU. There PyTorch's inductor predicted NHWC
    strides for the weight gradient of G's first transposed convolution (a 1x1 input) and CUDA returned NCHW, so the
    first backward stopped on inductor's stride assertion (torch 2.11 on an H200, with bf16; the kind of mismatch of
    pytorch/pytorch#197517 and #171622). CPU runs may combine them."""
    if compile_mode and channels_last and device_type != "cpu":
        raise ConfigError(f"train.compile={compile_mode} with train.channels_last=true stops on {device_type} in "
                          "PyTorch's inductor (convolution backward strides, pytorch/pytorch#197517); set "
                          "train.channels_last to false or auto, or train.compile to false")


class CompiledOrEager:
    """``module``'s forward through torch.compile; on the first failure, one line and plain (eager) calls from then on.
    Compilation happens on the first call, before anything runs, so a failed attempt leaves no trace in the step."""

    def __init__(self, module: nn.Module, mode: str, name: str):
        self.module, self.mode, self.name = module, mode, name
        self.compiled: Callable | None = None
        try:
            self.compiled = torch.compile(module, mode=mode)
        except Exception as err:  # torch.compile itself refuses on some platforms
            self.give_up(err)

    def give_up(self, err: Exception) -> None:
        reason = (str(err).strip().splitlines() or [""])[0][:160]
        log.warning("train.compile=%s: compiling %s is unavailable here (%s: %s); training continues uncompiled",
                    self.mode, self.name, type(err).__name__, reason)
        self.compiled = None

    def __call__(self, *args, **kwargs):
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as err:  # a backend error surfaces as any exception type, at the first call
                self.give_up(err)
        return self.module(*args, **kwargs)


class MethodRouter(nn.Module):
    """An nn.Module whose ``forward(method, *args)`` calls ``module.method(*args)`` (``forward`` through
    ``compiled`` when given): DistributedDataParallel wraps modules, and only sees the calls that pass its forward."""

    def __init__(self, module: nn.Module, compiled: Callable | None = None):
        super().__init__()
        self.module, self.compiled = module, compiled  # compiled is a plain callable, not a second submodule

    def forward(self, method: str, *args, **kwargs):
        if method == "forward":
            return (self.compiled or self.module)(*args, **kwargs)
        return getattr(self.module, method)(*args, **kwargs)


def as_float32(value: Any) -> Any:
    """Floating tensors (also inside tuples) cast to float32: what leaves a network under autocast."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, tuple):
        return tuple(as_float32(v) for v in value)
    return value


class TrainingView:
    """Stands in for ``module`` in training steps (see the module docstring). ``precision`` is read by penalties that
    take input gradients (loss scaling)."""

    def __init__(self, module: nn.Module, call: Callable, precision: Precision):
        self.module, self.call, self.precision = module, call, precision

    def __call__(self, *args, **kwargs):
        return self.invoke("forward", *args, **kwargs)

    def invoke(self, method: str, *args, **kwargs):
        out = self.call(method, *args, **kwargs)
        return as_float32(out) if self.precision.mixed else out

    def __getattr__(self, name: str):
        attribute = getattr(self.module, name)  # AttributeError when the module has none (e.g. no ``pair``)
        if name in ROUTED:
            return lambda *args, **kwargs: self.invoke(name, *args, **kwargs)
        return attribute


def training_view(module: nn.Module, name: str, precision: Precision, compile_mode: Any = False,
                  data_parallel: Callable[[nn.Module], nn.Module] | None = None) -> nn.Module | TrainingView:
    """``module`` as training steps call it: compiled (``compile_mode``), wrapped by ``data_parallel`` (a function
    module -> DistributedDataParallel module), casting outputs to float32 under mixed precision; ``module`` itself when
    none applies."""
    if not compile_mode and data_parallel is None and not precision.mixed:
        return module
    router = MethodRouter(module, CompiledOrEager(module, compile_mode, name) if compile_mode else None)
    return TrainingView(module, router if data_parallel is None else data_parallel(router), precision)
