"""Teacher stage: few-shot prompts, rationale generation, parsing and filtering (paper §3.1)."""
