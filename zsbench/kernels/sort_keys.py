"""Integer sort keys for floats: torch sorts int64 several times faster than float64 on the CPU (radix sort),
and an integer key can carry a second field in its high bits."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["float_key"]

_INT_OF = {torch.float64: torch.int64, torch.float32: torch.int32}


def float_key(values: Tensor) -> Tensor:
    """int64 keys in the same order as ``values`` (float64 or float32; narrower floats go through float32).

    Equal floats get equal keys: -0.0 becomes +0.0 first. NaNs are not supported. Keys of float32 input lie
    in [0, 2**32), so a second key fits above them: ``(major << 32) | float_key(x)``.
    """
    if values.dtype not in _INT_OF:
        values = values.to(torch.float32)
    signed = _INT_OF[values.dtype]
    bits = (values + 0.0).view(signed)
    # IEEE floats order like sign-magnitude integers: flip the magnitude bits of the negatives.
    magnitude = torch.iinfo(signed).max
    key = torch.where(bits < 0, bits ^ magnitude, bits).to(torch.int64)
    return key if signed == torch.int64 else key + 2**31
