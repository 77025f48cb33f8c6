"""Assemble and run workflows from a validated config; our own ignite handlers."""
