"""Collect: fetch the feeds (conditional GET, host limits), parse them into Articles, clean
their text.
"""
