"""The end of a multi-process run (``accelerate launch``): every rank leaves its process group cleanly."""

from __future__ import annotations

import torch.distributed as dist


def end_process_group() -> bool:
    """Destroy the default process group if this process joined one; return whether it did.

    Ranks other than 0 return from the training scripts while rank 0 still evaluates. A rank that exits with
    its gloo (or NCCL) group alive can abort at interpreter exit ("terminate called without an active
    exception", SIGABRT), which fails the whole launch even though training finished.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return False
    dist.destroy_process_group()
    return True
