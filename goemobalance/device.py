"""Where a torch model runs and in which autocast precision: one resolver for the labelers and training.

The options use one vocabulary everywhere (`TrainConfig.device` / `.amp`, `TransformerLabeler(device=,
amp=)`, ``goemobalance label --device/--amp``):

``device``
    ``"auto"`` (CUDA when available, else CPU) or anything `torch.device` accepts (``"cpu"``, ``"cuda:1"``).
``amp``
    ``"auto"`` (bf16 autocast on CUDA, fp16 where the GPU lacks bf16; off on CPU), ``"bf16"``, ``"fp16"``
    or ``"off"`` (full float32). ``"bf16"`` on a CPU without native bfloat16 warns: it is emulated there,
    several times slower than float32.
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING

from goemobalance.errors import InputError

if TYPE_CHECKING:
    import torch

AMP_MODES = ("auto", "bf16", "fp16", "off")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for a device option.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else CPU) or anything `torch.device` accepts.

    Returns
    -------
    torch.device
    """
    import torch

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast_dtype(device: torch.device, amp: str) -> torch.dtype | None:
    """The dtype to autocast to on `device` for an AMP option, or None for full precision.

    Parameters
    ----------
    device : torch.device
        Where the model runs (``"auto"`` turns autocast on only on CUDA).
    amp : str
        One of `AMP_MODES`: ``"auto"``, ``"bf16"``, ``"fp16"``, ``"off"``.

    Returns
    -------
    torch.dtype or None
        ``torch.bfloat16``, ``torch.float16``, or None (no autocast).

    Raises
    ------
    InputError
        For an option outside `AMP_MODES`.
    """
    import torch

    if amp not in AMP_MODES:
        raise InputError(f"amp = {amp!r}; use one of {', '.join(AMP_MODES)}")
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "bf16" and device.type == "cpu" and not cpu_runs_bf16_natively():
        _warn_emulated_bf16()
    return torch.bfloat16 if amp == "bf16" else torch.float16


@functools.cache
def _warn_emulated_bf16() -> None:
    """Once per process: bf16 autocast asked for on a CPU that only emulates it."""
    warnings.warn(
        "amp = 'bf16' on a CPU without native bfloat16 (no AVX512-BF16/AMX): autocast is emulated and "
        "7-10x slower per training step than amp = 'off' on an AVX2 CPU (docs/benchmarks.md)",
        RuntimeWarning,
        stacklevel=3,
    )


@functools.cache
def cpu_runs_bf16_natively() -> bool:
    """Whether this CPU computes bfloat16 in hardware, as oneDNN reports it (AVX512-BF16, AMX).

    Without it, bf16 autocast on the CPU is emulated: it saves memory but costs time.

    Returns
    -------
    bool
        oneDNN's answer; True where this torch build cannot tell.
    """
    import torch

    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return True if check is None else bool(check())
    except RuntimeError:
        return True


__all__ = ["AMP_MODES", "autocast_dtype", "cpu_runs_bf16_natively", "resolve_device"]
