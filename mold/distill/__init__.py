"""Distillation: sequence encoding, losses, the method registry and the stage driver."""
