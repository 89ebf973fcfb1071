"""A provider emulator that answers in each provider's documented wire format."""

from provider_emulator.app import create_app

__all__ = ["create_app"]
