"""Tokens: the model's output vocabulary and the staff symbols it stands for."""
