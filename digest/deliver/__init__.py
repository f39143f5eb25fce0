"""Delivery: the outbox folder, and (see smtp.py) sending to subscribers."""
