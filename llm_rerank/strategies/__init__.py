"""The LLM reranking strategies, one module each."""
