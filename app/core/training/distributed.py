"""Multi-process training under ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node=N main.py train …`` starts N copies; each joins the process group
(gloo on CPU, NCCL on CUDA), trains on its shard of every epoch and averages gradients. Rank 0
writes the run directory and prints. Ranks agree on stopping at report ticks, and at the end
compare weight checksums so a divergence cannot go unnoticed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(cuda: bool) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        owns = True
    return DistInfo(
        dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), owns
    )


def teardown(info: DistInfo) -> None:
    """Leave the process group together: a rank destroying it while another still talks to it
    aborts that process."""
    if info.owns_group and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any rank (one small all-reduce)."""
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


@torch.no_grad()
def broadcast_state(model: nn.Module) -> None:
    """Give every rank rank 0's weights and buffers."""
    for tensor in model.state_dict().values():
        dist.broadcast(tensor, src=0)


@torch.no_grad()
def replicas_in_sync(model: nn.Module) -> bool:
    """Whether all ranks hold identical parameters (checksums compared exactly)."""
    params = [p.detach().double() for p in model.parameters()]
    local = torch.stack([sum(p.sum() for p in params), sum((p * p).sum() for p in params)])
    gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    return all(torch.equal(g, gathered[0]) for g in gathered)
