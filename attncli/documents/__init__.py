"""Records -> documents: the JSON layouts (schema, rounding, masks) and the exact shortest numbers."""
