"""Curate: rank the candidates, drop repeats and same-event stories, place them into the
issue's blocks.
"""
