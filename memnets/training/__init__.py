"""What a run needs besides the model: the LightningModule, metrics, callbacks, linear start,
the results record, run-level plumbing and the run's memory picture."""
