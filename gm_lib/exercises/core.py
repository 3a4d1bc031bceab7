"""What every exercise shares: its record, the check that runs its properties, and the comparison helpers.

An :class:`Exercise` is an ordered list of :class:`Property` tests, from the basic (shape, a known answer)
to the subtle (numerical stability, gradients). :func:`check` runs them on a student's function and stops
at the first that breaks, with that property's hint; the hints name the mistakes students made in the
answers this course grew out of. Every comparison is against the gm_lib reference (never a second copy of
its maths), on inputs drawn from a fixed seed inside :func:`torch.random.fork_rng`, so a check neither
depends on nor moves the notebook's random streams.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "Property",
    "Exercise",
    "CheckResult",
    "ExerciseFailed",
    "ExerciseNotImplemented",
    "EXERCISES",
    "register",
    "run_check",
    "check",
    "Mismatch",
    "close",
    "diagnose",
    "grads",
    "gradient_mismatch",
    "is_scalar",
]

# A property test returns None when it holds, else the hint that says what broke and why.
PropertyTest = Callable[[Callable], "str | None"]


@dataclass(frozen=True)
class Property:
    """One testable claim about an answer, e.g. "returns one value per image, shape (B,)"."""

    name: str
    test: PropertyTest


@dataclass(frozen=True)
class Exercise:
    """An exercise of notebook ``key[:2]``: its check's properties, in the order they are tested.

    Attributes:
        name: the id notebooks pass to :func:`gm_lib.exercises.check`, e.g. ``"mmd_imq"``.
        key: ``"04.1"``: notebook number and position in it.
        title: what the student implements.
        reference: the gm_lib function the answer is compared with.
        properties: the tests, basic first.
    """

    name: str
    key: str
    title: str
    reference: str
    properties: tuple[Property, ...]

    @property
    def label(self) -> str:
        """``"04.1 the unbiased MMD² …"``: key and title, as checks print them."""
        return f"{self.key} {self.title}"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``passed``, and when not, the broken property's ``hint``."""

    exercise: Exercise
    passed: bool
    hint: str = ""
    not_implemented: bool = False

    def __str__(self) -> str:
        if self.passed:
            return f"✓ {self.exercise.label}: all {len(self.exercise.properties)} properties hold"
        return f"✗ {self.exercise.label}: {self.hint}"


class ExerciseFailed(AssertionError):
    """A check found a broken property; ``result`` holds the exercise and hint."""

    def __init__(self, result: CheckResult):
        super().__init__(str(result))
        self.result = result


class ExerciseNotImplemented(NotImplementedError):
    """The answer still raises ``NotImplementedError`` (the student version's placeholder)."""

    def __init__(self, result: CheckResult):
        super().__init__(str(result))
        self.result = result


class Mismatch(Exception):
    """Raised inside a property test to report a hint (equivalent to returning it)."""


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add ``exercise`` to :data:`EXERCISES` (names are unique)."""
    if exercise.name in EXERCISES:
        raise ValueError(f"exercise {exercise.name!r} registered twice")
    EXERCISES[exercise.name] = exercise
    return exercise


def run_check(exercise: Exercise, answer: Callable, seed: int = 0) -> CheckResult:
    """Test ``answer`` against every property of ``exercise``, in order; the first broken one decides.

    Runs inside ``torch.random.fork_rng`` with ``torch.manual_seed(seed)``: the caller's global RNG state is
    the same afterwards, whatever the answer draws. Never raises for a wrong answer: an exception the answer
    raises becomes the hint (``NotImplementedError`` marks the result ``not_implemented``).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for prop in exercise.properties:
            try:
                hint = prop.test(answer)
            except NotImplementedError:
                hint = (f"not answered yet (NotImplementedError): replace `raise NotImplementedError()` in exercise "
                        f"{exercise.key} ({exercise.title}) with your answer")
                return CheckResult(exercise, False, hint, not_implemented=True)
            except Mismatch as mismatch:
                hint = str(mismatch)
            except Exception as error:  # a crash is a failed property too, with the error as its hint
                hint = f"raised {type(error).__name__}: {error}"
            if hint:
                return CheckResult(exercise, False, f"{prop.name}: {hint}")
    return CheckResult(exercise, True)


# ---------------------------------------------------------------- helpers for property tests


def close(a, b, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Same shape and values within tolerance (tensors, arrays or numbers; NaN never equals)."""
    a = torch.as_tensor(a).detach().double().cpu()
    b = torch.as_tensor(b).detach().double().cpu()
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def diagnose(value, reference, known: Mapping[str, object], what: str, rtol: float = 1e-4,
             atol: float = 1e-5) -> str | None:
    """None if ``value`` matches ``reference``; else the hint of the first known wrong answer it equals,
    else a generic hint naming the largest difference and ``what`` was compared."""
    if close(value, reference, rtol, atol):
        return None
    for hint, wrong in known.items():
        if close(value, wrong, rtol, atol):
            return hint
    value_t, ref_t = torch.as_tensor(value).detach().double(), torch.as_tensor(reference).detach().double()
    if value_t.shape != ref_t.shape:
        return f"shape {tuple(value_t.shape)} where {what} has {tuple(ref_t.shape)}"
    diff = (value_t - ref_t).abs().max().item()
    return f"values differ from {what} by up to {diff:.4g} (yours {_short(value_t)}, reference {_short(ref_t)})"


def _short(t: Tensor) -> str:
    flat = t.flatten()
    shown = ", ".join(f"{v:.4g}" for v in flat[:3].tolist())
    return f"[{shown}{', …' if len(flat) > 3 else ''}]" if t.dim() else f"{t.item():.6g}"


def grads(output: Tensor, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Gradients of ``output.sum()`` w.r.t. ``inputs`` (zeros where an input is not used); raises
    :class:`Mismatch` when ``output`` has no graph at all."""
    if not isinstance(output, Tensor) or not output.requires_grad:
        raise Mismatch("the result carries no gradient: build it from the inputs with torch operations "
                       "(no .item(), .numpy(), .detach() or torch.no_grad())")
    found = torch.autograd.grad(output.sum(), inputs, allow_unused=True)
    return tuple(torch.zeros_like(i) if g is None else g for g, i in zip(found, inputs, strict=True))


def gradient_mismatch(answer: Callable, reference: Callable, inputs: tuple[Tensor, ...],
                      names: tuple[str, ...] | None = None, rtol: float = 1e-3, atol: float = 1e-5) -> str | None:
    """The hint when ``answer(*inputs)``'s gradients w.r.t. ``inputs`` differ from ``reference(*inputs)``'s, else None.

    ``names`` names each input in the hint ("the gradient w.r.t. mu does not"); without them the hint is general.
    """
    mine, ref = grads(answer(*inputs), inputs), grads(reference(*inputs), inputs)
    for i, (a, b) in enumerate(zip(mine, ref, strict=True)):
        if not close(a, b, rtol=rtol, atol=atol):
            what = f"the gradient w.r.t. {names[i]} does" if names else "the gradients do"
            return f"the values match but {what} not: is part of it detached?"
    return None


def is_scalar(value) -> bool:
    """A 0-dim tensor (what a loss returns)."""
    return isinstance(value, Tensor) and value.dim() == 0


def check(name: str, answer: Callable) -> None:
    """Check ``answer`` for exercise ``name`` (a key of :data:`EXERCISES`) and print the verdict.

    Seconds at most; the caller's random streams are left as they were (see :func:`run_check`).

    Raises:
        ExerciseNotImplemented: the answer still raises ``NotImplementedError`` (message names the exercise).
        ExerciseFailed: a property broke (an ``AssertionError`` whose message names it, with the hint).
        KeyError: unknown exercise name.
    """
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; exercises: {sorted(EXERCISES)}")
    result = run_check(EXERCISES[name], answer)
    if result.not_implemented:
        raise ExerciseNotImplemented(result)
    if not result.passed:
        raise ExerciseFailed(result)
    print(result)
