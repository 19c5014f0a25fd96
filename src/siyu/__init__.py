"""siyu (私域): an open-source private-domain growth engine."""

__version__ = "0.1.0"
