"""The models a method trains, by role: the one home of their names."""

from __future__ import annotations

import typing
from typing import Literal

Role = Literal["teacher", "student", "assistant"]
ROLES: tuple[str, ...] = typing.get_args(Role)

# The roles each method holds, the student first (every other model starts as its copy).
METHOD_ROLES: dict[str, tuple[str, ...]] = {
    "sup_only": ("student",),
    "mean_teacher": ("student", "teacher"),
    "gta": ("student", "teacher", "assistant"),
    "unimatch": ("student",),  # teacher-free: the student labels its own weak view
}


def stand_in(role: str, held: typing.Iterable[str], every_role: bool = False) -> str:
    """The model that answers for `role` among those a run holds: a method without a teacher
    (sup_only) is evaluated, exported and predicted with by its student. With `every_role` (evaluation
    in training, where one train.eval_models list serves every method) the student answers for any
    role the method lacks."""
    held = tuple(held)
    if role in held:
        return role
    if (role == "teacher" or every_role) and "student" in held:
        return "student"
    raise ValueError(f"no '{role}' model here; it has: {', '.join(held)}")
