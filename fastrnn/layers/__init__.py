"""Layer implementations; the public names live in ``fastrnn.time_layers``."""
