"""Scoring students: lm-eval task folders, the scoring hook, and the evaluation adapter."""
