"""One module per command; each is a thin layer over the core (config, engine, result, render)."""
