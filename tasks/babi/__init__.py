"""The bAbI QA tasks (Weston et al. 2015): parse, encode, source (archive, checksum), batching,
the data module."""
