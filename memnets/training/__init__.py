"""What a run needs besides the model: the LightningModule, metrics, callbacks, linear start,
the results record, run-level plumbing (run folders, signals, atomic checkpoints) and the run's
memory picture."""
