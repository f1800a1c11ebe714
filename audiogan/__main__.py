"""``python -m audiogan``: the command line (also what ``torchrun -m audiogan`` runs)."""

from .cli import app

app(prog_name="audiogan")
