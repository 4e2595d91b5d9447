"""Rich views of results. Nothing here computes attention; it only draws numbers it is given."""
