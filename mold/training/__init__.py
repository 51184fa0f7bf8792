"""Distillation training: the loop and step, batching, losses, the method losses."""
