"""Enrich: the linked resources of a story, article pages and pictures, fetched once and cached."""
