"""Port drivers: each driver's ring code in C beside its Python setup code."""
