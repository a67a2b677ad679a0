"""Pure rules: no I/O, no clock, no randomness that a caller cannot pass in."""
