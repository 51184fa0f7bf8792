"""Attention-target extraction: the white-box teacher's stepwise attention on critical words."""
