"""What a config field accepts, as data: the rules the config schema (wgangp.objectives.schema), an objective's
annotated constructor arguments and the entry points' checks (wgangp.config_checks) state and test values against.

    gp_weight: Annotated[float, NON_NEGATIVE] = 10.0      # an objective's field, with its range
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from omegaconf import ListConfig

UINT32_MAX = 2**32 - 1  # numpy/Lightning seeds are uint32


@dataclass(frozen=True)
class Rule:
    """What a field accepts: an integer or a finite number in [lo, hi] (bounds open where said),
    one of `choices`, or a list of `length` such numbers; `nullable` also accepts null."""

    kind: str = "int"  # "int" | "number" | "choice" | "numbers" | "bool"
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    nullable: bool = False
    choices: tuple = ()
    length: int | None = None
    note: str = ""

    def describe(self) -> str:
        if self.kind == "choice":
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.kind == "bool":
            text = "true or false"
        else:
            what = {"int": "an integer", "number": "a finite number"}.get(
                self.kind, f"a list of {self.length or 'one or more'} finite numbers"
            )
            lo, hi = _bound(self.lo), _bound(self.hi)
            bounds = []
            if lo is not None and hi is not None:
                bounds.append(f"in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}")
            elif lo is not None:
                bounds.append(f"{'>' if self.lo_open else '>='} {lo}")
            elif hi is not None:
                bounds.append(f"{'<' if self.hi_open else '<='} {hi}")
            text = " ".join([what, *bounds])
        if self.nullable:
            text += " or null"
        return text + (f" ({self.note})" if self.note else "")

    def _in_range(self, x: float) -> bool:
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            return False
        return not (self.hi is not None and (x > self.hi or (self.hi_open and x == self.hi)))

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return value in self.choices and not isinstance(value, bool)
        if self.kind == "numbers":
            return (
                isinstance(value, (list, tuple, ListConfig))
                and (len(value) == self.length if self.length else len(value) > 0)
                and all(is_number(v) and math.isfinite(v) and self._in_range(v) for v in value)
            )
        if not is_number(value) or not math.isfinite(value):
            return False
        # an integral float (generator_iters=1e5) is an integer; 1.5 is not
        return (self.kind != "int" or float(value).is_integer()) and self._in_range(value)


def _bound(x: float | None) -> str | None:
    return None if x is None else str(int(x)) if float(x).is_integer() else f"{x:g}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def count(lo: int = 1, **kw) -> Rule:
    return Rule("int", lo=lo, **kw)


def number(lo: float | None = None, **kw) -> Rule:
    return Rule("number", lo=lo, **kw)


SEED = count(0, hi=UINT32_MAX)
POSITIVE = number(0, lo_open=True)
NON_NEGATIVE = number(0)
FRACTION = number(0, hi=1, hi_open=True)
INTERVAL = count(0, note="in generator iterations; 0 disables it")
FLAG = Rule("bool")
EMA_CHOICE = Rule("bool", nullable=True, note="null: the weight average when the checkpoint has one")
