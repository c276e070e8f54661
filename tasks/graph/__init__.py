"""Graph tasks of the DNC paper (Graves et al., Nature 2016, Methods "Graph tasks")."""
