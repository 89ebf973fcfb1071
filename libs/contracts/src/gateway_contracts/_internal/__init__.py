"""Helpers of the contracts library that are not part of its public surface."""
