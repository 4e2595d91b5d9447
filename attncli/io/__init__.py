"""I/O that never surprises: bounded reads, atomic writes and spools, closed streams, terminal-safe text."""
