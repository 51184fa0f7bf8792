"""Models and tokenizers: hub checkpoints for real runs, tiny random-init ones offline."""
