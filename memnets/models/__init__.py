"""The memory networks behind one interface (base.py): DNC, NTM, MemN2N, EntNet, LSTM."""
