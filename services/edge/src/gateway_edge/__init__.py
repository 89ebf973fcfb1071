"""The edge: the gateway's public, OpenAI-compatible HTTP API."""
