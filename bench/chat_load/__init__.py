"""The chat-completions load benchmark: load generator, targets, measurement and report."""
