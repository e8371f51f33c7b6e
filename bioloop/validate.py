"""Input checks shared by the core: every message names the value and what would be valid."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def real(name: str, value, *, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    """Return ``value`` as a finite float inside ``[lo, hi]``.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (bools are refused too).
    ValueError
        If ``value`` is NaN, infinite or outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")
    _check_range(name, v, lo, hi, lo_open, hi_open)
    return v


def integer(name: str, value, *, lo=None, hi=None) -> int:
    """Return ``value`` as an int inside ``[lo, hi]``; TypeError for non-integers."""
    if isinstance(value, bool) or not isinstance(value, Integral | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    v = int(value)
    _check_range(name, v, lo, hi, False, False)
    return v


def _check_range(name, v, lo, hi, lo_open, hi_open):
    bad_lo = lo is not None and (v <= lo if lo_open else v < lo)
    bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
    if bad_lo or bad_hi:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ValueError(f"{name} = {v:g} is outside the valid range {left}{lo_s}, {hi_s}{right}")


def code_array(name: str, value, *, shape_options: tuple[tuple[int | None, ...], ...]) -> np.ndarray:
    """Return an int8 array of 3-bit codes (0..7) whose shape matches one of ``shape_options``.

    ``None`` in a shape option means any size along that axis.
    """
    arr = np.asarray(value)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            raise TypeError(
                f"{name} must hold integer codes 0..7, got dtype {arr.dtype} (cast with .astype(int))"
            )
        raise TypeError(f"{name} must hold integer codes 0..7, got dtype {arr.dtype}")
    if not any(_shape_matches(arr.shape, opt) for opt in shape_options):
        opts = " or ".join(str(tuple("*" if s is None else s for s in o)) for o in shape_options)
        raise ValueError(f"{name} has shape {arr.shape}; expected {opts}")
    if arr.size and (arr.min() < 0 or arr.max() > 7):
        bad = arr[(arr < 0) | (arr > 7)].ravel()[0]
        raise ValueError(f"{name} holds code {int(bad)}; 3-bit codes must be in 0..7")
    return arr.astype(np.int8)


def _shape_matches(shape, opt) -> bool:
    return len(shape) == len(opt) and all(o is None or o == s for s, o in zip(shape, opt, strict=True))


def bool_array(name: str, value, *, ndim_options: tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a bool array; only bool or 0/1 integer input is accepted."""
    arr = np.asarray(value)
    if arr.dtype != bool:
        if np.issubdtype(arr.dtype, np.integer) and (arr.size == 0 or (arr.min() >= 0 and arr.max() <= 1)):
            arr = arr.astype(bool)
        else:
            raise TypeError(f"{name} must be a bool array (or 0/1 integers), got dtype {arr.dtype}")
    if arr.ndim not in ndim_options:
        raise ValueError(
            f"{name} has {arr.ndim} dimensions (shape {arr.shape}); expected one of {ndim_options}"
        )
    return arr


def choice(name: str, value, options) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(options)}; got {value!r}")
    if value not in options:
        raise ValueError(f"{name} = {value!r} is not valid; choose one of {sorted(options)}")
    return value
