"""Running the train stage on several processes with ``accelerate launch``, chosen by ``train.num_processes``.

``kwanzaa-hub train`` with ``num_processes: 1`` (and no ``accelerate_config``) trains in its own process.
Otherwise it re-runs itself under ``accelerate launch`` (DDP; FSDP or DeepSpeed through an accelerate
config file), and every process runs the same ``train.run``: the Trainer shards the batches, and only
process zero writes the adapter, the report, DVCLive files and the checkpoint mirror. No code fork.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kwanzaa_hub.config.params import Params


def under_launcher() -> bool:
    """True inside a process started by ``accelerate launch`` / ``torchrun``."""
    return "LOCAL_RANK" in os.environ or "ACCELERATE_LAUNCH_PROCESS" in os.environ


def launch_command(params: Params, params_path: str | Path) -> list[str] | None:
    """The ``accelerate launch`` command line for this run, or None to train in this process."""
    t = params.train
    if under_launcher() or (t.num_processes == 1 and not t.accelerate_config):
        return None
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(t.num_processes)]
    if t.accelerate_config:
        cmd += ["--config_file", t.accelerate_config]
    else:
        # --multi_gpu is accelerate's DDP launcher (torchrun); on machines without CUDA the processes
        # fall back to the CPU and torch.distributed's gloo backend.
        cmd += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return cmd + ["-m", "kwanzaa_hub.cli.app", "train", "--params", str(params_path)]


def leave_process_group() -> None:
    """End this process's part of a distributed run: wait for every rank, then destroy the process group, so no rank
    exits while gloo's threads still run (seen as "terminate called without an active exception", SIGABRT, on a rank
    that finished before rank zero had written the adapter). Nothing to do in a single process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def is_main_process() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0
