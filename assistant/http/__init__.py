"""Neptune as a service: the FastAPI app (REST v1, SSE, WebSocket, OpenAI-compatible endpoint,
the widget and its demo page) and what it needs at start (auth, rate limits, problems)."""
