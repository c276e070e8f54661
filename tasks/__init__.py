"""Task data modules: every task yields the one :class:`tasks.batch.Batch` schema."""
