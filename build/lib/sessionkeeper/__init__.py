"""sessionkeeper: a durable record of who did what, and for how long."""

__version__ = "0.1.0"
