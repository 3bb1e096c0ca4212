"""Tuning: the improvement loop that carries a fix from evidence to production."""
