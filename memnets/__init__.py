"""memnets: memory-augmented neural networks behind one interface (see DESIGN.md §3)."""
