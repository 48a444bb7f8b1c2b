"""`vswitch tui`: the Textual terminal UI (app.py), fed by the control socket (source.py)."""
