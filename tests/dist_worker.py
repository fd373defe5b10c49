"""Run by tests/test_distributed.py under torchrun: trains, then checks every rank holds the same weights."""

import hashlib
import json
import sys

import torch
import torch.distributed as dist

from gtaseg import distributed
from gtaseg.config import load_config
from gtaseg.engine import fit

torch.set_num_threads(1)
out, overrides = sys.argv[1], sys.argv[2:]
cfg = load_config("demo", overrides)
info = distributed.init("cpu")
method, results = fit(cfg, info)
# Parameters must agree bit for bit. (BatchNorm running statistics are each rank's own between the
# broadcasts from rank 0 at every forward; rank 0's are the ones saved.)
digest = {n: hashlib.sha256(b"".join(p.detach().contiguous().numpy().tobytes() for p in m.parameters())).hexdigest()
          for n, m in method.models.items()}
digests = [digest] * info.world_size
if info.enabled:
    dist.all_gather_object(digests, digest)
if info.is_main:
    with open(out, "w") as f:
        json.dump({"world": info.world_size, "digests": digests, "results": results}, f)
distributed.cleanup(info)
