"""Teacher stage: few-shot prompts, rationale generation, parsing and filtering (SPEC §3)."""
