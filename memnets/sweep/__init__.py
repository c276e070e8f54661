"""The local runner for the W&B sweep files in ``sweeps/`` (``sweeps/<task>_<model>_<purpose>.yaml``).

``wandb sweep sweeps/<file>.yaml`` + ``wandb agent`` runs a file on W&B; ``python -m memnets.sweep
sweeps/<file>.yaml`` runs the same file here with no server (:mod:`memnets.sweep.runner`), and
``python -m memnets.sweep --validate`` checks every file against the configs
(:mod:`memnets.sweep.validate`). The runner lives here, not in a top-level ``sweeps`` package,
because such a package would shadow W&B's own ``sweeps`` (its local sweep controller imports it).
"""
