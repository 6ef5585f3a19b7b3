"""Library messages that tell a person running kwanzaa-hub nothing they can act on, silenced narrowly: one message
or one logger each, with why. A warning whose cause is in this package is fixed there instead (transformers 5's
argument names in :func:`kwanzaa_hub.runtime.qlora.sft_config`)."""

from __future__ import annotations

import logging
import warnings

#: bitsandbytes' CPU backend: on import (on a CPU with AVX512-BF16) it fetches an optional ``gemm_4bit_forward``
#: kernel from the Hub and, offline or without the ``kernels`` package, logs "Failed to load CPU gemm_4bit_forward
#: ... kernels" and uses its own code: nothing is lost. That warning is the only one this logger writes.
BNB_KERNEL_LOGGER = "bitsandbytes.backends.cpu.ops"

#: peft (0.21) calls transformers 5's deprecated checkpointing aliases itself (``PeftModel`` reads
#: ``is_gradient_checkpointing``, ``prepare_model_for_kbit_training`` calls ``gradient_checkpointing_enable``):
#: three FutureWarnings on every run that no setting of ours can avoid.
PEFT_ALIAS_WARNING = r"`(is_gradient_checkpointing|gradient_checkpointing_enable)` is deprecated"


def quiet_libraries() -> None:
    """Silence the messages above for this process (every ``kwanzaa-hub`` command calls it first); warnings
    raised anywhere else, and every error, still reach the console."""
    logging.getLogger(BNB_KERNEL_LOGGER).setLevel(logging.ERROR)
    warnings.filterwarnings(
        "ignore", message=PEFT_ALIAS_WARNING, category=FutureWarning, module=r"transformers\.modeling_utils"
    )
