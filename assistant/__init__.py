"""Neptune's assistant: runtime, model gateway, channels, HTTP app, CLI, workers."""
