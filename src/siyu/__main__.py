"""`python -m siyu` runs the CLI."""

from siyu.cli import app

app(prog_name="siyu")
