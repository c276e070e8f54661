"""Parameter-free memory maths (DESIGN §4): pure functions with shape docstrings.

- ``content``: content-based addressing C(M, k, β) with pluggable distances.
- ``memory``: erase-and-write and read (shared by the DNC and the NTM).
- ``allocation``: DNC retention, usage and allocation weightings.
- ``linkage``: DNC precedence, temporal link matrix and directional read weightings.
- ``sparse_link``: the DNC's sparse link matrix (top-K, pruned below 1/K), row-sparse storage.
- ``shift``: NTM location addressing: interpolation, circular shift and sharpening.
- ``position_encoding``: MemN2N/EntNet position encoding of the words in a sentence.
"""
