"""Training methods of the one loop: ``method.name`` picks one."""

from __future__ import annotations

from gtaseg.methods.base import Learner, Method, poly_lr_factor
from gtaseg.methods.gta import GTA, TRANSFER_SCOPES, transfer_modules
from gtaseg.methods.mean_teacher import MeanTeacher
from gtaseg.methods.sup_only import SupOnly
from gtaseg.methods.unimatch import UniMatch

METHODS = {"sup_only": SupOnly, "mean_teacher": MeanTeacher, "gta": GTA, "unimatch": UniMatch}

__all__ = ["METHODS", "TRANSFER_SCOPES", "Learner", "Method", "poly_lr_factor", "transfer_modules",
           "GTA", "MeanTeacher", "SupOnly", "UniMatch"]
