"""Test configuration: float64 everywhere, as the verification targets need it."""

import jax

jax.config.update("jax_enable_x64", True)
