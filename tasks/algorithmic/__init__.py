"""Algorithmic tasks on bit vectors: copy, repeat copy, associative recall, priority sort
(one shared base)."""
