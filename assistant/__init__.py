"""The strategy editor's AI assistant: any OpenAI-compatible Chat Completions endpoint
(OpenRouter, Ollama, LM Studio, OpenAI, …) configured per user."""
