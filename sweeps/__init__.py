"""W&B sweep files (``sweeps/<task>_<model>_<purpose>.yaml``) and a local runner for them.

``wandb sweep sweeps/<file>.yaml`` + ``wandb agent`` runs a file on W&B; ``python -m sweeps
sweeps/<file>.yaml`` runs the same file here with no server (:mod:`sweeps.runner`), and
``python -m sweeps --validate`` checks every file against the configs (:mod:`sweeps.validate`).
"""
