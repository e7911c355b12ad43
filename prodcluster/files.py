"""What each step reads and writes, by the names of settings.FILES and FOLDERS, and the paths they stand for.

Every stage function in stages.py carries its declaration (`@declares(...)`, beside its code).
The freshness check takes a stage's inputs and outputs from it, stage 05 and a review take from
it the files they extend, and a test runs every step and fails on any file it opens in the work
folder that its declaration does not list.
"""
from dataclasses import dataclass
from typing import Callable

from .settings import FILES


@dataclass(frozen=True)
class Of:
    """File `name` of the data set that `data_set(settings)` names; None there: not read with these settings."""

    name: str
    data_set: Callable


@dataclass(frozen=True)
class Declared:
    reads: tuple = ()
    writes: tuple = ()  # the step's own outputs; reading them again (to resume or extend) needs no declaration
    updates: tuple = ()  # lists every step adds its own rows to (rejected.csv): read and written, no step's output
    caches: tuple = ()  # folders every data set shares (converted weights): read and written, never out of date


def declares(reads=(), writes=(), updates=(), caches=()):
    """Attach what the decorated stage function reads and writes, as `function.declared`."""
    def attach(function):
        function.declared = Declared(tuple(reads), tuple(writes), tuple(updates), tuple(caches))
        return function
    return attach


def paths(settings, names):
    """The paths that `names` (of FILES, FOLDERS, or `Of`) stand for; a network file once per backbone."""
    found = []
    for name in names:
        if isinstance(name, Of):
            data_set = name.data_set(settings)
            if data_set is not None:
                found += paths(settings.replace(dataset=data_set), [name.name])
        elif name in FILES and FILES[name][0] == "models":
            found += [part.path(name) for part in settings.parts()]
        else:
            found.append(settings.path(name))
    return found
