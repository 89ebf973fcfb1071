"""Sessions: conversation history kept server-side."""
